"""Access-log and audit entries read as sentences in the reader's language (derived when shown; the stored
values stay as they were written), on the pages and in the CSV export. And the correct/void page has no
element id twice."""

from __future__ import annotations

import re
from collections import Counter

import pytest
from django.utils import translation

from igo.describe import AuditDescriber
from igo.models import AuditEntry, Role
from igo.services import audit_record
from igo.tenancy import tenant_scope
from pregnancies import services
from pregnancies.describe import AccessDescriber
from pregnancies.models import AccessAction, AccessLogEntry
from tests.scenarios.care_logging import ago, log
from tests.scenarios.files import csv_download

pytestmark = [pytest.mark.django_db]


def entry(care, **fields) -> AccessLogEntry:
    return AccessLogEntry.unscoped.create(
        tenant=care.tenant, user=care.user(Role.MIDWIFE), client=care.client, **fields
    )


def described(care, language: str, *entries: AccessLogEntry) -> list[str]:
    with translation.override(language), tenant_scope(care.tenant):
        describe = AccessDescriber()
        return [describe(e) for e in entries]


def test_access_entries_read_as_sentences_in_both_languages(care):
    event = log(care, "KZ_HOURS", at=ago(hours=2), role=Role.MATERNITY_CARER)
    entries = [
        entry(care, action="create", object_type="careevent", object_id=str(event.pk), detail="KZ_HOURS"),
        entry(care, action="view", object_type="client", object_id=str(care.client.pk), detail="day list"),
        entry(care, action="update", object_type="linetransfer", object_id="7", detail="line second"),
        entry(care, action="update", object_type="episode", object_id="3", detail="end moved_away"),
        entry(care, action="view", object_type="episode", object_id="3", detail="something new"),
    ]
    assert described(care, "nl", *entries) == [
        f"Zorgactiviteit {event.pk}: Kraamzorg (uren)",
        "Cliëntdossier: op de daglijst van de kraamverzorgende",
        "Verantwoordelijke lijn 7: verantwoordelijkheid overgedragen aan: Tweede lijn (gynaecoloog)",
        "Zwangerschapsepisode 3: episode beëindigd: Verhuisd",
        "Zwangerschapsepisode 3: something new",  # unknown: as stored, never hidden
    ]
    english = described(care, "en", *entries)
    assert english[0] == f"Care event {event.pk}: Maternity care (hours)"
    assert english[1] == "Client record: on the maternity carer's day list"
    assert english[4] == "Pregnancy episode 3: something new"
    # The stored values did not change.
    assert AccessLogEntry.unscoped.get(pk=entries[0].pk).detail == "KZ_HOURS"


def test_the_access_log_page_and_export_show_the_descriptions(care, client_for):
    with tenant_scope(care.tenant):
        services.access_log_many(
            user=care.user(Role.MATERNITY_CARER),
            clients=[care.client],
            action=AccessAction.VIEW,
            detail="day list",
        )
    admin = client_for(care.user(Role.IGO_ADMIN))
    html = admin.get(care.url(f"access-log/?client={care.client.pk}")).content.decode()
    assert "Cliëntdossier: op de daglijst van de kraamverzorgende" in html
    assert f">client {care.client.pk} day list<" not in html

    export = admin.get(care.url(f"access-log/client/{care.client.pk}.csv"))
    download = csv_download(export)
    assert download.header[-1] == "description"
    day_list = [r for r in download.rows if r["detail"] == "day list"]
    assert [r["description"] for r in day_list] == ["Cliëntdossier: op de daglijst van de kraamverzorgende"]


def test_audit_entries_read_as_sentences(care, client_for):
    event_type = care.type("KZ_OBS")
    audit_record(
        actor=care.user(Role.IGO_ADMIN), action="event_type.retire", tenant=care.tenant, obj=event_type
    )
    audit_record(actor=None, action="event_type.create", tenant=care.tenant, obj=event_type, code="KZ_OBS")
    audit_record(actor=None, action="brand.new", tenant=care.tenant, verified=True)
    entries = list(AuditEntry.objects.filter(tenant=care.tenant).order_by("pk"))
    with translation.override("nl"):
        describe = AuditDescriber()
        assert [(describe.action(e), describe.details(e)) for e in entries] == [
            ("Catalogusitem buiten gebruik", ""),
            ("Catalogusitem toegevoegd", "code: KZ_OBS"),
            ("brand.new", "geverifieerd: ja"),
        ]
    with translation.override("en"):
        assert AuditDescriber().action(entries[1]) == "Catalogue entry added"
    html = client_for(care.user(Role.IGO_ADMIN)).get(care.url("audit/")).content.decode()
    assert "Catalogusitem toegevoegd" in html and "code: KZ_OBS" in html


def test_the_correct_and_void_forms_have_distinct_ids(care, client_for):
    event = log(care, "PRE_CHECK", at=ago(hours=2))
    html = client_for(care.user(Role.MIDWIFE)).get(care.url(f"events/{event.pk}/")).content.decode()
    ids = Counter(re.findall(r'\sid="([^"]+)"', html))
    assert [i for i, n in ids.items() if n > 1] == []
    assert "id_correct_change_reason" in ids and "id_void_change_reason" in ids
    # Each label points at its own field.
    assert 'for="id_correct_change_reason"' in html and 'for="id_void_change_reason"' in html
