"""The demo shows the monitor with something in it, and labels its reference data as examples."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command

from igo.models import Tenant
from igo.tenancy import tenant_scope
from neutrality.models import ReferenceTariff
from neutrality.selectors import neutrality_year
from tests.scenarios.clock import local

pytestmark = [pytest.mark.django_db, pytest.mark.clock(local(2027, 6, 15, 10, 0))]


def test_the_demo_monitor_compares_this_year_and_its_tariffs_say_they_are_examples():
    call_command("seed_demo", stdout=io.StringIO())
    assert ReferenceTariff.objects.exists()
    assert all(
        t.code.startswith("DEMO-") and "not an NZa tariff" in t.source_note
        for t in ReferenceTariff.objects.all()
    )
    tenant = Tenant.objects.order_by("slug").first()
    with tenant_scope(tenant):
        result = neutrality_year(year=2027)
    assert result.total.monodisciplinary > 0 and result.total.integral > 0
    assert any(m.monodisciplinary > 0 for m in result.members)
