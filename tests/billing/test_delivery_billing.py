"""The billing run sees a corrected delivery (issue 17): correcting the start of active labour moves the
end of the prenatal phase and the start of the natal phase, and the next run bills the new phases.

The IGO is that of tests.scenarios.partial (Zilveren Kruis from 2026). Intake 5 January 2026; the home
birth is recorded on 10 June (labour 08:00, child 10:00, placenta 10:20) and corrected two days later:
labour began the evening before, at 22:00 on 9 June.
"""

from __future__ import annotations

import datetime as dt

import pytest

from igo.models import Role
from igo.tenancy import tenant_scope
from pregnancies.delivery import Child, delivery_correct, delivery_record
from providers.models import Professional
from tests.scenarios.billing import at, pregnancy
from tests.scenarios.clock import local, travel
from tests.scenarios.partial import PartialWorld, lines, partial_world

pytestmark = pytest.mark.clock(local(2026, 6, 10, 12))


@pytest.fixture
def w(world_a) -> PartialWorld:
    return partial_world(world_a)


def test_the_billing_run_sees_the_corrected_birth(w):
    midwife = w.world.user(Role.MIDWIFE)
    Professional.unscoped.filter(pk=w.pros[w.practice.pk].pk).update(user=midwife)
    ep = w.episode(**pregnancy(dt.date(2026, 1, 5)))
    for week in (2, 6, 10):
        w.log(ep, "PRE_CHECK", w.practice, at(2026, 1, 5, 10) + dt.timedelta(weeks=week))
    delivery = {
        "children": [Child(born_at=at(2026, 6, 10, 10))],
        "placenta_at": at(2026, 6, 10, 10, 20),
        "place": "home",
        "line": "first",
    }
    with tenant_scope(w.tenant):
        delivery_record(episode=ep, actor=midwife, labour_started_at=at(2026, 6, 10, 8), **delivery)
    with travel(local(2026, 6, 11, 9)):
        w.run(dt.date(2026, 6, 11))
    before = lines(ep)
    # Prenatal care ended with the start of labour on 10 June; the natal phase ran on 10 June.
    assert {p: (x.service_start, x.service_end) for p, x in before.items()} == {
        "prenatal": (dt.date(2026, 1, 5), dt.date(2026, 6, 10)),
        "natal": (dt.date(2026, 6, 10), dt.date(2026, 6, 10)),
    }
    with travel(local(2026, 6, 12, 10)), tenant_scope(w.tenant):
        delivery_correct(
            episode=ep,
            actor=midwife,
            reason="labour began the evening before",
            labour_started_at=at(2026, 6, 9, 22),
            **delivery,
        )
    with travel(local(2026, 6, 12, 11)):
        w.run(dt.date(2026, 6, 12))
    after = lines(ep)
    assert {p: (x.service_start, x.service_end) for p, x in after.items()} == {
        "prenatal": (dt.date(2026, 1, 5), dt.date(2026, 6, 9)),
        "natal": (dt.date(2026, 6, 9), dt.date(2026, 6, 10)),
    }
    assert after["prenatal"].pk != before["prenatal"].pk and after["natal"].pk != before["natal"].pk
