"""The claims list's search and filters, and its CSV export (issue 19), on the world of
tests.scenarios.finance_home. Its current lines, all booked on 20 Nov 2026 (episodes in portfolio order):

    episode 1 (ordinary)     ZK  prenatal 1200 accepted, natal 900 rejected, postnatal 1500 accepted
    episode 2 (transferred)  ZK  prenatal 1200 accepted
    episode 3 (new insurer)  ZK  prenatal 1200 accepted; VGZ natal 1000 ready, postnatal 1650 ready
    episode 4 (in labour)    ZK  prenatal 1200 accepted
    episode 5 (early)        no line yet

Kraamzorg logged care (KZ_HOURS) only in the postnatal phase of episodes 1 and 3; the postnatal phase is
divided by care delivered, so only those two lines give it a part.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from igo.models import Role
from pregnancies.models import AccessLogEntry
from tests.scenarios.billing import BILLING_NOW
from tests.scenarios.files import csv_download
from tests.scenarios.finance import url
from tests.scenarios.finance_home import HomeWorld, home_world, shorten_vgz_term

pytestmark = [pytest.mark.django_db, pytest.mark.clock(BILLING_NOW)]
D = Decimal


@pytest.fixture
def h(world_a) -> HomeWorld:
    return home_world(world_a)


@pytest.fixture
def finance(world_a, client_for):
    return client_for(world_a.user(Role.IGO_FINANCE))


def listed(h: HomeWorld, browser: Any, **params: str) -> tuple[set[int], Any]:
    """The episodes on the claims list under `params`, and its summary (None without a filter)."""
    response = browser.get(url(h.s, "claim_list"), params)
    assert response.status_code == 200
    return {ep.pk for ep in response.context["page"].object_list}, response.context["summary"]


def test_each_filter_narrows_the_list(h, finance):
    e1, e2, e3, e4, _e5 = (ep.pk for ep in h.episodes)
    everything, summary = listed(h, finance)
    assert everything == {e1, e2, e3, e4} and summary is None  # episode 5 has no line yet
    cases: list[tuple[dict[str, str], set[int], int, Decimal]] = [
        ({"insurer": str(h.s.vgz.pk)}, {e3}, 2, D("2650.00")),  # 1000 + 1650
        ({"status": "accepted"}, {e1, e2, e3, e4}, 5, D("6300.00")),  # 1200 + 1500 + 1200 * 3
        ({"status": "rejected"}, {e1}, 1, D("900.00")),
        ({"status": "ready"}, {e3}, 2, D("2650.00")),
        ({"phase": "postnatal"}, {e1, e3}, 2, D("3150.00")),  # 1500 + 1650
        ({"member": str(h.s.kraam.pk)}, {e1, e3}, 2, D("3150.00")),
        ({"month": "2026-11"}, {e1, e2, e3, e4}, 8, D("9850.00")),
        ({"month": "2026-10"}, set(), 0, D("0.00")),
        ({"insurer": str(h.s.zk.pk), "phase": "prenatal"}, {e1, e2, e3, e4}, 4, D("4800.00")),
        ({"insurer": str(h.s.zk.pk), "phase": "natal"}, {e1}, 1, D("900.00")),
        ({"q": f"#{e2}"}, {e2}, 1, D("1200.00")),
        ({"q": h.rejected.number}, {e1}, 1, D("900.00")),
    ]
    for params, episodes, lines, total in cases:
        shown, summary = listed(h, finance, **params)
        assert shown == episodes, params
        assert (summary.lines, summary.total, summary.episodes) == (lines, total, len(episodes)), params


def test_the_deadline_filter_lists_what_is_at_risk(h, finance):
    shorten_vgz_term(h)  # VGZ natal: care ended 3 Jan 2026, + 11 months = 3 Dec 2026, within 30 days
    shown, summary = listed(h, finance, deadline="on")
    assert shown == {h.episodes[2].pk} and (summary.lines, summary.total) == (1, D("1000.00"))


def test_a_bad_filter_value_is_left_out(h, finance):
    shown, _ = listed(h, finance, status="paid", insurer="abc", month="2026-13", phase="labour")
    assert shown == {ep.pk for ep in h.episodes[:4]}


def test_a_search_by_name_is_logged_as_a_search_of_the_clients_shown(h, world_a, finance):
    ep = h.episodes[3]
    shown, _ = listed(h, finance, q=ep.client.family_name)
    assert ep.pk in shown
    searched = AccessLogEntry.unscoped.filter(user=world_a.user(Role.IGO_FINANCE), action="search")
    assert ep.client_id in set(searched.values_list("client_id", flat=True))


def test_the_export_holds_the_filtered_lines_in_either_convention(h, world_a, finance):
    exports = {
        code: csv_download(
            finance.get(url(h.s, "claim_list_export"), {"status": "accepted", "convention": code})
        )
        for code in ("nl", "intl")
    }
    nl, intl = exports["nl"], exports["intl"]
    assert nl.filename.endswith("_nl.csv") and intl.filename.endswith("_intl.csv")
    assert (nl.convention.delimiter, nl.convention.decimal) == (";", ",")
    assert (intl.convention.delimiter, intl.convention.decimal) == (",", ".")
    assert "1200,00" in {r["amount"] for r in nl.rows} and "1200.00" in {r["amount"] for r in intl.rows}
    amounts = {code: sorted(f.number(r["amount"]) for r in f.rows) for code, f in exports.items()}
    # The five accepted lines: 1200 + 1500 + 1200 + 1200 + 1200 = 6300.00, read back the same either way.
    assert amounts["nl"] == amounts["intl"] == [D("1200.00")] * 4 + [D("1500.00")]
    assert sum(amounts["nl"]) == D("6300.00")
    assert {r["status"] for r in nl.rows} == {"accepted"}
    exported = AccessLogEntry.unscoped.filter(user=world_a.user(Role.IGO_FINANCE), action="export")
    assert set(exported.values_list("client_id", flat=True)) == {ep.client_id for ep in h.episodes[:4]}


def test_the_export_follows_the_interface_language(h, finance):
    dutch = csv_download(finance.get(url(h.s, "claim_list_export")))
    assert dutch.filename.endswith("_nl.csv") and len(dutch.rows) == 8
    finance.cookies["django_language"] = "en"
    english = csv_download(finance.get(url(h.s, "claim_list_export")))
    assert english.filename.endswith("_intl.csv") and len(english.rows) == 8
    assert sum(english.number(r["amount"]) for r in english.rows) == D("9850.00")


def test_another_igo_finds_and_exports_nothing_of_this_one(h, world_b, client_for):
    browser = client_for(world_b.user(Role.IGO_FINANCE))
    e1 = h.episodes[0]
    response = browser.get(
        url(h.s, "claim_list").replace(h.s.tenant.slug, world_b.tenant.slug), {"q": f"#{e1.pk}"}
    )
    assert list(response.context["page"].object_list) == []
    export = browser.get(url(h.s, "claim_list_export").replace(h.s.tenant.slug, world_b.tenant.slug))
    assert csv_download(export).rows == []
    # Her own IGO's slug only: this IGO's list refuses her.
    assert browser.get(url(h.s, "claim_list")).status_code in (403, 404)
