"""The PREM Geboortezorg import (issue 20): all or nothing, errors per row and field, scores per item and
overall, and the response rate.

The happy file (three questionnaires sent in June 2025 to the episodes P1 P2 P3):
  P1 answered 20 June: items 1..14 all 4                      mean 4.00
  P2 answered 25 June: item 1 = 2, item 2 = 3, the rest empty  mean 2.50
  P3 not answered
Response rate 2 of 3 = 66.7 %; overall (4.00 + 2.50) / 2 = 3.25; item 1: (4 + 2) / 2 = 3.00 over 2 answers,
item 2: (4 + 3) / 2 = 3.50, item 3: 4.00 over 1 answer.
Stored indicators for June: prem_response 2/3 (month sent); prem_score 6.50 / 2 (month sent, as the response rate and the PREM page).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import cast

import pytest

from igo.models import Role
from igo.tenancy import tenant_scope
from pregnancies.models import Episode
from quality.indicators import BY_CODE
from quality.models import IndicatorValue, PremResponse
from quality.prem import PREM_ITEMS, PremImportError, prem_import, prem_summary
from quality.services import indicators_recompute
from tests.factories import EpisodeFactory
from tests.scenarios.people import TenantWorld

pytestmark = pytest.mark.dated
D = Decimal
JUNE, JULY = dt.date(2025, 6, 1), dt.date(2025, 7, 1)
HEADER = ";".join(["episode", "sent_on", "answered_on", *PREM_ITEMS])


def line(episode: int, sent: str, answered: str, items: list[str]) -> str:
    return ";".join([str(episode), sent, answered, *items, *[""] * (len(PREM_ITEMS) - len(items))])


@pytest.fixture
def eps(world_a: TenantWorld) -> dict[str, Episode]:
    return {
        name: cast(
            Episode,
            EpisodeFactory(
                tenant=world_a.tenant, intake_date=dt.date(2024, 10, 1), due_date=dt.date(2025, 5, 20)
            ),
        )
        for name in ("P1", "P2", "P3")
    }


def good_file(eps: dict[str, Episode]) -> bytes:
    rows = [
        HEADER,
        line(eps["P1"].pk, "2025-06-02", "2025-06-20", ["4"] * 14),
        line(eps["P2"].pk, "02-06-2025", "2025-06-25", ["2", "3"]),
        line(eps["P3"].pk, "2025-06-02", "", []),
    ]
    return ("\n".join(rows) + "\n").encode()


def test_a_good_file_is_stored_and_scored_per_item_overall_and_with_the_response_rate(
    world_a: TenantWorld, eps: dict[str, Episode]
) -> None:
    tenant, admin = world_a.tenant, world_a.user(Role.IGO_ADMIN)
    with tenant_scope(tenant):
        stored = prem_import(tenant=tenant, actor=admin, content=good_file(eps), filename="prem.csv")
        assert len(stored) == 3
        p2 = PremResponse.objects.get(episode=eps["P2"])
        assert p2.items == {"prem_01": 2, "prem_02": 3}
        assert p2.mean_score() == D("2.50")
        summary = prem_summary(start=JUNE, end=JULY)
        indicators_recompute(tenant=tenant, start=JUNE, end=JULY)
    assert (summary.sent, summary.answered, summary.response_rate) == (3, 2, D("66.7"))
    assert summary.overall == D("3.25")
    by_item = {i.item: i for i in summary.items}
    assert (by_item["prem_01"].answers, by_item["prem_01"].mean) == (2, D("3.00"))
    assert (by_item["prem_02"].answers, by_item["prem_02"].mean) == (2, D("3.50"))
    assert (by_item["prem_03"].answers, by_item["prem_03"].mean) == (1, D("4.00"))
    rate = IndicatorValue.unscoped.get(
        tenant=tenant, indicator="prem_response", period=JUNE, organisation=None
    )
    assert (rate.numerator, rate.denominator) == (D(2), D(3))
    assert BY_CODE["prem_response"].value(rate.numerator, rate.denominator) == D("66.7")
    score = IndicatorValue.unscoped.get(tenant=tenant, indicator="prem_score", period=JUNE, organisation=None)
    assert (score.numerator, score.denominator) == (D("6.50"), D(2))
    assert BY_CODE["prem_score"].value(score.numerator, score.denominator) == D("3.3")  # 3.25 to one decimal


def test_a_questionnaire_answered_the_month_after_it_was_sent_counts_in_the_month_sent(
    world_a: TenantWorld, eps: dict[str, Episode]
) -> None:
    tenant, admin = world_a.tenant, world_a.user(Role.IGO_ADMIN)
    content = (HEADER + "\n" + line(eps["P1"].pk, "2025-06-28", "2025-07-03", ["8"] * 14) + "\n").encode()
    with tenant_scope(tenant):
        prem_import(tenant=tenant, actor=admin, content=content, filename="prem.csv")
        indicators_recompute(tenant=tenant, start=JUNE, end=dt.date(2025, 8, 1))
        june = prem_summary(start=JUNE, end=JULY)
    score = IndicatorValue.unscoped.get(tenant=tenant, indicator="prem_score", period=JUNE, organisation=None)
    assert (score.numerator, score.denominator) == (D("8.00"), D(1))
    assert june.overall == D("8.00")  # the PREM page's June agrees with the stored indicator
    assert not IndicatorValue.unscoped.filter(tenant=tenant, indicator="prem_score", period=JULY).exists()


def test_bad_rows_store_nothing_and_name_row_and_field(
    world_a: TenantWorld, eps: dict[str, Episode], world_b: TenantWorld
) -> None:
    tenant, admin = world_a.tenant, world_a.user(Role.IGO_ADMIN)
    other = cast(Episode, EpisodeFactory(tenant=world_b.tenant))
    rows = [
        HEADER,
        line(eps["P1"].pk, "2025-06-02", "2025-06-20", ["4"] * 14),  # row 2: good
        line(eps["P2"].pk, "2025-06-02", "2025-06-25", ["11"]),  # row 3: score out of range (1-10)
        line(eps["P3"].pk, "2025-06-10", "2025-06-05", ["3"]),  # row 4: answered before sent
        line(other.pk, "2025-06-02", "", []),  # row 5: another IGO's episode: unknown
        line(eps["P1"].pk, "2025-06-02", "", ["3"]),  # row 6: items without a date answered
    ]
    with tenant_scope(tenant), pytest.raises(PremImportError) as refused:
        prem_import(tenant=tenant, actor=admin, content="\n".join(rows).encode())
    found = {(e.row, e.field) for e in refused.value.errors}
    assert found == {(3, "prem_01"), (4, "answered_on"), (5, "episode"), (6, "answered_on")}
    assert not PremResponse.unscoped.exists()


def test_a_second_questionnaire_for_an_episode_and_a_wrong_header_are_refused(
    world_a: TenantWorld, eps: dict[str, Episode]
) -> None:
    tenant, admin = world_a.tenant, world_a.user(Role.IGO_ADMIN)
    with tenant_scope(tenant):
        prem_import(tenant=tenant, actor=admin, content=good_file(eps))
        with pytest.raises(PremImportError) as again:
            prem_import(tenant=tenant, actor=admin, content=good_file(eps))
        assert {(e.row, e.field) for e in again.value.errors} == {
            (2, "episode"),
            (3, "episode"),
            (4, "episode"),
        }
        with pytest.raises(PremImportError) as header:
            prem_import(tenant=tenant, actor=admin, content=b"episode;sent_on\n1;2025-06-02\n")
        assert header.value.errors[0].row == 1
    assert PremResponse.unscoped.count() == 3


def test_the_prem_page_imports_for_administrators_only_and_shows_the_scores(
    world_a: TenantWorld, eps: dict[str, Episode], client_for
) -> None:
    from django.core.files.uploadedfile import SimpleUploadedFile

    url = f"/t/{world_a.tenant.slug}/quality/prem/?year=2025"
    assert client_for(world_a.user(Role.IGO_FINANCE)).get(url).status_code == 403
    admin = client_for(world_a.user(Role.IGO_ADMIN))
    bad = admin.post(
        url, {"file": SimpleUploadedFile("p.csv", b"episode;sent_on\n1;2025-06-02\n", "text/csv")}
    )
    assert bad.status_code == 400 and 'data-testid="import-errors"' in bad.content.decode()
    ok = admin.post(url, {"file": SimpleUploadedFile("p.csv", good_file(eps), "text/csv")})
    assert ok.status_code == 302
    with tenant_scope(world_a.tenant):  # as the sweep does: 2025 becomes a year with values to choose
        indicators_recompute(tenant=world_a.tenant, start=JUNE, end=JULY)
    page = admin.get(url).content.decode()
    # Dutch number format: response rate 2 of 3 = 66,7 %; overall (4.00 + 2.50) / 2 = 3,25
    assert "66,7" in page and "3,25" in page


@pytest.mark.parametrize(("score", "accepted"), [("1", True), ("10", True), ("0", False), ("11", False)])
def test_the_items_are_scored_on_the_published_scale_of_1_to_10(
    world_a: TenantWorld, eps: dict[str, Episode], score: str, accepted: bool
) -> None:
    """The PREM Geboortezorg answers run from 1 ("Nee, helemaal niet") to 10 ("Ja, helemaal")."""
    content = "\n".join([HEADER, line(eps["P1"].pk, "2025-06-02", "2025-06-20", [score])]).encode()
    tenant, admin = world_a.tenant, world_a.user(Role.IGO_ADMIN)
    with tenant_scope(tenant):
        if accepted:
            prem_import(tenant=tenant, actor=admin, content=content)
            assert PremResponse.objects.get(episode=eps["P1"]).mean_score() == D(score)
        else:
            with pytest.raises(PremImportError) as refused:
                prem_import(tenant=tenant, actor=admin, content=content)
            assert {(e.row, e.field) for e in refused.value.errors} == {(2, "prem_01")}
