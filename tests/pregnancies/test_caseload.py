"""The clinician's caseload and home (pregnancies/caseload.py, the `care_home` page) and the order of the care
list (selectors.event_types_for).

The clock stands at Wednesday 10 March 2027, 10:00 in Amsterdam. The `care` world's Anna Jansen began her
episode 60 days earlier (9 January) at 12+0 weeks: due 24 July 2027, 20+4 today.
"""

from __future__ import annotations

import datetime as dt
from datetime import date, timedelta
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils.html import escape

from igo.models import Role
from pregnancies import caseload, selectors
from pregnancies.caseload import Flag, next_contact
from pregnancies.models import AccessLogEntry, Birth, CareEvent, Episode, LineTransfer, Phase
from providers.models import Professional
from tests.factories import CareEventFactory, ClientFactory, EpisodeFactory, ProfessionalFactory
from tests.scenarios.care import Care
from tests.scenarios.care_logging import in_scope
from tests.scenarios.clock import local

NOW = local(2027, 3, 10, 10, 0)
TODAY = date(2027, 3, 10)

pytestmark = [pytest.mark.django_db, pytest.mark.clock(NOW)]


def pregnancy(care: Care, *, due: date, **fields: Any) -> Episode:
    """Another client of the IGO, due on `due`, with her intake at 10+0 weeks."""
    client = ClientFactory(tenant=care.tenant)
    intake = due - timedelta(days=280 - 70)
    return EpisodeFactory(
        tenant=care.tenant,
        client=client,
        intake_date=intake,
        due_date=due,
        gestational_age_at_intake=70,
        **fields,
    )


def logged(
    care: Care, episode: Episode, code: str, *, at: dt.datetime, by: Professional | None = None
) -> CareEvent:
    by = by or care.midwife
    return CareEventFactory(
        tenant=care.tenant,
        episode=episode,
        event_type=care.type(code),
        occurred_at=at,
        phase=episode.phase_at(at),
        professional=by,
        organisation=by.organisation,
        created_by=care.user(Role.MIDWIFE),
    )


def born_at_home(care: Care, moment: dt.datetime) -> Birth:
    """One child of the scenario's episode, born spontaneously at home at `moment`."""
    return Birth.unscoped.create(
        tenant=care.tenant,
        episode=care.episode,
        child_number=1,
        born_at=moment,
        place="home",
        mode="spontaneous",
    )


def rows_of(care: Care, professional: Professional) -> dict[int, caseload.CaseloadRow]:
    rows = in_scope(care, caseload.caseload, professional=professional, now=NOW)
    return {r.episode.pk: r for r in rows}


# --- who is in the caseload -----------------------------------------------------------------------


def test_the_caseload_holds_her_organisations_clients_and_hers(care):
    colleague = ProfessionalFactory(tenant=care.tenant, organisation=care.practice, discipline="midwife")
    logged(care, care.episode, "PRE_CHECK", at=local(2027, 2, 24, 9))  # her practice cared for Anna
    coordinated_by_her = pregnancy(care, due=date(2027, 6, 1), coordinating_professional=care.midwife)
    coordinated_by_colleague = pregnancy(care, due=date(2027, 6, 2), coordinating_professional=colleague)
    hospital_only = pregnancy(care, due=date(2027, 6, 3), coordinating_professional=care.gynaecologist)
    logged(care, hospital_only, "PRE_CHECK", at=local(2027, 3, 1), by=care.gynaecologist)
    with_kraamzorg = pregnancy(care, due=date(2027, 6, 4), kraamzorg_organisation=care.kraamzorg)
    ended = pregnancy(care, due=date(2027, 6, 5), coordinating_professional=care.midwife)
    Episode.unscoped.filter(pk=ended.pk).update(status="ended", end_date=TODAY, end_reason="moved_away")
    voided_only = pregnancy(care, due=date(2027, 6, 6))
    CareEvent.unscoped.filter(pk=logged(care, voided_only, "PRE_CHECK", at=local(2027, 3, 2)).pk).update(
        status="voided"
    )

    midwife = rows_of(care, care.midwife)
    assert set(midwife) == {care.episode.pk, coordinated_by_her.pk, coordinated_by_colleague.pk}
    assert midwife[coordinated_by_her.pk].assigned_to_me
    assert not midwife[coordinated_by_colleague.pk].assigned_to_me
    # The gynaecologist's hospital: the client it cared for; the maternity carer's organisation: the client
    # who chose it for after the birth, from her intake on.
    assert set(rows_of(care, care.gynaecologist)) == {hospital_only.pk}
    assert set(rows_of(care, care.carer)) == {with_kraamzorg.pk}


def test_a_user_without_a_professional_record_has_no_caseload(care):
    assert in_scope(care, caseload.caseload, professional=None, now=NOW) == []


def test_another_igos_clients_are_never_in_the_caseload(care, care_b):
    # IGO Beta's midwife logged care for Beta's client; Alpha's midwife sees only Alpha's.
    logged(care_b, care_b.episode, "PRE_CHECK", at=local(2027, 3, 1))
    logged(care, care.episode, "PRE_CHECK", at=local(2027, 3, 1))
    assert set(rows_of(care, care.midwife)) == {care.episode.pk}
    assert set(rows_of(care_b, care_b.midwife)) == {care_b.episode.pk}


# --- where she stands, and the next contact --------------------------------------------------------


def test_a_row_shows_gestational_age_due_date_phase_last_and_next_contact(care):
    logged(care, care.episode, "PRE_CHECK", at=local(2027, 2, 10, 9))
    last = logged(care, care.episode, "PRE_CHECK", at=local(2027, 2, 24, 9))
    row = rows_of(care, care.midwife)[care.episode.pk]
    assert row.episode.due_date == date(2027, 7, 24)
    assert row.gestational_age == "20+4"  # 12+0 on 9 January, + 60 days
    assert row.phase == Phase.PRENATAL
    assert row.last_contact == last.occurred_at
    # On 24 February she was 18+4 (130 days): before 28 weeks the next check is four weeks later.
    assert row.next_contact == date(2027, 3, 24)
    assert row.flags == []


@pytest.mark.parametrize(
    ("weeks", "days", "interval"),
    [(12, 0, 28), (27, 6, 28), (28, 0, 14), (35, 6, 14), (36, 0, 7), (41, 2, 7)],
)
def test_prenatal_checks_come_closer_as_the_pregnancy_advances(weeks, days, interval):
    due = date(2027, 7, 24)
    base = due - timedelta(days=280 - (weeks * 7 + days))  # the day of the last check at that age
    expected = next_contact(phase=Phase.PRENATAL, due_date=due, base=base, born_on=None, today=TODAY)
    assert expected == base + timedelta(days=interval)


def test_postnatal_visits_are_daily_then_the_six_week_check():
    born = date(2027, 3, 1)

    def after(base: date) -> date | None:
        return next_contact(phase=Phase.POSTNATAL, due_date=born, base=base, born_on=born, today=TODAY)

    assert after(date(2027, 2, 28)) == date(2027, 3, 2)  # last seen in labour: the day after the birth
    assert after(date(2027, 3, 5)) == date(2027, 3, 6)  # day 4 -> day 5
    assert after(date(2027, 3, 11)) == date(2027, 4, 12)  # day 10 -> the six-week check on day 42
    assert after(date(2027, 4, 12)) is None  # after the six-week check nothing more is expected
    in_labour = next_contact(phase=Phase.NATAL, due_date=born, base=born, born_on=None, today=TODAY)
    assert in_labour == TODAY


# --- flags -------------------------------------------------------------------------------------------


def test_a_missed_check_is_overdue(care):
    # 30+0 on 17 February (every two weeks from 28 weeks): expected 3 March, a week ago.
    late = pregnancy(care, due=date(2027, 4, 28), coordinating_professional=care.midwife)
    logged(care, late, "PRE_CHECK", at=local(2027, 2, 17, 11))
    rows = rows_of(care, care.midwife)
    assert rows[late.pk].next_contact == date(2027, 3, 3)
    assert rows[late.pk].flags == [Flag.OVERDUE]
    # Flagged rows come first.
    ordered = in_scope(care, caseload.caseload, professional=care.midwife, now=NOW)
    assert ordered[0].episode.pk == late.pk


def test_the_maternity_carers_hours_are_not_the_midwifes_contact(care):
    # Born 1 March at home; the midwife last visited on 3 March (day 3), the maternity carer has been there
    # every day since, yesterday and this morning too. The midwife's daily visits were due from 4 March: her
    # row is overdue, whatever the carer logged. The carer's own row counts her own hours.
    labour = local(2027, 3, 1, 2)
    care.update_episode(
        labour_started_at=labour,
        placenta_plus_2h_at=labour + timedelta(hours=6),
        coordinating_professional=care.midwife,
        kraamzorg_organisation=care.kraamzorg,
    )
    born_at_home(care, labour + timedelta(hours=3))
    visit = logged(care, care.episode, "POST_VISIT", at=local(2027, 3, 3, 11))
    logged(care, care.episode, "KZ_HOURS", at=local(2027, 3, 9, 9), by=care.carer)
    hours_today = logged(care, care.episode, "KZ_HOURS", at=local(2027, 3, 10, 8), by=care.carer)

    midwife = rows_of(care, care.midwife)[care.episode.pk]
    assert midwife.last_contact == visit.occurred_at
    assert midwife.next_contact == date(2027, 3, 4)
    assert Flag.OVERDUE in midwife.flags
    carer = rows_of(care, care.carer)[care.episode.pk]
    assert carer.last_contact == hours_today.occurred_at


def test_a_gynaecologists_check_counts_for_the_midwife(care):
    # After a referral the hospital saw her: the obstetric schedule counts that check, whoever did it.
    logged(care, care.episode, "PRE_CHECK", at=local(2027, 2, 10, 9))
    hospital = logged(care, care.episode, "PRE_CHECK", at=local(2027, 3, 3, 9), by=care.gynaecologist)
    row = rows_of(care, care.midwife)[care.episode.pk]
    assert row.last_contact == hospital.occurred_at


def test_due_date_passed_then_birth_not_recorded(care):
    five_over = pregnancy(care, due=TODAY - timedelta(days=5), coordinating_professional=care.midwife)
    fifteen_over = pregnancy(care, due=TODAY - timedelta(days=15), coordinating_professional=care.midwife)
    for episode in (five_over, fifteen_over):
        logged(care, episode, "PRE_CHECK", at=local(2027, 3, 9))  # seen yesterday: not overdue
    rows = rows_of(care, care.midwife)
    assert rows[five_over.pk].flags == [Flag.DUE_DATE_PASSED]
    # Past 42+0 weeks with no labour and no child: the birth has most likely not been written down.
    assert rows[fifteen_over.pk].flags == [Flag.BIRTH_NOT_RECORDED]


def test_a_delivery_logged_without_a_child_is_a_birth_not_recorded(care):
    labour = local(2027, 3, 9, 2)
    care.update_episode(labour_started_at=labour, placenta_plus_2h_at=labour + timedelta(hours=6))
    logged(care, care.episode, "DELIV_HOME", at=labour + timedelta(hours=3))
    logged(care, care.episode, "POST_VISIT", at=local(2027, 3, 10, 9))
    row = rows_of(care, care.midwife)[care.episode.pk]
    assert row.phase == Phase.POSTNATAL
    assert row.gestational_days is None
    assert row.flags == [Flag.BIRTH_NOT_RECORDED]
    born_at_home(care, labour + timedelta(hours=3))
    row = rows_of(care, care.midwife)[care.episode.pk]
    assert row.flags == []
    assert row.next_contact == date(2027, 3, 11)  # born 9 March, seen today: tomorrow again


def test_a_referral_without_a_decision_is_a_transfer_pending(care):
    referral = logged(care, care.episode, "REFERRAL", at=local(2027, 3, 7, 14), by=care.gynaecologist)
    logged(care, care.episode, "PRE_CHECK", at=local(2027, 3, 7, 9))
    assert rows_of(care, care.midwife)[care.episode.pk].flags == [Flag.TRANSFER_PENDING]
    LineTransfer.unscoped.create(
        tenant=care.tenant,
        episode=care.episode,
        line="second",
        effective_at=referral.occurred_at + timedelta(hours=1),
        reason="Stuitligging",
        created_by=care.user(Role.GYNAECOLOGIST),
    )
    assert rows_of(care, care.midwife)[care.episode.pk].flags == []


def test_an_old_referral_is_no_longer_pending(care):
    logged(care, care.episode, "REFERRAL", at=local(2027, 2, 20, 14), by=care.gynaecologist)
    logged(care, care.episode, "PRE_CHECK", at=local(2027, 3, 7, 9))
    assert rows_of(care, care.midwife)[care.episode.pk].flags == []


# --- one query, whatever the size -------------------------------------------------------------------


def _caseload_queries(care: Care) -> int:
    with CaptureQueriesContext(connection) as queries:
        in_scope(care, caseload.caseload, professional=care.midwife, now=NOW)
    return len(queries)


def test_the_caseload_takes_one_query_whatever_its_size(care):
    logged(care, care.episode, "PRE_CHECK", at=local(2027, 3, 1))
    small = _caseload_queries(care)
    for n in range(25):
        episode = pregnancy(
            care, due=date(2027, 4, 1) + timedelta(days=n), coordinating_professional=care.midwife
        )
        logged(care, episode, "PRE_CHECK", at=local(2027, 3, 1))
        logged(care, episode, "REFERRAL", at=local(2027, 3, 2), by=care.gynaecologist)
    assert small == _caseload_queries(care) == 1


def test_the_home_page_reads_and_logs_in_a_bounded_number_of_queries(
    care, as_role, django_assert_max_num_queries
):
    logged(care, care.episode, "PRE_CHECK", at=local(2027, 3, 1))
    midwife = as_role(Role.MIDWIFE)
    midwife.get(care.url("home/"))  # the session's first request
    with CaptureQueriesContext(connection) as one_client:
        midwife.get(care.url("home/"))
    for n in range(30):
        episode = pregnancy(
            care, due=date(2027, 4, 1) + timedelta(days=n), coordinating_professional=care.midwife
        )
        logged(care, episode, "PRE_CHECK", at=local(2027, 3, 1))
    # Two for the session and the user (the tenant and roles from the access cache, the session not written
    # again: issue 18); professional, caseload, recent clients (two), care list (two), one INSERT into the
    # access log.
    with django_assert_max_num_queries(9):
        response = midwife.get(care.url("home/"))
    assert response.status_code == 200
    assert response.content.decode().count('data-testid="caseload-row"') == 31
    assert len(one_client) <= 9


# --- the page ----------------------------------------------------------------------------------------


def test_the_home_shows_the_caseload_with_a_log_action_and_logs_the_read(care, as_role):
    logged(care, care.episode, "PRE_CHECK", at=local(2027, 2, 24, 9))
    other = pregnancy(care, due=TODAY - timedelta(days=3), coordinating_professional=care.midwife)
    midwife = as_role(Role.MIDWIFE)
    before = AccessLogEntry.unscoped.filter(tenant=care.tenant).count()
    response = midwife.get(care.url("home/"))
    assert response.status_code == 200
    html = response.content.decode()
    assert "Anna Jansen" in html and "20+4" in html and "24-07-2027" in html
    assert 'data-flag="due_date_passed"' in html
    # The row's action opens the episode with the prenatal check preselected (the form's first entry).
    assert f"episodes/{care.episode.pk}/?type=PRE_CHECK" in html
    entries = AccessLogEntry.unscoped.filter(tenant=care.tenant).order_by("pk")[before:]
    assert {(e.client_id, e.action, e.detail, e.user_id) for e in entries} == {
        (care.client.pk, "view", "caseload", care.user(Role.MIDWIFE).pk),
        (other.client_id, "view", "caseload", care.user(Role.MIDWIFE).pk),
    }


def test_recent_clients_are_the_episodes_she_opened_last(care, as_role):
    first = pregnancy(care, due=date(2027, 6, 1))
    second = pregnancy(care, due=date(2027, 6, 2))
    midwife = as_role(Role.MIDWIFE)
    for episode in (first, second, care.episode):
        assert midwife.get(care.url(f"episodes/{episode.pk}/")).status_code == 200
    recent = in_scope(care, caseload.recent_episodes, user_id=care.user(Role.MIDWIFE).pk, now=NOW)
    assert [e.pk for e in recent] == [care.episode.pk, second.pk, first.pk]
    # Another user's reads are hers, not the midwife's.
    assert in_scope(care, caseload.recent_episodes, user_id=care.user(Role.GYNAECOLOGIST).pk, now=NOW) == []
    html = midwife.get(care.url("home/")).content.decode()
    assert 'data-testid="recent"' in html and escape(first.client.family_name) in html  # "'s Gravensande" too


def test_the_log_action_preselects_the_entry_and_focuses_the_form(care, as_role):
    html = as_role(Role.MIDWIFE).get(care.url(f"episodes/{care.episode.pk}/?type=PRE_CHECK")).content.decode()
    assert f'<option value="{care.type("PRE_CHECK").pk}" selected>' in html
    assert "autofocus" in html.split('data-testid="event-form"')[1]
    # An entry she may not log (a gynaecologist's referral) preselects nothing.
    html = as_role(Role.MIDWIFE).get(care.url(f"episodes/{care.episode.pk}/?type=REFERRAL")).content.decode()
    assert '<option value="" selected>' in html.split('data-testid="event-form"')[1]


def test_another_igo_answers_404_for_the_home(care, care_b, client_for):
    midwife_a = client_for(care.user(Role.MIDWIFE))
    assert midwife_a.get(care_b.url("home/")).status_code == 404


# --- the order of the care list -------------------------------------------------------------------------


def codes(types: list[Any]) -> list[str]:
    return [t.code for t in types]


def test_the_care_list_puts_the_phase_first_and_most_used_first(care, django_assert_num_queries):
    colleague = ProfessionalFactory(tenant=care.tenant, organisation=care.practice, discipline="midwife")
    newcomer = ProfessionalFactory(tenant=care.tenant, organisation=care.practice, discipline="midwife")
    # Her practice: two growth scans by a colleague; she herself: one 20-week scan. An old scan
    # (100 days ago) and the hospital's scans do not count.
    logged(care, care.episode, "ECHO_GROWTH", at=local(2027, 3, 1), by=colleague)
    logged(care, care.episode, "ECHO_GROWTH", at=local(2027, 3, 2), by=colleague)
    logged(care, care.episode, "ECHO_SEO", at=local(2027, 3, 3))
    logged(care, care.episode, "ECHO_NT", at=local(2026, 11, 30))
    for day in (1, 2, 3):
        logged(care, care.episode, "ECHO_TERM", at=local(2027, 3, day), by=care.gynaecologist)
    with django_assert_num_queries(2):  # the entries, her own use
        prenatal = in_scope(
            care, selectors.event_types_for, professional=care.midwife, phase=Phase.PRENATAL, now=NOW
        )
    assert codes(prenatal) == [
        "ECHO_SEO",  # what she logs
        "INTAKE",  # then visits before items, by code
        "PRE_CHECK",
        "ECHO_GROWTH",
        "ECHO_NT",
        "ECHO_TERM",
        "DELIV_CENTRE",  # then the other phases
        "DELIV_HOME",
        "DELIV_POLI",
        "CHECK_6W",
        "POST_VISIT",
    ]
    # A midwife who has logged nothing yet gets her practice's habits: her own use and her practice's (the
    # entries come from the IGO's cached catalogue now).
    with django_assert_num_queries(2):
        fresh = in_scope(
            care, selectors.event_types_for, professional=newcomer, phase=Phase.PRENATAL, now=NOW
        )
    assert codes(fresh)[:4] == ["ECHO_GROWTH", "ECHO_SEO", "INTAKE", "PRE_CHECK"]
    postnatal = in_scope(
        care, selectors.event_types_for, professional=care.midwife, phase=Phase.POSTNATAL, now=NOW
    )
    assert codes(postnatal)[:2] == ["CHECK_6W", "POST_VISIT"]
    # A gynaecologist's referral consultation, allowed in every phase, follows the phase's own entries.
    gyn = in_scope(
        care, selectors.event_types_for, professional=care.gynaecologist, phase=Phase.NATAL, now=NOW
    )
    assert codes(gyn)[:2] == ["DELIV_CLIN", "REFERRAL"]


def test_the_care_list_usage_is_cached_and_read_again_after_a_change(care, django_assert_num_queries):
    newcomer = ProfessionalFactory(tenant=care.tenant, organisation=care.practice, discipline="midwife")
    logged(care, care.episode, "ECHO_SEO", at=local(2027, 3, 3))

    def order(who: Professional, queries: int) -> list[str]:
        with django_assert_num_queries(queries):
            return codes(
                in_scope(care, selectors.event_types_for, professional=who, phase=Phase.PRENATAL, now=NOW)
            )

    # The IGO's catalogue entries are read once and then kept in the cache (dropped when an entry changes).
    assert order(care.midwife, 2)[0] == "ECHO_SEO"  # the entries and her use
    assert order(care.midwife, 0)[0] == "ECHO_SEO"  # the entries and her use from the cache
    assert order(newcomer, 2)[0] == "ECHO_SEO"  # nothing of her own: her practice's use
    assert order(newcomer, 0)[0] == "ECHO_SEO"
    # She logs two growth scans: her counts are read again, and her practice's for the newcomer.
    logged(care, care.episode, "ECHO_GROWTH", at=local(2027, 3, 4))
    logged(care, care.episode, "ECHO_GROWTH", at=local(2027, 3, 5))
    assert order(care.midwife, 1)[0] == "ECHO_GROWTH"
    assert order(newcomer, 1)[0] == "ECHO_GROWTH"  # her own (none) still cached, her practice's read again
    # A void counts too.
    for event in CareEvent.unscoped.filter(tenant=care.tenant, event_type__code="ECHO_GROWTH"):
        event.status = "voided"
        event.save(update_fields=["status"])
    assert order(care.midwife, 1)[0] == "ECHO_SEO"
    # The next day's figures are read again (the period moves).
    with django_assert_num_queries(1):
        in_scope(care, selectors.event_types_for, professional=care.midwife, now=NOW + timedelta(days=1))


def test_her_logging_post_stores_her_counts_for_her_next_page(care, as_role):
    client = as_role(Role.MIDWIFE)
    response = client.post(
        care.url(f"episodes/{care.episode.pk}/events/"),
        {
            "event_type": care.type("ECHO_GROWTH").pk,
            "occurred_at": "2027-03-10T09:00",
            "quantity": "1",
            "note": "",
            "submission_key": "5f0b6a8e-4a53-4d8e-9b8a-3f1c2d7e9a01",
        },
        headers={"HX-Request": "true"},
    )
    assert response.status_code == 201
    with CaptureQueriesContext(connection) as queries:
        types = in_scope(
            care, selectors.event_types_for, professional=care.midwife, phase=Phase.PRENATAL, now=NOW
        )
    assert len(queries) == 0  # the entries from the IGO's cached catalogue; her counts came with the POST
    assert codes(types)[0] == "ECHO_GROWTH" and types[0].own_uses == 1


def test_the_logging_form_offers_the_care_list_in_that_order(care, as_role):
    care.update_episode(labour_started_at=local(2027, 3, 1, 2), placenta_plus_2h_at=local(2027, 3, 1, 9))
    html = as_role(Role.MIDWIFE).get(care.url(f"episodes/{care.episode.pk}/")).content.decode()
    form = html.split('data-testid="event-form"')[1].split("</select>")[0]
    positions = {
        code: form.index(f'value="{care.type(code).pk}"')
        for code in ("POST_VISIT", "PRE_CHECK", "DELIV_HOME")
    }
    # Postnatal now: the postnatal visit before the entries of the phases that are over.
    assert positions["POST_VISIT"] < positions["PRE_CHECK"] < positions["DELIV_HOME"]


def test_search_results_show_the_due_date_and_gestational_age_of_her_pregnancy_in_care(care, as_role):
    no_pregnancy = ClientFactory(tenant=care.tenant, family_name="Jansen", given_names="Bea")
    response = as_role(Role.MIDWIFE).post(care.url("clients/"), {"q": "Jansen"})
    html = response.content.decode()
    rows = html.split('data-testid="search-results"')[1].split("<tr>")
    anna = next(r for r in rows if "Jansen, Anna" in r)
    assert "24-07-2027" in anna and "(20+4)" in anna
    assert f"/episodes/{care.episode.pk}/" in anna  # straight to her pregnancy
    bea = next(r for r in rows if f"{no_pregnancy.family_name}, Bea" in r)
    assert "—" in bea


def test_after_the_birth_the_home_and_the_search_show_the_day_of_birth_not_the_pregnancy(care, as_role):
    # Anna Jansen gave birth on 8 March (due 24 July: born at 20 weeks, which the home does not judge);
    # from then on her row and her search result show "geboren 08-03-2027", no due date and no weeks.
    labour = local(2027, 3, 8, 2)
    care.update_episode(
        labour_started_at=labour,
        placenta_plus_2h_at=labour + timedelta(hours=6),
        coordinating_professional=care.midwife,
    )
    born_at_home(care, labour + timedelta(hours=3))
    still_pregnant = pregnancy(care, due=date(2027, 6, 1), coordinating_professional=care.midwife)
    midwife = as_role(Role.MIDWIFE)
    html = midwife.get(care.url("home/"), HTTP_ACCEPT_LANGUAGE="nl").content.decode()
    rows = {r.split('"', 1)[0]: r for r in html.split('data-episode="')[1:]}
    anna = rows[str(care.episode.pk)].split("</li>")[0]
    assert "geboren 08-03-2027" in anna
    assert "24-07-2027" not in anna and 'data-testid="ga"' not in anna
    other = rows[str(still_pregnant.pk)].split("</li>")[0]
    assert "uitgerekend 01-06-2027" in other or "01-06-2027" in other
    assert 'data-testid="born"' not in other

    response = midwife.post(care.url("clients/"), {"q": "Jansen"}, HTTP_ACCEPT_LANGUAGE="nl")
    found = response.content.decode().split('data-testid="search-results"')[1]
    row = next(r for r in found.split("<tr>") if "Jansen, Anna" in r)
    assert "geboren 08-03-2027" in row
    assert "24-07-2027" not in row and "(" not in row.split('data-testid="search-due"')[1].split("</td>")[0]
