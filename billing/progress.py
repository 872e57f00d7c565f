"""The progress the billing tasks leave in the cache for the pages that start them: the keys they write
under, and reading what is there (nothing there: not known, e.g. after the cache was cleared)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.core.cache import cache


def progress_key(tenant_id: int) -> str:
    """The billing run's progress: {"done", "total", "running"} from a run in one task, or the plan of a run
    spread over chunk tasks, {"run", "total", "chunks", "started"}, whose counters are under
    run_counter_keys."""
    return f"billing:progress:{tenant_id}"


def run_counter_keys(tenant_id: int, run: str) -> tuple[str, str]:
    """The counters of a spread run that its chunks raise as they end: episodes done, chunks ended."""
    return f"billing:progress:{tenant_id}:{run}:done", f"billing:progress:{tenant_id}:{run}:chunks"


def batch_progress_key(tenant_id: int) -> str:
    """The making of a month's batches: {"running", "period" (ISO date)}."""
    return f"billing:batches:{tenant_id}"


@dataclass
class RunProgress:
    known: bool
    running: bool
    done: int
    total: int

    @property
    def percent(self) -> int:
        if self.total:
            return min(100, self.done * 100 // self.total)
        return 0 if self.running else 100


def run_progress(*, tenant_id: int) -> RunProgress:
    """What the billing task last wrote to the cache for this IGO (under progress_key)."""
    data = cache.get(progress_key(tenant_id))
    if not isinstance(data, dict):
        return RunProgress(known=False, running=False, done=0, total=0)
    if data.get("run"):  # spread over chunks: what the chunks that ended counted
        done_key, chunks_key = run_counter_keys(tenant_id, str(data["run"]))
        counters = cache.get_many([done_key, chunks_key])
        total = int(data.get("total") or 0)
        return RunProgress(
            known=True,
            running=int(counters.get(chunks_key) or 0) < int(data.get("chunks") or 0),
            done=min(total, int(counters.get(done_key) or 0)),
            total=total,
        )
    return RunProgress(
        known=True,
        running=bool(data.get("running")),
        done=int(data.get("done") or 0),
        total=int(data.get("total") or 0),
    )


@dataclass
class BatchProgress:
    known: bool
    running: bool
    period: dt.date | None
    # What the last making did (billing.services.batches.batches_month_report), once it is done.
    report: dict[str, Any] | None = None


def batch_progress(*, tenant_id: int) -> BatchProgress:
    """What the batch task last wrote to the cache for this IGO (under batch_progress_key)."""
    data = cache.get(batch_progress_key(tenant_id))
    if not isinstance(data, dict):
        return BatchProgress(known=False, running=False, period=None)
    try:
        period = dt.date.fromisoformat(str(data.get("period")))
    except ValueError:
        period = None
    report = data.get("report")
    return BatchProgress(
        known=True,
        running=bool(data.get("running")),
        period=period,
        report=_batch_report(report) if isinstance(report, dict) else None,
    )


def _batch_report(report: dict[str, Any]) -> dict[str, Any]:
    """The stored report with its months as dates and its amounts as Decimals, for the template."""
    return {
        **report,
        "made_total": Decimal(str(report.get("made_total") or "0")),
        "later": [
            {
                **row,
                "month": dt.date.fromisoformat(str(row["month"])),
                "total": Decimal(str(row.get("total") or "0")),
            }
            for row in report.get("later") or []
        ],
    }


# --- payout runs (issue 14: payouts) -------------------------------------------------------------------


def payout_progress_key(tenant_id: int) -> str:
    """The preparing of a month's payout run: {"running", "period" (ISO date), "done", "total", "run" (id of
    the run made), "error" (why it was refused)}."""
    return f"billing:payouts:{tenant_id}"


@dataclass
class PayoutProgress:
    known: bool
    running: bool
    period: dt.date | None
    done: int = 0
    total: int = 0
    run_id: int | None = None
    error: str = ""

    @property
    def percent(self) -> int:
        return min(100, self.done * 100 // self.total) if self.total else 0


def payout_progress(*, tenant_id: int) -> PayoutProgress:
    """What the payout task last wrote to the cache for this IGO (under payout_progress_key)."""
    data = cache.get(payout_progress_key(tenant_id))
    if not isinstance(data, dict):
        return PayoutProgress(known=False, running=False, period=None)
    try:
        period = dt.date.fromisoformat(str(data.get("period")))
    except ValueError:
        period = None
    run_id = data.get("run")
    return PayoutProgress(
        known=True,
        running=bool(data.get("running")),
        period=period,
        done=int(data.get("done") or 0),
        total=int(data.get("total") or 0),
        run_id=int(run_id) if run_id else None,
        error=str(data.get("error") or ""),
    )


def payout_progress_forget(*, tenant_id: int) -> None:
    """Before a new run is queued: the page then waits for its word, not the last run's."""
    cache.delete(payout_progress_key(tenant_id))
