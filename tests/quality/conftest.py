"""Fixtures of the quality tests: the hand-made IGO of the indicator engine (tests.scenarios.indicators)."""

from __future__ import annotations

import pytest

from tests.scenarios.indicators import Data, dataset
from tests.scenarios.people import TenantWorld


@pytest.fixture
def d(world_a: TenantWorld) -> Data:
    return dataset(world_a)
