"""The demo's births carry the Kernset Geboortezorg fields (issue 20), so its quality pages show real values.

Seeded at 4 December 2026, 09:00. IGO Rijnmond's births of 2026: Anouk 17 Sep, Iris 26 Sep, Noor 4 Oct,
Femke 12 Oct, Julia 23 Oct, Roos 24 Nov, Emma 2 Dec (demo.care). Worked out by hand from demo.care's
HISTORY_KERNSET and demo.quality's OUTCOMES, for the year 2026 (numerator / denominator):

  caesarean             Noor                                                         1/7
    by Robson group     1 (Anouk, Noor, Roos, Emma) 1/4; 2 (Iris, induced) 0/1; 3 (Femke, Julia) 0/2
  induction             Iris                                                         1/7
  severe_perineal_tear  vaginal births 6 (all but Noor): Iris third degree           1/6
  low_apgar             Noor 6 at 5 minutes                                          1/7
  severe_pph            recorded for the six HISTORY women (not Emma): Iris 1,150 ml 1/6, completeness 6/7
  severe_maternal_morb. "none of the LEMMoN criteria" for the same six: 0/6 = 0.0 per 1,000, completeness 6/7
  transfer_in_labour    first line at the start of labour 7: Noor to the hospital    1/7
  breastfeeding         kraamzorg ended: Anouk, Iris, Noor, Femke, Julia; exclusive Anouk Noor Julia 3/5,
                        any 4/5 (Femke none)
  kraamzorg below ind.  42 h delivered each; in force: 49 (Anouk, Noor, Femke), 56 (Iris, re-indicated),
                        40 (Julia, re-indicated) -> 4/5
"""

from __future__ import annotations

import io
from decimal import Decimal

import pytest
from django.core.management import call_command

from igo.models import Tenant
from igo.tenancy import tenant_scope
from pregnancies.models import Birth, Episode, KraamzorgIndication
from pregnancies.plausibility import check, robson_of
from quality.selectors import indicator_year
from tests.scenarios.clock import local

pytestmark = [pytest.mark.django_db, pytest.mark.clock(local(2026, 12, 4, 9, 0))]
D = Decimal

EXPECTED = {
    "caesarean": (1, 7),
    "induction": (1, 7),
    "severe_perineal_tear": (1, 6),
    "low_apgar": (1, 7),
    "severe_pph": (1, 6),
    "severe_maternal_morbidity": (0, 6),
    "transfer_in_labour": (1, 7),
    "breastfeeding_exclusive": (3, 5),
    "breastfeeding_any": (4, 5),
    "kraamzorg_below_indication": (4, 5),
}


def test_the_demo_births_carry_the_kernset_fields_and_the_quality_pages_show_them() -> None:
    call_command("seed_demo", stdout=io.StringIO())
    tenant = Tenant.objects.get(slug="igo-rijnmond")
    with tenant_scope(tenant):
        delivered = list(
            Episode.objects.filter(births__isnull=False)
            .distinct()
            .select_related("client")
            .order_by("due_date")
        )
        groups = {}
        for episode in delivered:
            births = list(Birth.objects.filter(episode=episode))
            assert episode.presentation and episode.labour_onset
            assert all(b.apgar_1 is not None and b.apgar_5 is not None for b in births)
            assert not check(episode, births, list(episode.line_transfers.all())), episode.client
            groups[episode.client.given_names] = robson_of(episode, births)
        assert groups == {"Anouk": 1, "Iris": 2, "Noor": 1, "Femke": 3, "Julia": 3, "Roos": 1, "Emma": 1}
        iris = KraamzorgIndication.objects.filter(episode__client__given_names="Iris").order_by(
            "indicated_on"
        )
        assert [i.hours for i in iris] == [49, 56]
        for code, (num, den) in EXPECTED.items():
            item = indicator_year(code=code, year=2026)
            assert item.total is not None, code
            assert (item.total.numerator, item.total.denominator) == (D(num), D(den)), code
        pph = indicator_year(code="severe_pph", year=2026).total
        assert pph is not None and (pph.records, pph.population) == (6, 7)
        smm = indicator_year(code="severe_maternal_morbidity", year=2026).total
        assert smm is not None and (smm.records, smm.population) == (6, 7)
        assert smm.value == D("0.0")  # the dashboard shows a value, not "not computed"
        robson = {s.group: s.cell for s in indicator_year(code="caesarean", year=2026).robson if s.cell}
        assert {g: (c.numerator, c.denominator) for g, c in robson.items()} == {
            "robson_1": (D(1), D(4)), "robson_2": (D(0), D(1)), "robson_3": (D(0), D(2)),
        }  # fmt: skip
