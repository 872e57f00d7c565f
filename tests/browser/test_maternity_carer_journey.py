"""A maternity carer's *Vandaag* on a phone and on a laptop: her client is there from the birth on, with the
day of the maternity period, the address and the hours logged against the hours indicated; logging up to
the indication warns, more than 80 hours asks for a confirmation, and a reload shows the day list (never a
405). The page is no wider than the window."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from igo.models import Role
from igo.tenancy import tenant_scope
from pregnancies import services
from pregnancies.catalogue import catalogue_seed
from pregnancies.models import CareEvent, EventStatus, EventType
from providers.models import Professional
from tests.factories import ClientFactory, EpisodeFactory, InsurerFactory, TenantFactory
from tests.scenarios.browser import VIEWPORTS, assert_fits_viewport, clinician, sign_in_to_tenant
from tests.scenarios.clock import local

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.clock(local(2026, 11, 18, 10)),
]


def hours(episode_pk: int) -> list[Decimal]:
    return sorted(
        e.quantity
        for e in CareEvent.unscoped.filter(
            episode_id=episode_pk, event_type__code="KZ_HOURS", status=EventStatus.ACTIVE
        )
    )


@pytest.mark.parametrize("viewport", VIEWPORTS.values(), ids=VIEWPORTS.keys())
def test_maternity_carer_sees_the_indication_and_is_warned_at_it_and_at_80(page: Page, viewport):
    page.set_viewport_size(viewport)
    tenant = TenantFactory(slug="igo-kraamweek")
    catalogue_seed(tenant=tenant)
    InsurerFactory()
    carer = clinician(tenant, Role.MATERNITY_CARER, "maternity_carer", "kraamzorg", "kz@kraamweek.test")
    midwife = clinician(tenant, Role.MIDWIFE, "midwife", "midwifery_practice", "vk@kraamweek.test")
    kraamzorg = Professional.unscoped.get(user=carer).organisation
    today = timezone.localdate()
    labour = timezone.now() - timedelta(days=2, hours=3)  # born the day before yesterday: day 3
    with tenant_scope(tenant):
        client = ClientFactory(
            tenant=tenant,
            family_name="Hendriks",
            given_names="Roos",
            address="Rozenstraat 12",
            city="Nijmegen",
            postcode="6511AB",
        )
        episode = EpisodeFactory(
            tenant=tenant,
            client=client,
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
        kz = EventType.objects.get(code="KZ_HOURS")
        for day, quantity in ((0, "9"), (1, "12"), (1, "12"), (2, "12")):
            services.care_event_log(
                actor=carer,
                episode=episode,
                event_type=kz,
                occurred_at=labour + timedelta(hours=8 + 12 * day),
                quantity=Decimal(quantity),
                confirm_duplicate=True,
            )
    sign_in_to_tenant(page, carer.email)
    page.locator("[data-nav=today]").click()

    card = page.get_by_test_id(f"today-{episode.pk}")
    expect(card).to_contain_text("Roos Hendriks")
    expect(page.get_by_test_id(f"day-{episode.pk}")).to_have_text("dag 3")
    expect(page.get_by_test_id(f"address-{episode.pk}")).to_contain_text("Rozenstraat 12")
    expect(page.get_by_test_id(f"hours-{episode.pk}")).to_contain_text("45/49 u")
    assert_fits_viewport(page)

    # Four hours more reach the indication: she is told, and the card says so.
    form = page.get_by_test_id(f"log-form-{episode.pk}")
    form.locator("[name=quantity]").fill("4")
    form.locator("button[type=submit]").click()
    expect(page.locator(".msg.warning")).to_contain_text("de 49 geïndiceerde uren zijn bereikt")
    expect(page.get_by_test_id(f"hours-{episode.pk}")).to_contain_text("49/49 u")
    expect(page.get_by_test_id(f"indication-reached-{episode.pk}")).to_be_visible()
    assert "/today/" in page.url

    # A re-indication came later than the care: 24 hours more were logged in the meantime (73 in all).
    with tenant_scope(tenant):
        for quantity in ("12", "12"):
            services.care_event_log(
                actor=carer,
                episode=episode,
                event_type=kz,
                occurred_at=timezone.now() - timedelta(hours=2),
                quantity=Decimal(quantity),
                confirm_duplicate=True,
            )
    page.reload()
    expect(page.get_by_test_id(f"hours-{episode.pk}")).to_contain_text("73/49 u")

    # Eight hours more would be 81: more than the maximum of 80, to be confirmed; nothing stored yet.
    form = page.get_by_test_id(f"log-form-{episode.pk}")
    form.locator("[name=quantity]").fill("8")
    form.locator("button[type=submit]").click()
    confirm = page.get_by_test_id(f"confirm-over-limit-{episode.pk}")
    expect(confirm).to_contain_text("maximum van 80")
    assert "8E+1" not in confirm.inner_text()
    assert sum(hours(episode.pk)) == 73
    assert_fits_viewport(page)

    # A reload shows the day list again, not a 405; the question is asked again when she logs.
    page.reload()
    expect(page.get_by_test_id(f"hours-{episode.pk}")).to_contain_text("73/49 u")
    form = page.get_by_test_id(f"log-form-{episode.pk}")
    form.locator("[name=quantity]").fill("8")
    form.locator("button[type=submit]").click()
    confirm = page.get_by_test_id(f"confirm-over-limit-{episode.pk}")
    confirm.locator("[name=confirm_over_limit]").check()
    page.get_by_test_id(f"log-form-{episode.pk}").locator("button[type=submit]").click()
    expect(page.get_by_test_id(f"hours-{episode.pk}")).to_contain_text("81/49 u")
    assert sum(hours(episode.pk)) == 81
    assert_fits_viewport(page)
