"""Dated kraamzorg indications (issue 20): the LIP's intake indication and each re-indication are kept with
their date and hours, through one service that writes the access log and the audit trail; the day list
and the episode page show the history and take a new (re-)indication with its date; refused input stores
nothing. The clock stands at 18 November 2026, 14:00; Anna Jansen's intake was 60 days earlier
(19 September 2026)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import ValidationError

from igo.models import AuditEntry, Role
from igo.tenancy import tenant_scope
from pregnancies import services
from pregnancies.models import AccessLogEntry, Episode, KraamzorgIndication
from tests.scenarios.care import Care
from tests.scenarios.care_logging import as_user, deliver, page
from tests.scenarios.clock import local

pytestmark = [pytest.mark.django_db, pytest.mark.clock(local(2026, 11, 18, 14))]
TODAY = dt.date(2026, 11, 18)


def history(care: Care) -> list[tuple[dt.date, int]]:
    return [
        (i.indicated_on, i.hours)
        for i in KraamzorgIndication.unscoped.filter(episode=care.episode).order_by("indicated_on", "pk")
    ]


def record(care: Care, hours: int | None, on: dt.date | None) -> KraamzorgIndication:
    with tenant_scope(care.tenant):
        return services.kraamzorg_indication_record(
            episode=care.episode, actor=care.user(Role.MIDWIFE), hours=hours, indicated_on=on, today=TODAY
        )


def test_each_indication_is_kept_with_its_date_and_the_newest_is_current(care: Care) -> None:
    record(care, 49, dt.date(2026, 10, 1))  # the intake indication
    record(care, 64, dt.date(2026, 11, 16))  # a re-indication after the birth
    record(care, 56, dt.date(2026, 11, 10))  # entered late, dated earlier: not the newest
    assert history(care) == [
        (dt.date(2026, 10, 1), 49),
        (dt.date(2026, 11, 10), 56),
        (dt.date(2026, 11, 16), 64),
    ]
    assert Episode.unscoped.get(pk=care.episode.pk).kraamzorg_indicated_hours == 64
    audits = AuditEntry.objects.filter(tenant=care.tenant, action="kraamzorg.indication").order_by("pk")
    assert [(a.details["hours"], a.details["date"]) for a in audits] == [
        (49, "2026-10-01"), (64, "2026-11-16"), (56, "2026-11-10"),
    ]  # fmt: skip
    assert all(a.actor == care.user(Role.MIDWIFE) for a in audits)
    assert (
        AccessLogEntry.unscoped.filter(client=care.client, action="update", detail="indication").count() == 3
    )


@pytest.mark.parametrize(
    "hours,on,field",
    [
        pytest.param(81, dt.date(2026, 11, 1), "hours", id="over-lip-max"),
        pytest.param(None, dt.date(2026, 11, 1), "hours", id="no-hours"),
        pytest.param(49, dt.date(2026, 11, 19), "indicated_on", id="future"),
        pytest.param(49, dt.date(2026, 9, 18), "indicated_on", id="before-intake"),
        pytest.param(49, None, "indicated_on", id="no-date"),
    ],
)
def test_refused_indications_store_nothing(
    care: Care, hours: int | None, on: dt.date | None, field: str
) -> None:
    with pytest.raises(ValidationError) as refused:
        record(care, hours, on)
    assert set(refused.value.message_dict) == {field}
    assert history(care) == []
    assert Episode.unscoped.get(pk=care.episode.pk).kraamzorg_indicated_hours is None
    assert not AuditEntry.objects.filter(tenant=care.tenant, action="kraamzorg.indication").exists()


def test_the_day_list_takes_a_dated_re_indication_and_shows_the_history(care: Care, client_for) -> None:
    care.update_episode(kraamzorg_organisation=care.kraamzorg)
    deliver(care, days_ago=3)
    carer = as_user(care, Role.MATERNITY_CARER, client_for)
    url = care.url(f"today/{care.episode.pk}/indication/")
    assert carer.post(url, {"hours": "49", "indicated_on": "2026-10-01"}).status_code == 302
    assert carer.post(url, {"hours": "60", "indicated_on": ""}).status_code == 302  # no date: today
    assert history(care) == [(dt.date(2026, 10, 1), 49), (TODAY, 60)]
    html = carer.get(care.url("today/")).content.decode()
    listed = html.split(f'data-testid="indications-{care.episode.pk}"')[1].split("</ol>")[0]
    assert "Intake-indicatie 01-10-2026: 49 u" in listed and "Herindicatie 18-11-2026: 60 u" in listed
    assert 'name="indicated_on"' in html
    # A date in the future is refused at its field, nothing stored.
    carer.post(url, {"hours": "70", "indicated_on": "2026-11-30"})
    assert history(care) == [(dt.date(2026, 10, 1), 49), (TODAY, 60)]


def test_other_hours_on_the_outcomes_form_are_a_re_indication_dated_today(care: Care, client_for) -> None:
    deliver(care)
    midwife = as_user(care, Role.MIDWIFE, client_for)
    url = care.url(f"episodes/{care.episode.pk}/outcomes/")
    midwife.post(url, {"blood_loss_ml": "300", "kraamzorg_indicated_hours": "49"})
    midwife.post(url, {"blood_loss_ml": "300", "kraamzorg_indicated_hours": "49"})  # unchanged: nothing new
    midwife.post(url, {"blood_loss_ml": "300", "kraamzorg_indicated_hours": ""})  # empty: left as it is
    assert history(care) == [(TODAY, 49)]
    midwife.post(url, {"blood_loss_ml": "300", "kraamzorg_indicated_hours": "60"})
    assert history(care) == [(TODAY, 49), (TODAY, 60)]
    assert Episode.unscoped.get(pk=care.episode.pk).kraamzorg_indicated_hours == 60
    html = page(midwife, care)
    assert 'data-testid="indications-outcomes"' in html and "Herindicatie 18-11-2026: 60 u" in html
