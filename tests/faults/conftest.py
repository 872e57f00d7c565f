"""The fault-injection scenarios take minutes (real workers started and killed): they run when asked for,
with `-m faults` (e.g. `scripts/test.sh -m faults`) or IGO_FAULTS=1, not in the default run."""

from __future__ import annotations

import os

import pytest


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if "faults" in (config.option.markexpr or "") or os.environ.get("IGO_FAULTS") == "1":
        return
    skip = pytest.mark.skip(reason="fault injection: run with -m faults (docs/operations.md)")
    for item in items:
        if item.get_closest_marker("faults"):
            item.add_marker(skip)
