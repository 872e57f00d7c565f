"""Fixtures of the pregnancy tests: a signed-in client per role on the `care` world (tests/conftest.py), and
the smaller world of the care API's tests (tests.scenarios.care_api)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client as HttpClient

from igo.models import Insurer
from tests.scenarios.care import Care
from tests.scenarios.care_api import Care as ApiCare
from tests.scenarios.care_api import make_care
from tests.scenarios.people import TenantWorld


@pytest.fixture
def as_role(care: Care, client_for: Any) -> Callable[[str], HttpClient]:
    return lambda role: client_for(care.user(role))


@pytest.fixture
def care_a(world_a: TenantWorld, insurer: Insurer) -> ApiCare:
    return make_care(world_a, insurer)
