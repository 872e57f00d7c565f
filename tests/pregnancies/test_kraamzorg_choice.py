"""The maternity-care organisation chosen after the intake, on the episode page: until then "Nog niet gekozen",
and the client is on no maternity carer's day list. Only an organisation of the IGO that gives maternity care
and is a member today can be chosen; the change is audited (ids only) and access-logged.

The clock stands at Wednesday 18 November 2026, 14:00 in Amsterdam.
"""

from __future__ import annotations

from datetime import date

import pytest
from django.core.exceptions import ValidationError

from igo.models import AuditEntry, Role
from igo.tenancy import tenant_scope
from pregnancies import selectors, services
from pregnancies.models import AccessLogEntry, Episode
from tests.factories import MemberOrganisationFactory
from tests.scenarios.care import Care
from tests.scenarios.care_logging import deliver, in_scope
from tests.scenarios.clock import local

pytestmark = [pytest.mark.django_db, pytest.mark.clock(local(2026, 11, 18, 14))]


def choose(care: Care, organisation, role: str = Role.MIDWIFE) -> Episode:
    return in_scope(
        care,
        services.episode_set_kraamzorg_organisation,
        episode=care.episode,
        actor=care.user(role),
        kraamzorg_organisation=organisation,
    )


def on_day_list(care: Care) -> bool:
    with tenant_scope(care.tenant):
        listed = selectors.my_clients_today(user=care.user(Role.MATERNITY_CARER), today=date(2026, 11, 18))
    return care.episode.pk in {e.pk for e in listed}


def test_the_midwife_chooses_it_on_the_episode_page_and_the_carer_then_sees_her(care, as_role):
    deliver(care, days_ago=2)
    http = as_role(Role.MIDWIFE)
    page = http.get(care.url(f"episodes/{care.episode.pk}/"), HTTP_ACCEPT_LANGUAGE="nl").content.decode()
    chosen = page[page.index('data-testid="kraamzorg-chosen"') :]
    assert "Nog niet gekozen" in chosen[: chosen.index("</summary>")]
    assert not on_day_list(care)

    response = http.post(
        care.url(f"episodes/{care.episode.pk}/kraamzorg/"), {"kraamzorg_organisation": care.kraamzorg.pk}
    )
    assert response.status_code == 302 and response["Location"].endswith("#kraamzorg")
    assert Episode.unscoped.get(pk=care.episode.pk).kraamzorg_organisation_id == care.kraamzorg.pk
    (audit,) = AuditEntry.objects.filter(action="episode.kraamzorg_organisation")
    assert audit.details == {"before": None, "after": care.kraamzorg.pk}
    assert AccessLogEntry.unscoped.filter(
        client=care.client, action="update", detail="kraamzorg organisation"
    ).exists()
    assert on_day_list(care)
    page = http.get(care.url(f"episodes/{care.episode.pk}/")).content.decode()
    assert "Kraamzorg Het Nest" in page[page.index('data-testid="kraamzorg-chosen"') :][:200]


def test_only_a_maternity_care_member_of_today_is_offered_or_accepted(care, as_role):
    former = MemberOrganisationFactory(
        tenant=care.tenant,
        kind="kraamzorg",
        name="Kraamzorg Vroeger",
        member_from=date(2020, 1, 1),
        member_until=date(2026, 10, 31),
    )
    joining = MemberOrganisationFactory(
        tenant=care.tenant, kind="kraamzorg", name="Kraamzorg Straks", member_from=date(2027, 1, 1)
    )
    http = as_role(Role.MIDWIFE)
    form = http.get(care.url(f"episodes/{care.episode.pk}/")).context["kraamzorg_form"]
    offered = set(form.fields["kraamzorg_organisation"].queryset)
    assert care.kraamzorg in offered
    assert not offered & {former, joining, care.practice, care.hospital}

    # A practice posted anyway: refused at the field, the page again (400) with the card open.
    response = http.post(
        care.url(f"episodes/{care.episode.pk}/kraamzorg/"),
        {"kraamzorg_organisation": care.practice.pk},
        HTTP_ACCEPT_LANGUAGE="nl",
    )
    assert response.status_code == 400
    assert "kraamzorg_organisation" in response.context["kraamzorg_form"].errors
    assert 'id="kraamzorg" open' in response.content.decode()
    assert Episode.unscoped.get(pk=care.episode.pk).kraamzorg_organisation_id is None

    # The service refuses them too (the API and any other caller).
    for wrong in (former, joining, care.practice):
        with pytest.raises(ValidationError) as exc:
            choose(care, wrong)
        assert "kraamzorg_organisation" in exc.value.message_dict
    assert not AuditEntry.objects.filter(action="episode.kraamzorg_organisation").exists()


def test_it_can_be_changed_and_cleared_and_an_unchanged_choice_writes_nothing(care):
    other = MemberOrganisationFactory(tenant=care.tenant, kind="kraamzorg", name="Kraamzorg De Wieg")
    choose(care, care.kraamzorg)
    choose(care, care.kraamzorg)  # the same again: nothing to record
    choose(care, other, role=Role.MATERNITY_CARER)
    choose(care, None)
    trail = [
        (a.details["before"], a.details["after"])
        for a in AuditEntry.objects.filter(action="episode.kraamzorg_organisation").order_by("pk")
    ]
    assert trail == [(None, care.kraamzorg.pk), (care.kraamzorg.pk, other.pk), (other.pk, None)]


def test_an_ended_pregnancy_keeps_its_choice(care):
    care.update_episode(status="ended", end_date=date(2026, 11, 1), end_reason="moved_away")
    with pytest.raises(ValidationError):
        choose(care, care.kraamzorg)


def test_another_igos_episode_answers_404(care, care_b, client_for):
    http = client_for(care.user(Role.MIDWIFE))
    response = http.post(
        care.url(f"episodes/{care_b.episode.pk}/kraamzorg/"), {"kraamzorg_organisation": care.kraamzorg.pk}
    )
    assert response.status_code == 404
    assert Episode.unscoped.get(pk=care_b.episode.pk).kraamzorg_organisation_id is None
