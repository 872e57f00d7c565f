"""The finance pages issue 14 touched, as a controller opens them on a phone (390 px): the contract with its
table of what each early ending bills, finance's decision on a phase no rule covers (and deciding it there),
the work queue, the revenue page, the statements, the split rules and the payouts. None is wider than the
screen (a wide table scrolls inside its own box).

Seen on 15 April 2026, after the run billed a client who moved away at 20 weeks (no rule for moving away)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from playwright.sync_api import Page, expect

from billing.models import PartialDecision, WorkItem, WorkReason
from igo.models import Role
from tests.scenarios.browser import member_with_totp, sign_in_with_totp, url_re
from tests.scenarios.clock import local
from tests.scenarios.partial import lines, moved_away_at_20_weeks, partial_world

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.clock(local(2026, 4, 15, 10)),
]

PHONE = {"width": 390, "height": 844}


def _fits(page: Page) -> int:
    """How wide the page is, once its stylesheet is applied (a click's navigation may still be loading)."""
    page.wait_for_load_state("load")
    return int(page.evaluate("document.documentElement.scrollWidth"))


def test_the_money_pages_fit_a_phone_and_finance_decides_a_phase_there(page: Page, world_a):
    w = partial_world(world_a)
    ep = moved_away_at_20_weeks(w)
    w.run(dt.date(2026, 4, 15))
    assert WorkItem.unscoped.filter(episode=ep, phase="prenatal", reason=WorkReason.NO_PARTIAL_RULE).exists()
    controller, secret = member_with_totp(w.tenant, Role.IGO_FINANCE, "controller@alpha.test", "Cor Smit")
    page.set_viewport_size(PHONE)
    sign_in_with_totp(page, controller, secret, w.tenant.slug)

    pages = {
        "contract": w.url("contract_detail", pk=w.contract.pk),
        "work queue": w.url("work_queue"),
        "revenue": w.url("revenue"),
        "statements": w.url("statement_list"),
        "split rules": w.url("split_rule_list"),
        "payouts": w.url("payout_list"),
    }
    for name, url in pages.items():
        response = page.goto(url)
        assert response is not None and response.status == 200, name
        assert _fits(page) <= PHONE["width"], f"{name} is {_fits(page)} px wide"

    # The decision page, reached from the work queue's item, fits too; deciding there bills the phase.
    page.goto(pages["work queue"])
    page.get_by_role("link", name="Beslissen").first.click()
    expect(page).to_have_url(url_re(w.url("partial_decision", pk=ep.pk, phase="prenatal")))
    assert _fits(page) <= PHONE["width"]
    page.locator("input[name=choice][value=percentage]").check()
    page.locator("[name=percentage]").fill("40")
    page.locator("[name=reason]").fill("Verhuisd na drie controles; afgesproken met de verzekeraar.")
    page.get_by_test_id("decide").click()
    expect(page).to_have_url(url_re(w.url("episode_claims", pk=ep.pk)))
    assert _fits(page) <= PHONE["width"]
    decision = PartialDecision.unscoped.get(episode=ep, phase="prenatal", is_current=True)
    assert (decision.choice, decision.percentage, decision.decided_by) == ("percentage", 40, controller)
    line = lines(ep)["prenatal"]
    # ZK prenatal tariff × 40 %, to the cent.
    assert line.percentage == 40 and line.amount == (line.tariff.amount * 40 / 100).quantize(Decimal("0.01"))
