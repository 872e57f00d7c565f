"""The data-quality list (quality.data_quality): the birth records of a year with plausibility warnings,
for the IGO's quality officer (administrators), every client shown access-logged, and how complete the
Kernset fields are.

The clock stands at 10 November 2026. The care fixture's woman (Jansen) had a caesarean that morning,
recorded in hospital while the first line stayed responsible (the demo's finding); a second woman (Smit)
had a plausible home birth with every field recorded; a third (Visser) gave birth in 2025."""

from __future__ import annotations

import pytest
from django.utils import translation

from igo.models import Role
from igo.tenancy import tenant_scope
from pregnancies import plausibility
from pregnancies.models import AccessAction, AccessLogEntry, Birth, Line, LineTransfer
from quality.data_quality import data_quality
from tests.scenarios.birth_record import BIRTH, another_episode, at_term, stored_birth
from tests.scenarios.care import Care
from tests.scenarios.clock import local

pytestmark = [pytest.mark.django_db, pytest.mark.clock(BIRTH.afternoon)]


@pytest.fixture
def records(care: Care) -> dict[str, int]:
    at_term(care, parity=None)
    stored_birth(care.episode, BIRTH.born, place="clinical", mode="caesarean")
    smit = another_episode(care.tenant, "Smit", due=BIRTH.day)
    smit.presentation, smit.labour_onset, smit.previous_caesareans, smit.perineum = (
        "cephalic",
        "spontaneous",
        0,
        "intact",
    )
    smit.severe_morbidity = []  # none of the LEMMoN criteria
    smit.save()
    stored_birth(smit, BIRTH.born, apgar_1=9, apgar_5=10)
    visser = another_episode(care.tenant, "Visser", due=local(2025, 6, 1).date())
    stored_birth(visser, local(2025, 6, 1, 9), place="clinical", mode="caesarean")
    return {"jansen": care.episode.pk, "smit": smit.pk, "visser": visser.pk}


def test_the_list_holds_the_caesarean_in_first_line_care_and_counts_completeness(care, records):
    with tenant_scope(care.tenant):
        result = data_quality(year=2026)
    assert [r.episode.pk for r in result.rows] == [records["jansen"]]
    assert [f.code for f in result.rows[0].findings] == [plausibility.OPERATIVE_IN_FIRST_LINE]
    assert result.episodes == 2  # Visser gave birth in 2025
    # Two women, one with presentation recorded: 1 / 2; two children, one with both Apgar scores: 1 / 2.
    with translation.override("en"):
        by_label = {str(c.label): (c.recorded, c.of, c.percent) for c in result.completeness}
    assert by_label["Presentation"] == (1, 2, 50)
    assert by_label["Apgar at 1 and 5 minutes (live-born children)"] == (1, 2, 50)
    # The perineum applies to vaginal births only: Jansen's caesarean is not counted against it.
    assert by_label["Perineal damage (vaginal births)"] == (1, 1, 100)
    # Smit: parity 0, one cephalic child at 40+0, spontaneous labour: Robson 1; Jansen's is not derivable.
    assert by_label["Robson group derivable"] == (1, 2, 50)
    # The LEMMoN criteria, over all women: Smit's "none of them" is recorded, Jansen's nothing.
    assert by_label["Severe maternal morbidity (LEMMoN)"] == (1, 2, 50)
    with tenant_scope(care.tenant):
        assert [r.episode.pk for r in data_quality(year=2025).rows] == [records["visser"]]


def test_the_quality_officer_sees_the_page_and_each_client_is_logged(care, records, client_for):
    admin = care.user(Role.IGO_ADMIN)
    response = client_for(admin).get(care.url("quality/data/?year=2026"), HTTP_ACCEPT_LANGUAGE="nl")
    assert response.status_code == 200
    html = response.content.decode()
    assert f'data-testid="dq-episode-{records["jansen"]}"' in html
    assert f'data-testid="dq-episode-{records["smit"]}"' not in html
    assert "eerste lijn" in html and care.client.bsn not in html
    logged = AccessLogEntry.unscoped.filter(tenant=care.tenant, user=admin)
    assert [(e.client_id, e.action, e.detail) for e in logged] == [
        (care.client.pk, AccessAction.VIEW, "data quality 2026")
    ]


@pytest.mark.parametrize("role", [Role.IGO_FINANCE, Role.MIDWIFE])
def test_others_are_refused(care, records, client_for, role):
    response = client_for(care.user(role)).get(care.url("quality/data/"))
    assert response.status_code == 403
    assert not AccessLogEntry.unscoped.filter(tenant=care.tenant).exists()


def test_another_tenants_records_are_not_listed(care, records, care_b, client_for):
    response = client_for(care_b.user(Role.IGO_ADMIN)).get(care_b.url("quality/data/?year=2026"))
    assert response.status_code == 200
    assert "dq-episode-" not in response.content.decode()


def test_a_stillborn_child_is_not_counted_against_the_apgar(care, records):
    # A stillborn child has no Apgar: the field does not apply, so it neither lowers nor raises completeness.
    still = another_episode(care.tenant, "Bakker", due=BIRTH.day)
    stored_birth(still, BIRTH.born, outcome="stillborn", place="clinical")
    with tenant_scope(care.tenant), translation.override("en"):
        by_label = {str(c.label): (c.recorded, c.of) for c in data_quality(year=2026).completeness}
    assert by_label["Apgar at 1 and 5 minutes (live-born children)"] == (1, 2)
    assert by_label["Birth weight (children)"] == (3, 3)


def test_a_caesarean_in_the_second_line_at_a_first_line_place_names_the_place(care, records):
    LineTransfer.unscoped.create(
        tenant=care.tenant, episode=care.episode, line=Line.SECOND, effective_at=local(2026, 11, 10, 3),
        created_by=care.user(Role.IGO_ADMIN),
    )  # fmt: skip
    Birth.unscoped.filter(episode=care.episode).update(place="polyclinic")
    with tenant_scope(care.tenant), translation.override("en"):
        row = next(r for r in data_quality(year=2026).rows if r.episode.pk == records["jansen"])
        texts = [str(f.message) for f in row.findings]
    assert [f.code for f in row.findings] == [plausibility.OPERATIVE_IN_FIRST_LINE]
    assert "(polyclinic)" in texts[0] and "first-line care" not in texts[0]
