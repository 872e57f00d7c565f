"""A maternity carer on a phone (390 px) mistypes a re-indication on her day list: the card she was on
comes back with the hours indicated still open, what she typed still there and the error under the date,
at her place on the list and no wider than the screen; nothing is stored until she mends the date."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from igo.models import Role
from igo.tenancy import tenant_scope
from pregnancies import services
from pregnancies.catalogue import catalogue_seed
from pregnancies.models import Episode, KraamzorgIndication
from providers.models import Professional
from tests.factories import ClientFactory, EpisodeFactory, InsurerFactory, TenantFactory
from tests.scenarios.browser import PHONE, assert_fits_viewport, clinician, sign_in_to_tenant
from tests.scenarios.clock import local

pytestmark = [
    pytest.mark.browser,
    pytest.mark.dated,
    pytest.mark.django_db(transaction=True),
    pytest.mark.clock(local(2026, 11, 18, 10)),
]


def mother(tenant, midwife, kraamzorg, family_name: str, *, days_ago: int) -> Episode:
    """A client of the carer's organisation who gave birth `days_ago` days ago, 49 hours indicated."""
    today = timezone.localdate()
    labour = timezone.now() - timedelta(days=days_ago, hours=3)
    with tenant_scope(tenant):
        episode = EpisodeFactory(
            tenant=tenant,
            client=ClientFactory(tenant=tenant, family_name=family_name, given_names="Roos"),
            intake_date=today - timedelta(weeks=30),
            due_date=today + timedelta(days=3),
            gestational_age_at_intake=68,
            kraamzorg_organisation=kraamzorg,
            kraamzorg_indicated_hours=49,
        )
        services.episode_set_key_dates(
            episode=episode,
            actor=midwife,
            labour_started_at=labour,
            placenta_plus_2h_at=labour + timedelta(hours=5),
        )
    return episode


def test_a_refused_re_indication_keeps_the_card_open_with_what_she_typed(page: Page):
    page.set_viewport_size(PHONE)
    tenant = TenantFactory(slug="igo-herindicatie")
    catalogue_seed(tenant=tenant)
    InsurerFactory()
    carer = clinician(tenant, Role.MATERNITY_CARER, "maternity_carer", "kraamzorg", "kz@herindicatie.test")
    midwife = clinician(tenant, Role.MIDWIFE, "midwife", "midwifery_practice", "vk@herindicatie.test")
    kraamzorg = Professional.unscoped.get(user=carer).organisation
    mothers = [
        mother(tenant, midwife, kraamzorg, name, days_ago=d) for name, d in (("Aalders", 1), ("Visser", 3))
    ]
    episode = mothers[1]  # the second card: further down the list
    sign_in_to_tenant(page, carer.email)
    page.locator("[data-nav=today]").click()

    card = page.get_by_test_id(f"today-{episode.pk}")
    details = page.get_by_test_id(f"indication-card-{episode.pk}")
    expect(details).not_to_have_attribute("open", "")  # an indication is on record: closed
    details.locator("summary").click()
    form = page.get_by_test_id(f"indication-form-{episode.pk}")
    form.locator("[name=hours]").fill("60")
    form.locator("[name=indicated_on]").fill("2026-11-25")  # next week: a slip of the finger
    form.locator("button[type=submit]").click()

    expect(card).to_contain_text("De datum van de indicatie kan niet in de toekomst liggen.")
    details = page.get_by_test_id(f"indication-card-{episode.pk}")
    expect(details).to_have_attribute("open", "")
    form = page.get_by_test_id(f"indication-form-{episode.pk}")
    expect(form.locator("[name=hours]")).to_have_value("60")
    expect(form.locator("[name=indicated_on]")).to_have_value("2026-11-25")
    expect(form.locator("[name=indicated_on]")).to_be_in_viewport()
    # The other card is still on the list, the page still the day list, nothing stored.
    expect(page.get_by_test_id(f"today-{mothers[0].pk}")).to_be_visible()
    assert page.url.endswith("/today/")
    assert not KraamzorgIndication.unscoped.filter(episode=episode, hours=60).exists()
    assert_fits_viewport(page)

    # She mends the date: saved, the card says so and shows the new indication.
    form.locator("[name=indicated_on]").fill("2026-11-18")
    form.locator("button[type=submit]").click()
    expect(card).to_contain_text("De geïndiceerde uren voor Roos Visser zijn opgeslagen.")
    expect(page.get_by_test_id(f"hours-{episode.pk}")).to_contain_text("/60 u")
    assert KraamzorgIndication.unscoped.filter(episode=episode, hours=60).exists()
    assert_fits_viewport(page)
