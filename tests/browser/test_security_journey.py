"""The pages that moved their behaviour out of inline handlers work under the content security policy:
a confirmation that can be cancelled, a select that sends its form, and the API documentation (Swagger UI
from our own static files). The CSP guard of conftest.py fails each test on any violation."""

from __future__ import annotations

import re

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse
from playwright.sync_api import Page, expect

from billing.models import BatchStatus, ClaimBatch
from igo.models import Role, User
from tests.scenarios.batches import insurer_employee, make_batch
from tests.scenarios.billing import BILLING_NOW, build, portfolio, run
from tests.scenarios.people import TenantWorld, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def signed_in(page: Page, live_server, user: User) -> None:
    """The session of a signed-in user in the browser (the sign-in itself is tested in test_sign_in_journey)."""
    client = sign_in(Client(), user)
    cookie = client.cookies[settings.SESSION_COOKIE_NAME].value
    page.context.add_cookies(
        [{"name": settings.SESSION_COOKIE_NAME, "value": cookie, "url": live_server.url}]
    )


@pytest.mark.clock(BILLING_NOW)  # the billing world of 2026 with this month's batch
def test_release_asks_first_and_a_year_picker_sends_itself(page: Page, live_server, world_a: TenantWorld):
    s = build(world_a)
    portfolio(s)
    run(s)
    draft = make_batch(s, s.zk, release=False)
    finance = world_a.user(Role.IGO_FINANCE)
    signed_in(page, live_server, finance)

    page.goto(reverse("batch_detail", args=[s.tenant.slug, draft.pk]))
    page.once("dialog", lambda dialog: dialog.dismiss())
    page.get_by_test_id("batch-release").click()
    page.wait_for_timeout(300)
    expect(page.get_by_test_id("batch-release")).to_be_visible()
    assert ClaimBatch.unscoped.get(pk=draft.pk).status == BatchStatus.DRAFT

    messages: list[str] = []
    page.once("dialog", lambda dialog: (messages.append(dialog.message), dialog.accept()))
    page.get_by_test_id("batch-release").click()
    expect(page.get_by_test_id("batch-release")).to_have_count(0)
    assert ClaimBatch.unscoped.get(pk=draft.pk).status == BatchStatus.RELEASED
    assert str(draft.number) in messages[0]

    page.goto(reverse("quality_agreements", args=[s.tenant.slug]))
    select = page.locator("select[name=year]")
    other = select.locator("option:not([selected])").first.get_attribute("value")
    select.select_option(other)
    expect(page).to_have_url(re.compile(rf"\?year={other}$"))


def test_the_api_documentation_runs_under_the_policy(page: Page, live_server, world_a: TenantWorld):
    s = build(world_a)
    user = insurer_employee(s.zk, "declaraties@zk.test")
    signed_in(page, live_server, user)
    page.goto(reverse("api_docs"))
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("IGO platform API")
    expect(page.locator(".opblock-tag-section").first).to_be_visible()
    assert not page.locator("script:not([src])").count()
