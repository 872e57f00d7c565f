"""Who takes the obstetric decisions (issue 17, finding 7): only a professional of the IGO linked to the
user, of an allowed discipline (midwife, clinical midwife, gynaecologist), records or corrects a delivery,
transfers the line or ends an episode. The services refuse everyone else, so the pages and the API are
covered alike; a refused POST answers 403 with the reason. Maternity carers log hours and kraamzorg care.

The clock stands at 10 November 2026, 16:00 in Amsterdam.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from django.core.exceptions import PermissionDenied
from django.utils import timezone

from igo.models import Role, User
from pregnancies import delivery, services
from pregnancies.models import Birth, CareEvent, Episode, LineTransfer
from tests.factories import MembershipFactory, ProfessionalFactory, UserFactory
from tests.scenarios.birth_record import BIRTH
from tests.scenarios.care import Care
from tests.scenarios.care_logging import form_dt, in_scope, log_service
from tests.scenarios.clock import local

pytestmark = [pytest.mark.django_db, pytest.mark.clock(BIRTH.afternoon)]


def new_midwife(care: Care, *, discipline: str | None = None) -> User:
    """A user with the midwife role; linked to a professional of `discipline` when one is given."""
    user = UserFactory(email=f"new-{discipline or 'unlinked'}@alpha.test")
    MembershipFactory(tenant=care.tenant, user=user, role=Role.MIDWIFE)
    if discipline is not None:
        ProfessionalFactory(tenant=care.tenant, organisation=care.practice, user=user, discipline=discipline)
    return user


def record(care: Care, actor: User, place: str = "home") -> delivery.Delivery:
    return in_scope(
        care,
        delivery.delivery_record,
        episode=care.episode,
        actor=actor,
        labour_started_at=BIRTH.labour,
        children=[delivery.Child(born_at=BIRTH.born)],
        placenta_at=BIRTH.placenta,
        place=place,
        line="first",
    )


def transfer(care: Care, actor: User) -> LineTransfer:
    return in_scope(
        care,
        services.line_transfer,
        episode=care.episode,
        actor=actor,
        line="second",
        effective_at=local(2026, 11, 10, 9),
        reason="hypertension",
    )


def end(care: Care, actor: User) -> Episode:
    return in_scope(
        care,
        services.episode_end,
        episode=care.episode,
        actor=actor,
        end_date=timezone.localdate(),
        end_reason="moved_away",
    )


def untouched(care: Care) -> None:
    episode = Episode.unscoped.get(pk=care.episode.pk)
    assert (episode.status, episode.labour_started_at) == ("active", None)
    assert not Birth.unscoped.filter(episode=episode).exists()
    assert not LineTransfer.unscoped.filter(episode=episode).exists()
    assert not CareEvent.unscoped.filter(episode=episode).exists()


@pytest.mark.parametrize("action", [record, transfer, end])
def test_a_maternity_carer_is_refused_with_her_discipline_named(care, action):
    with pytest.raises(PermissionDenied) as exc:
        action(care, care.user(Role.MATERNITY_CARER))
    assert "kraamverzorgende" in str(exc.value) or "maternity carer" in str(exc.value)
    untouched(care)


@pytest.mark.parametrize("action", [record, transfer, end])
def test_a_midwife_not_linked_to_a_professional_is_refused(care, action):
    with pytest.raises(PermissionDenied):
        action(care, new_midwife(care))
    untouched(care)


@pytest.mark.parametrize("discipline", ["sonographer", "obstetric_nurse"])
def test_a_linked_professional_of_another_discipline_is_refused(care, discipline):
    with pytest.raises(PermissionDenied):
        record(care, new_midwife(care, discipline=discipline))
    untouched(care)


def test_a_clinical_midwife_and_a_gynaecologist_may(care):
    # A clinical midwife attends births in hospital (the catalogue's polyclinic delivery is hers).
    record(care, new_midwife(care, discipline="clinical_midwife"), place="polyclinic")
    assert transfer(care, care.user(Role.GYNAECOLOGIST)).line == "second"
    assert end(care, care.user(Role.GYNAECOLOGIST)).status == "ended"


def test_the_maternity_carer_still_logs_her_hours_after_the_birth(care):
    record(care, care.user(Role.MIDWIFE))
    event, created, _warnings = log_service(
        care, "KZ_HOURS", at=local(2026, 11, 10, 12), role=Role.MATERNITY_CARER, quantity=Decimal("3")
    )
    assert created and event.phase == "postnatal"


# --- the pages -----------------------------------------------------------------------------------


def delivery_form() -> dict[str, Any]:
    return {
        "labour_started_at": form_dt(BIRTH.labour),
        "born_at_1": form_dt(BIRTH.born),
        "outcome_1": "live",
        "mode_1": "spontaneous",
        "outcome_2": "live",
        "mode_2": "spontaneous",
        "placenta_at": form_dt(BIRTH.placenta),
        "place": "home",
        "line": "first",
    }


def test_an_unlinked_midwife_posting_a_delivery_gets_403_with_the_reason(care, client_for):
    http = client_for(new_midwife(care))
    response = http.post(care.url(f"episodes/{care.episode.pk}/delivery/"), delivery_form())
    assert response.status_code == 403
    assert "niet gekoppeld aan een zorgverlener" in response.content.decode()
    line = http.post(
        care.url(f"episodes/{care.episode.pk}/line/"),
        {"line": "second", "effective_at": form_dt(local(2026, 11, 10, 9)), "reason": "x"},
    )
    assert line.status_code == 403
    untouched(care)


@pytest.mark.parametrize("path", ["delivery/", "line/", "end/"])
def test_a_maternity_carer_posting_gets_403(care, client_for, path):
    http = client_for(care.user(Role.MATERNITY_CARER))
    response = http.post(care.url(f"episodes/{care.episode.pk}/{path}"), delivery_form())
    assert response.status_code == 403
    untouched(care)


def test_the_maternity_carer_sees_the_births_but_no_delivery_line_or_end_form(care, client_for):
    record(care, care.user(Role.MIDWIFE))
    html = client_for(care.user(Role.MATERNITY_CARER)).get(care.url(f"episodes/{care.episode.pk}/"))
    text = html.content.decode()
    assert text.count('data-testid="birth-row"') == 1
    assert 'data-testid="delivery-form"' not in text
    assert f"episodes/{care.episode.pk}/line/" not in text
    assert f"episodes/{care.episode.pk}/end/" not in text
    midwife = (
        client_for(care.user(Role.MIDWIFE)).get(care.url(f"episodes/{care.episode.pk}/")).content.decode()
    )
    assert 'data-testid="delivery-form"' in midwife and f"episodes/{care.episode.pk}/end/" in midwife
