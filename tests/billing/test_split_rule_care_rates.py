"""A phase divided by care needs an internal rate: a split rule without one is refused at the phase's
field, and a line that still finds no rated care (a rule stored before this check) says in the work queue
what to do, with a link to a new version of the split rule."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from billing import services
from billing.models import InternalRate, SplitRule, WorkItem
from igo.models import Role
from igo.tenancy import tenant_scope
from pregnancies.models import EventType
from tests.scenarios.billing import D, Setup, ordinary, run

pytestmark = pytest.mark.django_db


def _create(s: Setup, rates: dict[str, str], **phases: dict) -> SplitRule:  # type: ignore[type-arg]
    with tenant_scope(s.tenant):
        return services.split_rule_create(
            tenant=s.tenant,
            actor=s.admin,
            year=2027,
            phases=phases or {"prenatal": {"method": "care"}, "postnatal": {"method": "care"}},
            rates={s.types[code].pk: D(rate) for code, rate in rates.items()},
        )


def test_a_care_phase_without_a_rate_of_its_own_is_refused_at_that_phase(s):
    before = SplitRule.unscoped.count()
    # Rates for prenatal care only; a zero rate counts as none.
    with pytest.raises(ValidationError) as exc:
        _create(s, {"PRE_CHECK": "50", "POST_VISIT": "0"})
    assert set(exc.value.message_dict) == {"postnatal"}
    assert "tarief" in exc.value.message_dict["postnatal"][0]
    assert SplitRule.unscoped.count() == before


def test_a_rate_of_an_inactive_entry_does_not_count_and_one_without_a_phase_counts_everywhere(s):
    EventType.unscoped.filter(pk=s.types["POST_VISIT"].pk).update(is_active=False)
    with pytest.raises(ValidationError) as exc:
        _create(s, {"PRE_CHECK": "50", "POST_VISIT": "60"})
    assert set(exc.value.message_dict) == {"postnatal"}
    EventType.unscoped.filter(pk=s.types["KZ_HOURS"].pk).update(phase="")  # allowed in every phase
    rule = _create(s, {"KZ_HOURS": "35"})
    assert rule.year == 2027


def test_the_form_shows_the_error_at_the_phase_method(s, world_a, client_for):
    client = client_for(world_a.user(Role.IGO_FINANCE))
    url = reverse("split_rule_create", kwargs={"tenant_slug": s.tenant.slug})
    response = client.post(
        url,
        {
            "year": "2027",
            "method_prenatal": "care",
            "method_natal": "fixed",
            f"pct_natal_{s.practice.pk}": "100",
            "method_postnatal": "care",
            f"rate_{s.types['PRE_CHECK'].pk}": "50",
        },
    )
    assert response.status_code == 400
    assert list(response.context["form"].errors) == ["method_postnatal"]
    assert not SplitRule.unscoped.filter(tenant=s.tenant, year=2027).exists()


def test_the_work_item_says_what_to_do_and_links_to_a_new_split_rule_version(s, world_a, client_for):
    # A rule stored before rates were required: no rate for prenatal care.
    InternalRate.unscoped.filter(rule=s.rule, event_type__phase="prenatal").delete()
    ep = ordinary(s)
    run(s)
    item = WorkItem.unscoped.get(episode=ep, phase="prenatal", reason="no_care_basis")
    assert "nieuwe versie van het verdeelmodel" in item.message
    client = client_for(world_a.user(Role.IGO_FINANCE))
    page = client.get(reverse("work_queue", kwargs={"tenant_slug": s.tenant.slug})).content.decode()
    link = reverse("split_rule_create", kwargs={"tenant_slug": s.tenant.slug})
    assert f'href="{link}" data-testid="split-rule-new-{item.pk}"' in page
