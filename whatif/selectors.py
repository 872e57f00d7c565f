"""Reads of the what-if simulations (call inside tenant_scope)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.db.models import QuerySet
from django.utils.translation import gettext as _

from billing.models import AllocationKind, Contract
from igo.models import Insurer
from pregnancies.models import Episode, Phase
from providers.models import MemberOrganisation
from whatif.models import Simulation
from whatif.services import OVERHEAD, RESERVE, UNALLOCATED


def simulation_list() -> QuerySet[Simulation]:
    return Simulation.objects.select_related("created_by", "adopted_by")


def _names(simulation: Simulation) -> dict[str, str]:
    """Display names of the result keys: members, the IGO's parts, insurers and phases."""
    names = {
        OVERHEAD: str(AllocationKind.OVERHEAD.label),
        RESERVE: str(AllocationKind.RESERVE.label),
        UNALLOCATED: _("not divided (waits for finance)"),
    }
    names.update({str(pk): name for pk, name in MemberOrganisation.objects.values_list("pk", "name")})
    return names


def simulation_tables(simulation: Simulation) -> dict[str, list[dict[str, Any]]]:
    """The result tables with names and Decimals, each with a total row (sums exact to the cent)."""
    results = simulation.results or {}
    members = _names(simulation)
    insurers = {str(pk): name for pk, name in Insurer.objects.values_list("pk", "name")}
    phases = {str(v): str(label) for v, label in Phase.choices}
    tables: dict[str, list[dict[str, Any]]] = {}
    for table, names in (("members", members), ("insurers", insurers), ("phases", phases)):
        rows = [
            {
                "key": row["key"],
                "name": names.get(row["key"], row["key"]),
                "actual": Decimal(row["actual"]),
                "simulated": Decimal(row["simulated"]),
                "difference": Decimal(row["difference"]),
            }
            for row in results.get(table, [])
        ]
        tables[table] = rows
    return tables


def table_total(rows: list[dict[str, Any]]) -> dict[str, Decimal]:
    return {k: sum((row[k] for row in rows), Decimal("0.00")) for k in ("actual", "simulated", "difference")}


def simulation_episodes(simulation: Simulation) -> list[dict[str, Any]]:
    """The episodes that move most, with their clients (the caller logs the access)."""
    rows = (simulation.results or {}).get("episodes", [])
    names = _names(simulation)
    episodes = Episode.objects.select_related("client").in_bulk([row["episode"] for row in rows])
    out = []
    for row in rows:
        episode = episodes.get(row["episode"])
        if episode is None:
            continue
        out.append(
            {
                "episode": episode,
                "billed_actual": Decimal(row["billed_actual"]),
                "billed_simulated": Decimal(row["billed_simulated"]),
                "moved": Decimal(row["moved"]),
                "parts": [(names.get(k, k), Decimal(d)) for k, d in row["parts"].items()],
            }
        )
    return out


def simulation_draft_summary(simulation: Simulation) -> str:
    """One line on what the draft is."""
    draft = simulation.draft
    if simulation.kind == "contract":
        contract = Contract.objects.filter(pk=draft.get("contract")).first()
        return _("%(contract)s, new version from %(start)s") % {
            "contract": contract.name if contract else "?",
            "start": draft.get("valid_from", ""),
        }
    return _("Split rule %(year)s from %(start)s") % {
        "year": draft.get("year"),
        "start": draft.get("valid_from") or f"{draft.get('year')}-01-01",
    }
