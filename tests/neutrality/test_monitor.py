"""The budget-neutrality figures of the worked example (tests.scenarios.neutrality), computed by hand."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.utils import translation

from igo.tenancy import tenant_scope
from neutrality.models import DbcAmount
from neutrality.selectors import NeutralityRow, neutrality_year
from tests.scenarios.neutrality import Neutral, neutral

pytestmark = pytest.mark.django_db
D = Decimal


@pytest.fixture
def n(world_a) -> Neutral:
    return neutral(world_a)


def _cells(n: Neutral, year: int) -> dict[tuple[str, str | None], NeutralityRow]:
    with tenant_scope(n.b.tenant), translation.override("en"):
        result = neutrality_year(year=year)
    return {(r.organisation, r.insurer if not r.is_total else None): r for r in result.rows} | {
        ("*", None): result.total
    }


def test_the_worked_example_of_2026(n):
    """Monodisciplinary 2026, per member and insurer:
    - De Maas / ZK: Anna's prenatal trajectory VK-PRE once (three checks) at the 2026 tariff 520.00; the
      ECHO (VK-ECHO has no tariff) and the POST_VISIT (no mapping) are missing, the INFO counts for nothing.
    - De Maas / VGZ: Britt's trajectory opened on 20-11-2025, so her check of 15-01-2026 adds nothing: 0.00.
    - Hospital / ZK: DBC 149999002 once: 1000.00.
    - Kraam / ZK: 8.5 h + 4 h at 60.00 = 510.00 + 240.00 = 750.00 (the voided 100 h do not count).
    - Kraam / VGZ: 2 h on 01-01-2026 00:30 + 10 h at 60.00 = 120.00 + 600.00 = 720.00.
    Integral (the ledger's parts of lines that ended in 2026, the postnatal line as divided anew):
    - De Maas / ZK 1000 + 300 + 350 = 1650.00; De Maas / VGZ 1100.00;
    - Hospital / ZK 100 + 500 + 50 = 650.00; its VGZ part (800.00) is held back: no row;
    - Kraam / ZK 1000.00; Kraam / VGZ 1400.00 - 1400.00 (the credited line and its credit) = 0.00.
    Differences and ratios: 1650 - 520 = 1130.00, 1650 / 520 = 317.3 %; 650 - 1000 = -350.00, 65.0 %;
    1000 - 750 = 250.00, 133.3 %; 0 - 720 = -720.00, 0.0 %; De Maas / VGZ has no ratio.
    Totals: mono 520 + 1000 + 750 + 720 = 2990.00; integral 1650 + 1100 + 650 + 1000 = 4400.00."""
    c = _cells(n, 2026)
    maas, kraam, hosp = n.b.maas.name, n.b.kraam.name, n.b.hospital.name
    expected = {
        (maas, "Zilveren Kruis"): ("520.00", "1650.00", "1130.00", "317.3", 2),
        (maas, "VGZ"): ("0.00", "1100.00", "1100.00", None, 0),
        (hosp, "Zilveren Kruis"): ("1000.00", "650.00", "-350.00", "65.0", 0),
        (kraam, "Zilveren Kruis"): ("750.00", "1000.00", "250.00", "133.3", 0),
        (kraam, "VGZ"): ("720.00", "0.00", "-720.00", "0.0", 0),
    }
    for key, (mono, integral, diff, ratio, missing) in expected.items():
        row = c.pop(key)
        assert (row.monodisciplinary, row.integral, row.difference) == (D(mono), D(integral), D(diff)), key
        assert row.ratio_pct == (None if ratio is None else D(ratio)), key
        assert row.missing_events == missing, key
    assert c[(maas, None)].monodisciplinary == D("520.00") and c[(maas, None)].integral == D("2750.00")
    assert c[(hosp, None)].integral == D("650.00")
    assert c[(kraam, None)].monodisciplinary == D("1470.00")
    total = c[("*", None)]
    assert (total.monodisciplinary, total.integral, total.missing_events) == (D("2990.00"), D("4400.00"), 2)
    assert set(c) == {(maas, None), (hosp, None), (kraam, None), ("*", None)}, "no other rows"


def test_missing_reference_data_is_named_never_estimated(n):
    """The ECHO's prestatie has no tariff and the POST_VISIT no mapping: both counted and named. Without the
    DBC amount the hospital's delivery is missing too: its monodisciplinary amount is 0.00, not a guess."""
    row = _cells(n, 2026)[(n.b.maas.name, "Zilveren Kruis")]
    assert row.missing_list == ["no mapping: POST_VISIT", "verloskunde:VK-ECHO"]
    DbcAmount.unscoped.filter(tenant=n.b.tenant).delete()
    hosp = _cells(n, 2026)[(n.b.hospital.name, "Zilveren Kruis")]
    assert (hosp.monodisciplinary, hosp.missing_events, hosp.missing_list) == (
        D("0.00"),
        1,
        ["dbc:149999002"],
    )


def test_dated_tariffs_pick_the_version_valid_on_the_care_date(n):
    """2025: Britt's trajectory VK-PRE opened on 20-11-2025 at the 2025 version, 500.00 (not 520.00); her 2 h
    of 31-12-2025 23:30 at the 2025 hourly tariff, 2 × 55.00 = 110.00. The 2 h of 01-01-2026 00:30 Amsterdam
    (31-12-2025 in UTC) are care of 2026 at 60.00 (see the 2026 example). No line ended in 2025: integral 0."""
    c = _cells(n, 2025)
    maas, kraam = c[(n.b.maas.name, "VGZ")], c[(n.b.kraam.name, "VGZ")]
    assert (maas.monodisciplinary, maas.integral) == (D("500.00"), D("0.00"))
    assert (kraam.monodisciplinary, kraam.integral) == (D("110.00"), D("0.00"))
    assert c[("*", None)].monodisciplinary == D("610.00")


def test_a_tariff_ending_before_the_care_leaves_it_missing(n):
    """Close the 2026 hourly tariff on 02-06-2026: the 03-06 hours (4 h) find no version and are missing;
    the 02-06 hours (8.5 × 60.00 = 510.00) still count."""
    from neutrality.models import ReferenceTariff

    ReferenceTariff.objects.filter(code="KZ-UUR", valid_to__isnull=True).update(valid_to="2026-06-02")
    row = _cells(n, 2026)[(n.b.kraam.name, "Zilveren Kruis")]
    assert (row.monodisciplinary, row.missing_events, row.missing_list) == (
        D("510.00"),
        1,
        ["kraamzorg:KZ-UUR"],
    )
