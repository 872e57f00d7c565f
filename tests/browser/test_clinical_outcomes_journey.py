"""Outcome journeys in a real browser: a midwife records the delivery's outcomes and a child's NICU
admission, sees a refusal at the field, and a refused care entry shows its error (htmx swaps no 4xx answer
by default).

The clock stands at 20 May 2026, 11:00 in Amsterdam.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from igo.models import Role
from pregnancies.catalogue import catalogue_seed
from pregnancies.models import Birth, CareEvent, Episode, EventType
from quality.models import ExperienceResponse
from tests.factories import EpisodeFactory, TenantFactory
from tests.scenarios.browser import PHONE, assert_fits_viewport, clinician, sign_in_to_tenant, typed_time
from tests.scenarios.clock import local

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.clock(local(2026, 5, 20, 11)),
]


def test_midwife_records_outcomes_a_nicu_admission_and_the_questionnaire(page: Page):
    tenant = TenantFactory(slug="igo-outcomes")
    catalogue_seed(tenant=tenant)
    midwife = clinician(tenant, Role.MIDWIFE, "midwife", "midwifery_practice", "vk@outcomes.test")
    today = timezone.localdate()
    labour = timezone.now().replace(second=0, microsecond=0) - timedelta(days=12)
    episode = EpisodeFactory(
        tenant=tenant,
        intake_date=today - timedelta(weeks=30),
        due_date=today - timedelta(days=10),
        gestational_age_at_intake=70,
        labour_started_at=labour,
        placenta_plus_2h_at=labour + timedelta(hours=8),
    )
    birth = Birth.unscoped.create(
        tenant=tenant, episode=episode, born_at=labour + timedelta(hours=5), place="home", mode="spontaneous"
    )
    sign_in_to_tenant(page, midwife.email)
    page.goto(f"/t/{tenant.slug}/episodes/{episode.pk}/")
    expect(page.get_by_test_id("experience-form")).to_have_count(0)  # the maternity period has not ended

    page.locator("#outcomes summary").click()
    outcomes = page.get_by_test_id("outcomes-form")
    outcomes.locator("[name=blood_loss_ml]").fill("1500")
    outcomes.locator("[name=kraamzorg_indicated_hours]").fill("49")
    outcomes.locator("button[type=submit]").click()
    expect(page.locator(".msg.success")).to_be_visible()
    stored = Episode.unscoped.get(pk=episode.pk)
    assert (stored.blood_loss_ml, stored.kraamzorg_indicated_hours) == (1500, 49)

    page.locator("#delivery > summary").click()
    child = page.get_by_test_id("birth-outcome-form")
    before = (timezone.localdate(birth.born_at) - timedelta(days=1)).isoformat()
    child.locator("[name=neonatal_death_on]").fill(before)
    child.locator("[name=nicu_admission]").check()
    child.locator("button[type=submit]").click()
    # Refused: the births are open again, with the reason at the date; nothing stored.
    expect(page.get_by_test_id("birth-outcome-form").locator(".errorlist")).to_be_visible()
    assert not Birth.unscoped.get(pk=birth.pk).nicu_admission
    child = page.get_by_test_id("birth-outcome-form")
    child.locator("[name=neonatal_death_on]").fill("")
    child.locator("[name=nicu_admission]").check()
    child.locator("button[type=submit]").click()
    expect(page.locator(".msg.success")).to_be_visible()
    page.locator("#delivery > summary").click()
    expect(page.get_by_test_id("nicu")).to_be_visible()
    assert Birth.unscoped.get(pk=birth.pk).nicu_admission

    Episode.unscoped.filter(pk=episode.pk).update(kraamzorg_ended_on=today - timedelta(days=2))
    page.reload()
    page.locator("#experience summary").click()
    form = page.get_by_test_id("experience-form")
    for name, value in (("overall", "9"), ("informed", "5"), ("same_team", "4"), ("recommend", "10")):
        form.locator(f"[name={name}]").fill(value)
    form.locator("button[type=submit]").click()
    expect(page.locator(".msg.success")).to_be_visible()
    page.locator("#experience summary").click()
    expect(page.get_by_test_id("experience-answers")).to_be_visible()
    assert ExperienceResponse.unscoped.get(episode=episode).overall == 9


def test_a_refused_care_entry_shows_its_error(page: Page):
    tenant = TenantFactory(slug="igo-refused")
    catalogue_seed(tenant=tenant)
    midwife = clinician(tenant, Role.MIDWIFE, "midwife", "midwifery_practice", "vk@refused.test")
    today = timezone.localdate()
    episode = EpisodeFactory(
        tenant=tenant,
        intake_date=today - timedelta(weeks=10),
        due_date=today + timedelta(weeks=20),
        gestational_age_at_intake=70,
    )
    sign_in_to_tenant(page, midwife.email)
    page.goto(f"/t/{tenant.slug}/episodes/{episode.pk}/")
    form = page.get_by_test_id("event-form")
    form.locator("[name=event_type]").select_option(
        str(EventType.unscoped.get(tenant=tenant, code="PRE_CHECK").pk)
    )
    form.locator("[name=occurred_at]").fill(typed_time(today + timedelta(days=3), "10:00"))  # in the future
    form.locator("button[type=submit]").click()
    expect(page.get_by_test_id("event-form").locator(".errorlist")).to_be_visible()
    assert not CareEvent.unscoped.filter(episode=episode).exists()


def test_a_gynaecologist_ticks_the_lemmon_criteria_on_a_phone(page: Page):
    """At 390 px the Outcomes card with its LEMMoN check boxes fits the window; the criteria ticked are
    stored and shown on the card, in Dutch."""
    tenant = TenantFactory(slug="igo-lemmon")
    catalogue_seed(tenant=tenant)
    gynaecologist = clinician(tenant, Role.GYNAECOLOGIST, "gynaecologist", "hospital", "gyn@lemmon.test")
    today = timezone.localdate()
    labour = timezone.now().replace(second=0, microsecond=0) - timedelta(days=3)
    episode = EpisodeFactory(
        tenant=tenant,
        intake_date=today - timedelta(weeks=30),
        due_date=today - timedelta(days=1),
        gestational_age_at_intake=70,
        labour_started_at=labour,
        placenta_plus_2h_at=labour + timedelta(hours=8),
    )
    Birth.unscoped.create(
        tenant=tenant,
        episode=episode,
        born_at=labour + timedelta(hours=5),
        place="clinical",
        mode="caesarean",
    )
    page.set_viewport_size(PHONE)
    sign_in_to_tenant(page, gynaecologist.email)
    page.goto(f"/t/{tenant.slug}/episodes/{episode.pk}/")
    page.locator("#outcomes summary").click()
    outcomes = page.get_by_test_id("outcomes-form")
    expect(outcomes.locator("[name=severe_morbidity]")).to_have_count(8)  # "none of these" and seven criteria
    assert_fits_viewport(page)
    outcomes.locator("[name=blood_loss_ml]").fill("2400")
    outcomes.locator("[name=severe_morbidity][value=icu]").check()
    outcomes.locator("[name=severe_morbidity][value=transfusion]").check()
    outcomes.locator("button[type=submit]").click()
    expect(page.locator(".msg.success")).to_be_visible()
    assert Episode.unscoped.get(pk=episode.pk).severe_morbidity == ["icu", "transfusion"]
    expect(page.get_by_test_id("severe-morbidity")).to_have_text("ernstige maternale morbiditeit")
    page.locator("#outcomes summary").click()
    expect(page.get_by_test_id("severe-morbidity-criteria")).to_contain_text(
        "Transfusie van 4 of meer eenheden"
    )
    assert_fits_viewport(page)
