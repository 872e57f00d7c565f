"""BSNs an import names that are no client of the IGO ("misses"), and the limit on them (docs/fhir.md, "What a
member key learns").

The answer to an import tells its sender whether each BSN it names is a client of this IGO. A hit is
written to the access log under the member's system user (importing.log_read); a miss has no client to log
against, so each miss is an audit entry of its own (`fhir_import.bsn_miss`, igo.models.AuditEntry: append-only)
with the IGO, the sending user (the member's system user, or the administrator who uploads a CSV file), the
key (as the entry's object; for a CSV file the member organisation) and the BSN as a keyed pseudonym, never in
clear.

A member key whose misses pass FHIR_IMPORT_MISS_LIMIT distinct BSNs within FHIR_IMPORT_MISS_WINDOW_HOURS is
blocked: the import that passes the limit is answered 403 without saying which BSNs missed, and every later
import of the key is refused (403) until an IGO administrator resets it (`member_key_misses_reset`). Misses
are counted once per import (one INSERT of its misses, one COUNT of the key's misses in the window), never
per entry.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import CharField, Count, IntegerField, Max, OuterRef, QuerySet, Subquery, Value
from django.db.models.fields.json import KT
from django.db.models.functions import Cast, Coalesce, Greatest
from django.utils import timezone
from django.utils.crypto import salted_hmac
from django.utils.translation import gettext as _

from fhir_io.models import MemberApiKey
from igo.models import AuditEntry, Tenant, User
from igo.services import audit_record
from providers.models import MemberOrganisation

MISS = "fhir_import.bsn_miss"
BLOCK = "member_key.block"
RESET = "member_key.misses_reset"
KEY_TYPE = MemberApiKey._meta.label_lower  # the audit entry's object_type of a key's miss
SOURCES = ("bundle", "ndjson", "csv")


def miss_limit() -> int:
    return int(settings.FHIR_IMPORT_MISS_LIMIT)


def miss_window() -> timedelta:
    return timedelta(hours=int(settings.FHIR_IMPORT_MISS_WINDOW_HOURS))


def bsn_pseudonym(tenant_id: int, bsn: str) -> str:
    """A keyed hash of IGO and BSN with the platform's secret key (as the registry export's client pseudonym):
    the same BSN missed twice in one IGO is the same pseudonym, in another IGO a different one; without the
    secret key it cannot be turned back into the BSN, not even by trying every valid BSN."""
    return salted_hmac("igo.fhir.bsn-miss", f"{tenant_id}:{bsn}", algorithm="sha256").hexdigest()[:32]


def counted_since(key: MemberApiKey, now: datetime) -> datetime:
    """The start of what counts against the key: the window, or the administrator's last reset if later."""
    start = now - miss_window()
    reset = key.misses_reset_at
    return reset if reset is not None and reset > start else start


def _key_misses(tenant_id: int) -> QuerySet[AuditEntry]:
    return AuditEntry.objects.filter(tenant_id=tenant_id, action=MISS, object_type=KEY_TYPE)


def misses_counted(key: MemberApiKey, now: datetime | None = None) -> int:
    """The distinct BSNs the key missed since counted_since (a BSN sent again is no new probe): one query."""
    now = now or timezone.now()
    found = (
        _key_misses(key.tenant_id)
        .filter(object_id=str(key.pk), at__gte=counted_since(key, now))
        .aggregate(n=Count(KT("details__bsn"), distinct=True))
    )
    return int(found["n"] or 0)


def blocked_text() -> str:
    return _(
        "This key sent too many BSNs that are no client of this IGO and is blocked; nothing was stored. "
        "Ask the IGO's administrator to look into it and unblock the key."
    )


def _entries(
    *,
    tenant_id: int,
    actor: User,
    obj: Any,
    organisation: MemberOrganisation,
    bsns: Iterable[str],
    source: str,
    job: int | None,
    now: datetime,
) -> list[AuditEntry]:
    details: dict[str, Any] = {"organisation": organisation.pk, "source": source}
    if job is not None:
        details["job"] = job
    return [
        AuditEntry(
            tenant_id=tenant_id,
            actor=actor,
            action=MISS,
            object_type=obj._meta.label_lower,
            object_id=str(obj.pk),
            details={"bsn": bsn_pseudonym(tenant_id, bsn), **details},
            at=now,
        )
        for bsn in sorted(set(bsns))
    ]


def misses_record(
    *, key: MemberApiKey, bsns: Iterable[str], source: str = "bundle", job: int | None = None
) -> bool:
    """Record an import's misses (each distinct BSN once) for the key and its member's system user; True when
    the key is blocked (it was, or these misses take it past the limit, which blocks it now). Under a lock
    of the key's row, so that two imports at once cannot both pass under the limit."""
    bsns = set(bsns)
    if not bsns:
        return key.blocked_at is not None
    now = timezone.now()
    with transaction.atomic():
        locked = MemberApiKey.unscoped.select_for_update().get(pk=key.pk)
        AuditEntry.objects.bulk_create(
            _entries(
                tenant_id=key.tenant_id,
                actor=key.account.user,
                obj=key,
                organisation=key.account.organisation,
                bsns=bsns,
                source=source,
                job=job,
                now=now,
            ),
            batch_size=2000,
        )
        if locked.blocked_at is None:
            counted = misses_counted(locked, now)
            if counted > miss_limit():
                locked.blocked_at = now
                locked.save(update_fields=["blocked_at"])
                audit_record(
                    actor=None,
                    tenant=key.tenant,
                    action=BLOCK,
                    obj=locked,
                    prefix=locked.prefix,
                    organisation=key.account.organisation.agb_code,
                    misses=counted,
                    limit=miss_limit(),
                    hours=int(settings.FHIR_IMPORT_MISS_WINDOW_HOURS),
                )
        key.blocked_at = locked.blocked_at
    return key.blocked_at is not None


def csv_misses_record(
    *, tenant: Tenant, actor: User, organisation: MemberOrganisation, bsns: Iterable[str]
) -> int:
    """Record a CSV file's misses for the administrator who uploads it, on the member organisation (no key:
    no limit; the administrator may look clients up anyway). Returns the number recorded."""
    rows = _entries(
        tenant_id=tenant.pk,
        actor=actor,
        obj=organisation,
        organisation=organisation,
        bsns=bsns,
        source="csv",
        job=None,
        now=timezone.now(),
    )
    AuditEntry.objects.bulk_create(rows, batch_size=2000)
    return len(rows)


@transaction.atomic
def member_key_misses_reset(*, tenant: Tenant, key: MemberApiKey, actor: User) -> MemberApiKey:
    """The administrator has looked into the key's misses: unblock it and count its misses from now on (the
    misses stay in the audit log)."""
    locked = MemberApiKey.unscoped.select_for_update().get(pk=key.pk, tenant=tenant)
    if not locked.is_usable():
        raise ValidationError(_("This key no longer works; there is nothing to reset."))
    now = timezone.now()
    was_blocked = locked.blocked_at
    counted = misses_counted(locked, now)
    locked.blocked_at, locked.misses_reset_at = None, now
    locked.save(update_fields=["blocked_at", "misses_reset_at"])
    audit_record(
        actor=actor,
        tenant=tenant,
        action=RESET,
        obj=locked,
        prefix=locked.prefix,
        misses=counted,
        blocked_at=was_blocked.isoformat() if was_blocked else None,
    )
    return locked


@dataclass
class MissEntry:
    at: datetime
    key: MemberApiKey | None
    organisation: MemberOrganisation | None
    actor: str
    source: str
    bsn: str
    job: int | None


def keys_with_misses(tenant: Tenant, now: datetime | None = None) -> list[MemberApiKey]:
    """The IGO's keys that ever missed or are blocked, each with `misses_now` (distinct BSNs counted against
    the limit now), `misses_total` (all recorded) and `last_miss`: one query (tenant in scope)."""
    now = now or timezone.now()
    start = now - miss_window()
    of_key = _key_misses(tenant.pk).filter(object_id=Cast(OuterRef("pk"), CharField())).order_by()
    since = Greatest(Value(start), Coalesce(OuterRef("misses_reset_at"), Value(start)))
    counted = (
        of_key.filter(at__gte=since)
        .values("object_id")
        .annotate(n=Count(KT("details__bsn"), distinct=True))
        .values("n")
    )
    total = of_key.values("object_id").annotate(n=Count("pk")).values("n")
    last = of_key.values("object_id").annotate(m=Max("at")).values("m")
    keys = (
        MemberApiKey.objects.select_related("account__organisation")
        .annotate(
            misses_now=Coalesce(Subquery(counted, output_field=IntegerField()), 0),
            misses_total=Coalesce(Subquery(total, output_field=IntegerField()), 0),
            last_miss=Subquery(last),
        )
        .order_by("-blocked_at", "-last_miss", "name")
    )
    return [k for k in keys if k.misses_total or k.blocked_at]


def recent_misses(tenant: Tenant, keys: Iterable[MemberApiKey], limit: int = 100) -> list[MissEntry]:
    """The IGO's latest misses (all sources), newest first, each with its key (or, for a CSV file, the
    member organisation)."""
    by_pk = {str(k.pk): k for k in keys}
    members = {m.pk: m for m in MemberOrganisation.objects.all()}
    rows = AuditEntry.objects.filter(tenant=tenant, action=MISS).order_by("-at", "-pk")[:limit]
    out: list[MissEntry] = []
    for row in rows:
        key = by_pk.get(row.object_id) if row.object_type == KEY_TYPE else None
        organisation = members.get(row.details.get("organisation"))
        out.append(
            MissEntry(
                at=row.at,
                key=key,
                organisation=organisation,
                actor=row.actor_label,
                source=str(row.details.get("source", "")),
                bsn=str(row.details.get("bsn", "")),
                job=row.details.get("job"),
            )
        )
    return out
