"""What apps above igo add to the IGO dashboard. igo sits at the bottom of the layers and imports none of
them; an app registers a function here when Django starts (its AppConfig.ready), and the dashboard view asks
every registered function for its part of the page."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from igo.http import TenantRequest

# A function of the request that returns the template variables it adds (nothing: an empty dict).
DashboardPart = Callable[[TenantRequest], dict[str, Any]]

_parts: list[DashboardPart] = []


def register(part: DashboardPart) -> DashboardPart:
    """Add `part` to the dashboard (once, however often an app's ready() runs)."""
    if part not in _parts:
        _parts.append(part)
    return part


def parts_for(request: TenantRequest) -> dict[str, Any]:
    context: dict[str, Any] = {}
    for part in _parts:
        context.update(part(request))
    return context
