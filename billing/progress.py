"""The progress the billing tasks leave in the cache for the pages that start them: the keys they write
under, and reading what is there (nothing there: not known, e.g. after the cache was cleared)."""

from __future__ import annotations

import datetime as dt
import uuid
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


# --- retroactive tariff changes confirmed in the background (billing.tasks.contract_reprice_job) ------------

REPRICE_TTL = 24 * 3600  # how long a job's word stays for its page
REPRICE_LOCK_TTL = 2 * 3600  # a job that never ends (a lost worker) blocks a new one this long at most
REPRICE_OPEN = ("queued", "running")


def reprice_job_key(tenant_id: int, job: str) -> str:
    """One confirmation: {"contract", "user", "state" (queued, running, done, failed), "params" (the form's
    values, to show the preview again after a refusal), "result", "error", "stale"}."""
    return f"billing:reprice:{tenant_id}:job:{job}"


def reprice_lock_key(tenant_id: int, contract_id: int) -> str:
    """The job queued or running for a contract: a second confirmation joins it instead of starting one."""
    return f"billing:reprice:{tenant_id}:contract:{contract_id}"


@dataclass
class RepriceJob:
    job: str
    contract_id: int
    user_id: int
    state: str
    params: dict[str, Any]
    result: dict[str, Any] | None = None
    error: str = ""
    stale: bool = False

    @property
    def open(self) -> bool:
        return self.state in REPRICE_OPEN

    @property
    def rows(self) -> list[Any]:
        """The stored result per phase and in total, as the preview's table shows them."""
        from billing.services.repricing import PhaseImpact

        rows = []
        for row in (self.result or {}).get("rows", []):
            rows.append(
                PhaseImpact(
                    row["phase"],
                    unsent=row["unsent"],
                    sent=row["sent"],
                    rejected=row["rejected"],
                    unchanged=row["unchanged"],
                    old_amount=Decimal(row["old"]),
                    new_amount=Decimal(row["new"]),
                )
            )
        return rows

    @property
    def form_data(self) -> dict[str, str]:
        """The form's fields as they were sent (without the preview's fingerprint): to ask for the preview
        again after a refusal."""
        data = {k: str(self.params.get(k) or "") for k in ("valid_from", "valid_until", "name")}
        for phase, (code, amount) in dict(self.params.get("tariffs") or {}).items():
            data[f"code_{phase}"], data[f"amount_{phase}"] = str(code), str(amount)
        return data

    @property
    def valid_from(self) -> dt.date | None:
        start = (self.result or {}).get("valid_from")
        return dt.date.fromisoformat(str(start)) if start else None

    @property
    def difference(self) -> Decimal:
        return Decimal(str((self.result or {}).get("difference") or "0"))


def reprice_job_get(*, tenant_id: int, job: str) -> RepriceJob | None:
    """The job of this IGO with this id; None when unknown (another IGO's, expired or made up)."""
    data = cache.get(reprice_job_key(tenant_id, job))
    if not isinstance(data, dict):
        return None
    return RepriceJob(
        job=job,
        contract_id=int(data["contract"]),
        user_id=int(data.get("user") or 0),
        state=str(data.get("state") or "queued"),
        params=dict(data.get("params") or {}),
        result=data.get("result"),
        error=str(data.get("error") or ""),
        stale=bool(data.get("stale")),
    )


def reprice_job_start(
    *, tenant_id: int, contract_id: int, user_id: int, params: dict[str, Any]
) -> tuple[str, bool]:
    """A new job for the contract, or the one already queued or running for it (a double submit joins
    it): (its id, whether it is new). The lock is taken atomically (cache.add), so two requests at once
    make one job."""
    job = str(uuid.uuid4())
    lock = reprice_lock_key(tenant_id, contract_id)
    data = {"contract": contract_id, "user": user_id, "state": "queued", "params": params}
    cache.set(reprice_job_key(tenant_id, job), data, REPRICE_TTL)
    for _attempt in range(2):
        if cache.add(lock, job, REPRICE_LOCK_TTL):
            return job, True
        holder = cache.get(lock)
        running = reprice_job_get(tenant_id=tenant_id, job=str(holder)) if holder else None
        if running is not None and running.open:
            cache.delete(reprice_job_key(tenant_id, job))
            return running.job, False
        cache.delete(lock)  # the holder ended without letting go (or expired): take it over
    cache.set(lock, job, REPRICE_LOCK_TTL)
    return job, True


def reprice_job_update(*, tenant_id: int, job: str, **changes: Any) -> None:
    """Write the job's new state; once it ended, the contract is free for a new job."""
    key = reprice_job_key(tenant_id, job)
    data = cache.get(key)
    if not isinstance(data, dict):
        return
    data.update(changes)
    cache.set(key, data, REPRICE_TTL)
    if data.get("state") not in REPRICE_OPEN:
        lock = reprice_lock_key(tenant_id, int(data["contract"]))
        if cache.get(lock) == job:
            cache.delete(lock)
