"""pregnancies/migrations/0014: audit entries of clinical changes written before 2026-12-07 held the values
(birth times, outcome, weight, Apgar, the LEMMoN criteria, how care ended, the free-text reason). The
migration moves them into the client's record (ClinicalRevision, with the entry's author and moment) and
leaves the entry with the field names and the revision; it says so in the audit trail, changes nothing the
second time, and leaves the audit table append-only.

The old rows are written as the old code wrote them (an INSERT: the append-only trigger refuses only UPDATE
and DELETE). The clock stands at 10 November 2026, 16:00 in Amsterdam.
"""

from __future__ import annotations

import importlib
from typing import Any

import pytest
from django.db import DatabaseError, connection, transaction
from django.db.migrations.executor import MigrationExecutor

from igo.describe import HIDDEN, AuditDescriber, audit_details_shown
from igo.models import AuditEntry, Role
from igo.tenancy import tenant_scope
from pregnancies import delivery
from pregnancies.models import Birth, ClinicalRevision, Episode
from tests.factories import EpisodeFactory, UserFactory
from tests.scenarios.care import Care
from tests.scenarios.care_logging import first_line_from_intake, in_scope
from tests.scenarios.clock import local

pytestmark = [pytest.mark.django_db, pytest.mark.dated, pytest.mark.clock(local(2026, 11, 10, 16))]

migration = importlib.import_module("pregnancies.migrations.0014_audit_scrub_clinical")
LONG_AGO = local(2026, 3, 2, 9, 15)
CLINICAL = ("before", "after", "reason", "end_reason")


@pytest.fixture(scope="module")
def state_apps(django_db_setup: Any, django_db_blocker: Any) -> Any:
    """The models as the migration sees them (the project state at 0014)."""
    with django_db_blocker.unblock():
        loader = MigrationExecutor(connection).loader
    return loader.project_state(("pregnancies", "0014_audit_scrub_clinical")).apps


def run(state_apps: Any) -> None:
    with connection.schema_editor() as editor:
        migration.forwards(state_apps, editor)


def old_entry(care: Care, action: str, obj_type: str, obj_id: Any, **details: Any) -> AuditEntry:
    return AuditEntry.objects.create(
        tenant=care.tenant,
        actor=care.user(Role.MIDWIFE),
        action=action,
        object_type=obj_type,
        object_id=str(obj_id),
        details=details,
        at=LONG_AGO,
    )


@pytest.fixture
def old(care: Care) -> dict[str, AuditEntry]:
    """One entry per action in the old shape, the values taken from a delivery really recorded."""
    first_line_from_intake(care)
    recorded = in_scope(
        care,
        delivery.delivery_record,
        episode=care.episode,
        actor=care.user(Role.MIDWIFE),
        labour_started_at=local(2026, 11, 10, 1, 30),
        children=[delivery.Child(born_at=local(2026, 11, 10, 5, 40), outcome="live", mode="spontaneous")],
        placenta_at=local(2026, 11, 10, 6),
        place="home",
        line="first",
        now=local(2026, 11, 10, 16),
    )
    births = list(Birth.unscoped.filter(episode=care.episode))
    with tenant_scope(care.tenant):
        snapshot = delivery._snapshot(Episode.unscoped.get(pk=care.episode.pk), births, recorded.event)
    assert snapshot["labour_started_at"] and snapshot["children"]
    corrected = {
        **snapshot,
        "event": recorded.event.pk + 1000,
        "children": [{**snapshot["children"][0], "weight_grams": 3400, "apgar_5": 9, "outcome": "stillborn"}],
    }
    episode = ("pregnancies.episode", care.episode.pk)
    return {
        "delivery.record": old_entry(care, "delivery.record", *episode, after=snapshot),
        "delivery.correct": old_entry(
            care, "delivery.correct", *episode, reason="gewicht vergeten", before=snapshot, after=corrected
        ),
        "delivery.void": old_entry(
            care, "delivery.void", *episode, reason="verkeerde cliënt", before=corrected
        ),
        "episode.severe_morbidity": old_entry(
            care, "episode.severe_morbidity", *episode, before=[], after=["eclampsia"]
        ),
        "episode.end_correct": old_entry(
            care,
            "episode.end_correct",
            *episode,
            before={"end_date": "2026-05-01", "end_reason": "miscarriage"},
            after={"end_date": "2026-05-01", "end_reason": "termination"},
        ),
        "partial_decision.record": old_entry(
            care,
            "partial_decision.record",
            "billing.partialdecision",
            77,
            episode=care.episode.pk,
            phase="prenatal",
            end_reason="miscarriage",
            choice="partial",
            percentage="50",
            reason="miskraam in week 9, echo bevestigd",
            supersedes=None,
        ),
    }


def test_the_values_move_to_the_record_and_the_entries_keep_field_names_only(care, old, state_apps):
    new_shape = AuditEntry.objects.get(action="delivery.record", at__gt=LONG_AGO)  # written by today's code
    new_details = dict(new_shape.details)
    rows = AuditEntry.objects.count()
    revisions = ClinicalRevision.unscoped.count()

    run(state_apps)

    assert AuditEntry.objects.count() == rows + 1  # none gone; one says what was done
    assert ClinicalRevision.unscoped.count() == revisions + 5  # no revision for a partial decision
    for action, entry in old.items():
        entry.refresh_from_db()
        assert entry.action == action and entry.at == LONG_AGO
        assert not set(CLINICAL) & set(entry.details), entry.details
        text = str(entry.details)
        for value in (
            "stillborn",
            "gewicht",
            "cliënt",
            "eclampsia",
            "miscarriage",
            "termination",
            "miskraam",
        ):
            assert value not in text, (action, entry.details)
    new_shape.refresh_from_db()
    assert new_shape.details == new_details  # already in the new shape: untouched

    midwife = care.user(Role.MIDWIFE)
    correct = old["delivery.correct"].details
    revision = ClinicalRevision.unscoped.get(pk=correct["revision"])
    assert (revision.episode_id, revision.kind, revision.changed_at) == (
        care.episode.pk,
        "delivery",
        LONG_AGO,
    )
    assert (revision.changed_by, revision.changed_by_email) == (midwife, midwife.email)
    assert revision.reason == "gewicht vergeten"
    assert revision.after["children"][0]["outcome"] == "stillborn"
    assert (
        correct["fields"]
        == revision.fields
        == [
            "children.1.apgar_5",
            "children.1.outcome",
            "children.1.weight_grams",
        ]
    )
    assert correct["event"] == revision.after["event"] and correct["supersedes"] == revision.before["event"]

    void = old["delivery.void"].details
    voided = ClinicalRevision.unscoped.get(pk=void["revision"])
    assert voided.reason == "verkeerde cliënt" and voided.before["children"][0]["weight_grams"] == 3400
    assert voided.after["children"] == [] and voided.after["labour_started_at"] is None
    assert {"children.1.born_at", "labour_started_at"} <= set(void["fields"]), void["fields"]
    assert void["event"] == voided.before["event"]

    recorded = old["delivery.record"].details
    assert ClinicalRevision.unscoped.get(pk=recorded["revision"]).before is None
    assert "labour_started_at" in recorded["fields"] and recorded["event"] == new_details["event"]

    morbidity = ClinicalRevision.unscoped.get(pk=old["episode.severe_morbidity"].details["revision"])
    assert (morbidity.kind, morbidity.before, morbidity.after) == (
        "severe_morbidity",
        {"severe_morbidity": []},
        {"severe_morbidity": ["eclampsia"]},
    )
    end = ClinicalRevision.unscoped.get(pk=old["episode.end_correct"].details["revision"])
    assert (end.kind, end.fields, end.after["end_reason"]) == ("end", ["end_reason"], "termination")
    assert old["partial_decision.record"].details == {
        "episode": care.episode.pk,
        "phase": "prenatal",
        "choice": "partial",
        "percentage": "50",
        "supersedes": None,
    }


def test_the_audit_trail_says_which_rows_were_rewritten(care, old, state_apps):
    run(state_apps)
    scrub = AuditEntry.objects.get(action="audit.scrub_clinical")
    assert scrub.tenant == care.tenant and scrub.actor is None
    assert scrub.details["rows"] == 6
    assert scrub.details["counts"] == dict.fromkeys(sorted(old), 1)
    assert sorted(scrub.details["entries"]) == sorted(e.pk for e in old.values())


def test_a_second_run_changes_nothing(care, old, state_apps):
    run(state_apps)
    details = dict(AuditEntry.objects.values_list("pk", "details"))
    revisions = ClinicalRevision.unscoped.count()
    run(state_apps)
    assert dict(AuditEntry.objects.values_list("pk", "details")) == details
    assert ClinicalRevision.unscoped.count() == revisions
    assert AuditEntry.objects.filter(action="audit.scrub_clinical").count() == 1


def test_an_entry_without_its_episode_keeps_its_values_and_is_reported(care, old, state_apps):
    orphan = old_entry(
        care, "episode.end_correct", "pregnancies.episode", 987654, before={"end_reason": "miscarriage"}
    )
    run(state_apps)
    orphan.refresh_from_db()
    assert orphan.details == {"before": {"end_reason": "miscarriage"}}
    assert AuditEntry.objects.get(action="audit.scrub_clinical").details["left"] == [orphan.pk]


def test_the_audit_table_is_append_only_again_afterwards(care, old, state_apps):
    if connection.vendor != "postgresql":
        pytest.skip("the append-only trigger exists on PostgreSQL only")
    run(state_apps)
    entry = old["delivery.correct"]
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        AuditEntry.objects.filter(pk=entry.pk).update(details={})
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        AuditEntry.objects.filter(pk=entry.pk).delete()


def test_nothing_to_do_writes_nothing(care, state_apps):
    rows = AuditEntry.objects.count()
    run(state_apps)
    assert AuditEntry.objects.count() == rows
    assert not AuditEntry.objects.filter(action="audit.scrub_clinical").exists()


def test_reversing_it_keeps_the_record_and_the_new_entries(care, old, state_apps):
    """Unapplying 0014 is a no-op: the values are not put back in the audit trail."""
    run(state_apps)
    details = dict(AuditEntry.objects.values_list("pk", "details"))
    (operation,) = migration.Migration.operations
    with connection.schema_editor() as editor:
        operation.reverse_code(state_apps, editor)
    assert dict(AuditEntry.objects.values_list("pk", "details")) == details
    assert ClinicalRevision.unscoped.filter(changed_at=LONG_AGO).count() == 5


def test_the_audit_page_hides_the_values_of_an_old_entry_it_could_not_rewrite(care, old):
    voided = audit_details_shown(old["delivery.void"])
    assert voided["before"] is HIDDEN and voided["reason"] is HIDDEN


def test_the_scrub_entry_reads_in_words(care, old, state_apps):
    run(state_apps)
    describe = AuditDescriber()
    scrub = AuditEntry.objects.get(action="audit.scrub_clinical")
    assert describe.action(scrub) != scrub.action
    assert "delivery.correct" in describe.details(scrub)


@pytest.mark.django_db(transaction=True)
def test_manage_migrate_runs_it_in_its_own_transaction():
    """Through the migration executor, as `manage.py migrate` runs it: back to 0013 (a no-op), an old entry
    written, forward again. The schema moves, so the test runs outside a transaction and always ends at the
    latest state."""
    executor = MigrationExecutor(connection)
    latest = list(executor.loader.graph.leaf_nodes())
    try:
        executor.migrate([("pregnancies", "0013_clinical_revision")])
        episode: Any = EpisodeFactory()
        author: Any = UserFactory()
        entry = AuditEntry.objects.create(
            tenant_id=episode.tenant_id,
            actor=author,
            action="episode.end_correct",
            object_type="pregnancies.episode",
            object_id=str(episode.pk),
            details={"before": {"end_reason": "miscarriage"}, "after": {"end_reason": "termination"}},
        )
        executor = MigrationExecutor(connection)
        executor.migrate(latest)
    finally:
        MigrationExecutor(connection).migrate(latest)
    entry.refresh_from_db()
    revision = ClinicalRevision.unscoped.get(episode_id=episode.pk)
    assert entry.details == {"fields": ["end_reason"], "revision": revision.pk}
    assert (revision.changed_by_id, revision.after) == (author.pk, {"end_reason": "termination"})
    assert AuditEntry.objects.get(action="audit.scrub_clinical").details["counts"] == {
        "episode.end_correct": 1
    }
    if connection.vendor == "postgresql":
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
            AuditEntry.objects.filter(pk=entry.pk).update(details={})
