"""Audit entries of clinical changes written before 2026-12-07 kept the values themselves (a delivery's
birth times, outcome, mode, weight and Apgar scores; the LEMMoN criteria; how care ended; the free-text
reason). This migration moves those values into the client's record and leaves the audit entry in the shape
the application writes today: the names of the fields that changed and the revision that keeps them.

For each such entry of `delivery.record`, `delivery.correct`, `delivery.void`, `episode.severe_morbidity` and
`episode.end_correct` it writes a `ClinicalRevision` (the entry's episode, actor, name and e-mail at the time
and its moment; the values before and after; the reason) and rewrites the entry's details to `fields`,
`revision` and the keys that hold no clinical value (the care event ids). `partial_decision.record` gets no
revision: the end reason and the reason it held are kept on the PartialDecision itself; they are dropped from
the entry. Each IGO whose entries were rewritten gets one audit entry `audit.scrub_clinical` with the count
per action and the ids of the rows rewritten.

The audit table refuses UPDATE through its append-only trigger (PostgreSQL only: igo/migrations/0002; SQLite
has no trigger). The trigger is switched off for the UPDATE of these rows only, inside this migration's
transaction (ALTER TABLE holds an exclusive lock on the table meanwhile, so no other session writes to it),
and switched on again before the transaction commits; a failure rolls all of it back, the trigger included.

Idempotent: an entry is rewritten only while it still holds one of the value keys, so a second run finds
nothing and writes nothing. Reversing it is a no-op: the revisions and the rewritten entries stay (the values
are not put back in the audit trail), and the schema is the same as at 0013.

The field names are computed by a copy of `pregnancies.services.changed_fields` as it was on 2026-12-07, kept
here so a later change of that function does not change what this migration did.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from django.apps.registry import Apps
from django.db import migrations
from django.db.backends.base.schema import BaseDatabaseSchemaEditor

# Where the old entries kept values (a delivery's children were inside `before` and `after`).
VALUE_KEYS = ("before", "after", "reason", "end_reason")
REVISION_KIND = {
    "delivery.record": "delivery",
    "delivery.correct": "delivery",
    "delivery.void": "delivery",
    "episode.severe_morbidity": "severe_morbidity",
    "episode.end_correct": "end",
}
ACTIONS = (*REVISION_KIND, "partial_decision.record")
# Keys of a partial decision's entry that hold no clinical value (how care ended and why: on the decision).
PARTIAL_KEPT = ("episode", "phase", "choice", "percentage", "supersedes")
BOOKKEEPING_KEYS = frozenset({"event", "child"})
# What a delivery's snapshot holds that a void clears (pregnancies.delivery._snapshot after delivery_void).
VOID_CLEARED = ("labour_started_at", "placenta_at", "placenta_plus_2h_at", "place", "line")
TABLE = "igo_auditentry"
TRIGGER = "igo_auditentry_append_only"


def changed_fields(before: Any, after: Any, prefix: str = "") -> list[str]:
    if isinstance(before, dict) or isinstance(after, dict):
        old, new = before or {}, after or {}
        names: list[str] = []
        for key in sorted(set(old) | set(new), key=str):
            if key in BOOKKEEPING_KEYS:
                continue
            name = f"{prefix}{key}"
            if key == "children":
                by_number = (
                    {c.get("child"): c for c in old.get(key) or []},
                    {c.get("child"): c for c in new.get(key) or []},
                )
                for number in sorted(set(by_number[0]) | set(by_number[1]), key=str):
                    names += changed_fields(
                        by_number[0].get(number), by_number[1].get(number), f"{name}.{number}."
                    )
            elif old.get(key) != new.get(key):
                names.append(name)
        return names
    return [] if before == after else [prefix.rstrip(".") or "value"]


def _event(state: Any) -> Any:
    return state.get("event") if isinstance(state, dict) else None


def _revision_values(action: str, details: dict[str, Any]) -> tuple[Any, Any, str]:
    """(before, after, reason) of the revision an old entry's values make, as the code of today records them."""
    before, after = details.get("before"), details.get("after")
    reason = details.get("reason") or ""
    if action == "episode.severe_morbidity":  # the criteria themselves, under their field's name
        return {"severe_morbidity": before}, {"severe_morbidity": after}, reason
    if action == "delivery.void" and isinstance(before, dict) and after is None:
        # What the delivery's snapshot is after the void: its dates, place, line and children cleared.
        after = {**before, **dict.fromkeys(VOID_CLEARED), "children": []}
    return before, after, str(reason)


def _new_details(action: str, details: dict[str, Any], revision: Any) -> dict[str, Any]:
    if action == "partial_decision.record":
        return {key: details[key] for key in PARTIAL_KEPT if key in details}
    new: dict[str, Any] = {"fields": revision.fields, "revision": revision.pk}
    before, after = details.get("before"), details.get("after")
    if action == "delivery.record":
        new["event"] = _event(after)
    elif action == "delivery.correct":
        new["event"] = _event(after)
        new["supersedes"] = _event(before)
    elif action == "delivery.void":
        new["event"] = _event(before)
    # Keys the old entry held besides the values (none were written; kept should there be any).
    for key, value in details.items():
        if key not in VALUE_KEYS and key not in new:
            new[key] = value
    return new


def scrub(apps: Apps, connection: Any) -> dict[int | None, dict[str, Any]]:
    """Rewrite every audit entry of a clinical change that still holds values; returns, per tenant id, the
    count per action and the ids rewritten. Runs inside the caller's transaction."""
    AuditEntry = apps.get_model("igo", "AuditEntry")
    Episode = apps.get_model("pregnancies", "Episode")
    ClinicalRevision = apps.get_model("pregnancies", "ClinicalRevision")

    old = list(
        AuditEntry.objects.filter(action__in=ACTIONS, details__has_any_keys=list(VALUE_KEYS))
        .select_for_update()
        .order_by("at", "pk")
    )
    episodes = {
        str(e.pk): e
        for e in Episode.objects.filter(
            pk__in=[
                int(entry.object_id)
                for entry in old
                if entry.object_type == "pregnancies.episode" and entry.object_id.isdigit()
            ]
        )
    }
    rewrites: list[tuple[Any, dict[str, Any]]] = []
    skipped: list[int] = []
    for entry in old:
        details = entry.details if isinstance(entry.details, dict) else {}
        if entry.action == "partial_decision.record":
            rewrites.append((entry, _new_details(entry.action, details, None)))
            continue
        episode = episodes.get(entry.object_id) if entry.object_type == "pregnancies.episode" else None
        if episode is None or entry.actor_id is None:
            skipped.append(entry.pk)  # no record or no author to keep the values with: left as it was
            continue
        before, after, reason = _revision_values(entry.action, details)
        revision = ClinicalRevision.objects.create(
            tenant_id=episode.tenant_id,
            episode_id=episode.pk,
            kind=REVISION_KIND[entry.action],
            changed_at=entry.at,
            changed_by_id=entry.actor_id,
            changed_by_name=entry.actor_name,
            changed_by_email=entry.actor_email,
            reason=reason,
            fields=changed_fields(before, after),
            before=before,
            after=after,
        )
        rewrites.append((entry, _new_details(entry.action, details, revision)))

    summary: dict[int | None, dict[str, Any]] = defaultdict(
        lambda: {"counts": defaultdict(int), "entries": [], "left": []}
    )
    if rewrites:
        postgresql = connection.vendor == "postgresql"
        with connection.cursor() as cursor:
            if postgresql:
                # Deferred foreign-key checks still pending in this transaction would make ALTER TABLE fail.
                cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
                cursor.execute(f"ALTER TABLE {TABLE} DISABLE TRIGGER {TRIGGER}")
            for entry, details in rewrites:
                AuditEntry.objects.filter(pk=entry.pk).update(details=details)
            if postgresql:
                cursor.execute(f"ALTER TABLE {TABLE} ENABLE TRIGGER {TRIGGER}")
                cursor.execute("SET CONSTRAINTS ALL DEFERRED")
    for entry, _details in rewrites:
        summary[entry.tenant_id]["counts"][entry.action] += 1
        summary[entry.tenant_id]["entries"].append(entry.pk)
    for entry in old:
        # Reported with the IGO's other rows; an IGO with only such rows gets no entry (a second run would
        # write it again): the audit page and the admin still hide their values (igo/describe.py).
        if entry.pk in skipped and entry.tenant_id in summary:
            summary[entry.tenant_id]["left"].append(entry.pk)

    for tenant_id, done in summary.items():
        AuditEntry.objects.create(
            tenant_id=tenant_id,
            actor=None,
            action="audit.scrub_clinical",
            details={
                "migration": "pregnancies.0014_audit_scrub_clinical",
                "rows": len(done["entries"]),
                "counts": dict(sorted(done["counts"].items())),
                "entries": done["entries"],
                **({"left": done["left"]} if done["left"] else {}),
            },
        )
    return dict(summary)


def forwards(apps: Apps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    scrub(apps, schema_editor.connection)


class Migration(migrations.Migration):
    dependencies = [
        ("igo", "0008_key_revoked_because"),
        ("pregnancies", "0013_clinical_revision"),
    ]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
