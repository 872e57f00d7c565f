"""Loading the operator's reference tariffs from CSV (manage.py reference_tariffs_load): all rows or none."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command

from neutrality.models import ReferenceTariff

pytestmark = pytest.mark.django_db

HEADER = "discipline,code,description,valid_from,valid_to,max_tariff,unit,source\n"


def test_rows_are_added_then_changed(tmp_path):
    path = tmp_path / "tariffs.csv"
    path.write_text(
        HEADER
        + "verloskunde,VK-PRE,Prenatale zorg,2026-01-01,,520.00,trajectory,example\n"
        + 'kraamzorg,KZ-UUR,Kraamzorg per uur,2026-01-01,2026-12-31,"60,50",hour,example\n',
        encoding="utf-8",
    )
    call_command("reference_tariffs_load", str(path))
    assert ReferenceTariff.objects.get(code="KZ-UUR").max_tariff == Decimal("60.50")
    path.write_text(HEADER + "verloskunde,VK-PRE,Prenatale zorg,2026-01-01,,530.00,trajectory,v2\n")
    call_command("reference_tariffs_load", str(path))
    assert ReferenceTariff.objects.count() == 2
    assert ReferenceTariff.objects.get(code="VK-PRE").max_tariff == Decimal("530.00")


@pytest.mark.parametrize(
    "bad",
    [
        "medisch,X,x,2026-01-01,,1.00,hour,x",  # unknown discipline
        "kraamzorg,X,x,01-01-2026,,1.00,hour,x",  # date not ISO
        "kraamzorg,X,x,2026-01-01,,abc,hour,x",  # not an amount
        "kraamzorg,X,x,2026-01-01,,1.00,week,x",  # unknown unit
        "kraamzorg,X,x,2026-02-01,2026-01-01,1.00,hour,x",  # ends before it starts
    ],
)
def test_a_wrong_row_stores_nothing(tmp_path, bad):
    path = tmp_path / "tariffs.csv"
    path.write_text(
        HEADER + "verloskunde,VK-PRE,Prenatale zorg,2026-01-01,,520.00,trajectory,x\n" + bad + "\n"
    )
    with pytest.raises(CommandError, match=r"(row|regel) 3"):
        call_command("reference_tariffs_load", str(path))
    assert not ReferenceTariff.objects.exists()
