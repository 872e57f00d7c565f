"""The books check: do the claim lines, their allocations and the batches agree with each other and with
the care paths, to the cent? Read-only; for operators after an incident and for the fault-injection tests.

What an IGO's controller has to be able to trust, checked with aggregates in the database (one query per
rule, whatever the number of rows), except the ended phases, which follow from each episode's care-path
dates and contract rules exactly as the billing run computes them (episodes are read in chunks):

- every ended billable phase of an episode the billing run has seen since its last change has exactly one
  current debit line, or an open work item that says why not, and no phase has two;
- a debit is priced at its tariff times its percentage;
- the current allocations of a line add up to the line, with parts of the line's sign; a withdrawn line
  has none; a current debit without parts has an open work item that says why;
- a credit (or counter line) mirrors the line it corrects: the opposite amount and the opposite parts;
  a line that was sent and is no longer current has been credited;
- a batch's counts and totals are the sum of its lines; its lines are copies of their claim lines for
  the batch's insurer; it has its three files, whose content matches the stored SHA-256;
- over released batches the insurer holds at most one claim per episode and phase (debits minus credits
  is 0 or 1), a credit goes out only after the line it corrects; the lines of a released batch are marked
  sent, and a line marked sent is in a released batch.

Episodes changed after the billing run last looked at them are counted as pending, not as problems: the
next sweep brings them up to date.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from django.db import connection
from django.db.models import (
    Case,
    Count,
    DecimalField,
    Exists,
    F,
    IntegerField,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Sum,
    Value,
    When,
)
from django.db.models.functions import Coalesce, Round
from django.utils import timezone
from django.utils.translation import gettext as _

from billing.models import (
    SPLIT_REASONS,
    Allocation,
    BatchFile,
    BatchFileKind,
    BatchLine,
    BatchStatus,
    ClaimBatch,
    ClaimLine,
    Contract,
    EpisodeBillingState,
    LineStatus,
    PartialChoice,
    PartialDecision,
    PartialRule,
    Sign,
    WorkItem,
)
from billing.services import rollup
from igo.dates import month_end
from igo.models import Tenant
from pregnancies.models import ClientInsurance, Episode

SENT_STATES = (LineStatus.SENT, LineStatus.ACCEPTED, LineStatus.REJECTED)
CHUNK = 2000
ZERO = Decimal("0.00")


@dataclass
class Problem:
    """One thing that does not reconcile: a code, a sentence for the operator, and the rows involved."""

    kind: str
    message: str
    ids: list[int] = field(default_factory=list)


@dataclass
class BooksReport:
    tenant: str = ""
    period: str = ""
    episodes: int = 0
    pending_episodes: int = 0  # changed after the billing run last looked: not judged yet
    ended_phases: int = 0
    claimed_phases: int = 0
    waiting_phases: int = 0  # not claimed, with an open work item that says why
    lines: int = 0
    credits: int = 0
    allocated_lines: int = 0
    batches: int = 0
    released_batches: int = 0
    batch_lines: int = 0
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def kinds(self) -> dict[str, int]:
        counts: dict[str, int] = defaultdict(int)
        for p in self.problems:
            counts[p.kind] += 1
        return dict(counts)

    def add(self, kind: str, message: str, ids: Iterable[int]) -> None:
        self.problems.append(Problem(kind, message, list(ids)))


def _period_bounds(period: date | None) -> tuple[date, date] | None:
    return (period.replace(day=1), month_end(period)) if period else None


def books_check(tenant: Tenant | None = None, period: date | None = None) -> BooksReport:
    """Check the books of one IGO (or all), optionally only the prestaties that ended in one month and
    the batches of that month. Cross-tenant on purpose: works without a tenant in scope."""
    bounds = _period_bounds(period)
    report = BooksReport(
        tenant=tenant.slug if tenant else "", period=period.strftime("%Y-%m") if period else ""
    )
    of_tenant = Q(tenant=tenant) if tenant else Q()
    lines = ClaimLine.unscoped.filter(of_tenant)
    if bounds:
        lines = lines.filter(service_end__range=bounds)
    batches = ClaimBatch.unscoped.filter(of_tenant)
    if bounds:
        batches = batches.filter(period=bounds[0])
    _check_phases(report, of_tenant, bounds)
    _check_lines(report, lines)
    _check_allocations(report, lines)
    _check_credits(report, lines)
    _check_batches(report, batches)
    _check_sending(report, lines, batches)
    return report


# --- ended phases against current debits -------------------------------------------------------


def _check_phases(report: BooksReport, of_tenant: Q, bounds: tuple[date, date] | None) -> None:
    duplicates = (
        ClaimLine.unscoped.filter(of_tenant, is_current=True, sign=Sign.DEBIT, episode__isnull=False)
        .order_by()  # no default ordering in the GROUP BY
        .values("episode_id", "phase")
        .annotate(n=Count("id"))
        .filter(n__gt=1)
    )
    for row in duplicates:
        ids = ClaimLine.unscoped.filter(
            episode_id=row["episode_id"], phase=row["phase"], is_current=True, sign=Sign.DEBIT
        ).values_list("pk", flat=True)
        report.add(
            "duplicate_claim",
            _("Phase %(phase)s of episode %(episode)s has %(n)s current debit lines instead of one.")
            % {"phase": row["phase"], "episode": row["episode_id"], "n": row["n"]},
            ids,
        )
    contracts: dict[int, list[Contract]] = defaultdict(list)
    for c in (
        Contract.unscoped.filter(of_tenant)
        .prefetch_related(Prefetch("partial_rules", queryset=PartialRule.unscoped.all()))
        .order_by("valid_from")
    ):
        contracts[c.tenant_id].append(c)
    episodes = Episode.unscoped.filter(of_tenant).order_by("pk")
    if bounds:  # a phase cannot end before the intake
        episodes = episodes.filter(intake_date__lte=bounds[1])
    chunk: list[Episode] = []
    for episode in episodes.iterator(chunk_size=CHUNK):
        chunk.append(episode)
        if len(chunk) == CHUNK:
            _check_phase_chunk(report, chunk, contracts, bounds)
            chunk = []
    if chunk:
        _check_phase_chunk(report, chunk, contracts, bounds)


def _check_phase_chunk(
    report: BooksReport,
    episodes: list[Episode],
    contracts: dict[int, list[Contract]],
    bounds: tuple[date, date] | None,
) -> None:
    ids = [e.pk for e in episodes]
    checked = {
        episode_id: (checked_at, seen_changed_at)
        for episode_id, checked_at, seen_changed_at in EpisodeBillingState.unscoped.filter(
            episode_id__in=ids
        ).values_list("episode_id", "checked_at", "seen_changed_at")
    }
    insurances: dict[int, list[ClientInsurance]] = defaultdict(list)
    for ins in ClientInsurance.unscoped.filter(client_id__in={e.client_id for e in episodes}).order_by(
        "valid_from"
    ):
        insurances[ins.client_id].append(ins)
    current: dict[tuple[int, str], int] = {}
    claimed_end: dict[tuple[int, str], date] = {}
    for pk, episode_id, phase, service_end in ClaimLine.unscoped.filter(
        episode_id__in=ids, is_current=True, sign=Sign.DEBIT
    ).values_list("pk", "episode_id", "phase", "service_end"):
        current[(episode_id, phase)] = pk
        claimed_end[(episode_id, phase)] = service_end
    waiting = set(
        WorkItem.unscoped.filter(episode_id__in=ids, resolved_at__isnull=True).values_list(
            "episode_id", "phase"
        )
    )
    # Interrupted phases finance decided not to bill (issue 14): ended, rightly without a line.
    not_billed = set(
        PartialDecision.unscoped.filter(
            episode_id__in=ids, is_current=True, choice=PartialChoice.NONE
        ).values_list("episode_id", "phase", "end_reason")
    )
    for episode in episodes:
        report.episodes += 1
        checked_at, seen_changed_at = checked.get(episode.pk, (None, None))
        if checked_at is None or seen_changed_at is None or episode.changed_at != seen_changed_at:
            report.pending_episodes += 1
            continue
        # What the run that checked it wanted: the phases ended by that day, or already claimed with the
        # same end (billing.services.rollup_episodes).
        day = timezone.localdate(checked_at)
        wanted = {
            p.phase: p
            for p in rollup.ended_phases(episode)
            if rollup.phase_due(p, day, claimed_end.get((episode.pk, p.phase)))
        }
        for phase in rollup.PHASES:
            bp = None if (episode.pk, phase, episode.end_reason) in not_billed else wanted.get(phase)
            line_id = current.get((episode.pk, phase))
            in_period = bounds is None or (bp is not None and bounds[0] <= bp.end <= bounds[1])
            if bp is None:
                if line_id is not None and bounds is None:
                    report.add(
                        "claim_not_billable",
                        _("Episode %(episode)s has a current %(phase)s claim but that phase is not billable.")
                        % {"episode": episode.pk, "phase": phase},
                        [line_id],
                    )
                continue
            if not in_period:
                continue
            report.ended_phases += 1
            if line_id is not None:
                report.claimed_phases += 1
            elif (episode.pk, phase) in waiting:
                report.waiting_phases += 1
            else:
                report.add(
                    "unclaimed_phase",
                    _(
                        "Phase %(phase)s of episode %(episode)s ended on %(date)s but has no current claim "
                        "line and no work item."
                    )
                    % {"phase": phase, "episode": episode.pk, "date": bp.end.strftime("%d-%m-%Y")},
                    [episode.pk],
                )


# --- lines and their prices ------------------------------------------------------------------------


def _check_lines(report: BooksReport, lines: QuerySet[ClaimLine]) -> None:
    report.lines = lines.count()
    report.credits = lines.filter(corrects__isnull=False).count()
    mispriced = (
        lines.filter(sign=Sign.DEBIT, tariff__isnull=False)
        .annotate(expected=Round(F("tariff__amount") * F("percentage") / Value(Decimal(100)), precision=2))
        .exclude(amount=F("expected"))
        .values_list("pk", "number", "amount", "expected")
    )
    for pk, number, amount, expected in mispriced:
        report.add(
            "mispriced",
            _("Line %(ref)s claims %(amount)s, but its tariff and percentage give %(expected)s.")
            % {"ref": number, "amount": amount, "expected": expected},
            [pk],
        )
    for pk, number in lines.filter(is_current=True, status=LineStatus.WITHDRAWN).values_list("pk", "number"):
        report.add(
            "withdrawn_current", _("Line %(ref)s is withdrawn but still current.") % {"ref": number}, [pk]
        )
    # A line replaced before it was sent is withdrawn; only a credit or counter line waits as "ready".
    for pk, number in lines.filter(
        is_current=False, corrects__isnull=True, status=LineStatus.READY
    ).values_list("pk", "number"):
        report.add(
            "replaced_not_withdrawn",
            _("Line %(ref)s was replaced but is neither withdrawn nor credited.") % {"ref": number},
            [pk],
        )


# --- allocations -------------------------------------------------------------------------------------


def _check_allocations(report: BooksReport, lines: QuerySet[ClaimLine]) -> None:
    current = Q(allocations__is_current=True)
    sums = lines.annotate(
        parts=Count("allocations", filter=current),
        allocated=Sum("allocations__amount", filter=current),
    ).filter(parts__gt=0)
    report.allocated_lines = sums.count()
    for pk, number, amount, allocated, status in sums.exclude(allocated=F("amount")).values_list(
        "pk", "number", "amount", "allocated", "status"
    ):
        if status == LineStatus.WITHDRAWN:
            continue  # reported below, once
        report.add(
            "allocation_sum",
            _("The parts of line %(ref)s add up to %(parts)s instead of %(amount)s.")
            % {"ref": number, "parts": allocated, "amount": amount},
            [pk],
        )
    wrong_sign = (
        Allocation.unscoped.filter(is_current=True, claim_line__in=lines)
        .filter(Q(claim_line__sign=Sign.DEBIT, amount__lt=0) | Q(claim_line__sign=Sign.CREDIT, amount__gt=0))
        .values_list("claim_line_id", "claim_line__number")
        .distinct()
    )
    for pk, number in wrong_sign:
        report.add(
            "allocation_sign",
            _("Line %(ref)s has a part with the opposite sign.") % {"ref": number},
            [pk],
        )
    withdrawn = (
        Allocation.unscoped.filter(
            is_current=True, claim_line__in=lines, claim_line__status=LineStatus.WITHDRAWN
        )
        .values_list("claim_line_id", "claim_line__number")
        .distinct()
    )
    for pk, number in withdrawn:
        report.add(
            "withdrawn_allocated",
            _("Line %(ref)s was withdrawn but still has current parts.") % {"ref": number},
            [pk],
        )
    explained = WorkItem.unscoped.filter(
        episode_id=OuterRef("episode_id"),
        phase=OuterRef("phase"),
        reason__in=SPLIT_REASONS,
        resolved_at__isnull=True,
    )
    seen = F("episode__billing_state__seen_changed_at")
    pending = (
        Q(episode__billing_state__isnull=True)
        | Q(episode__billing_state__seen_changed_at__isnull=True)
        | Q(episode__changed_at__gt=seen)
        | Q(episode__changed_at__lt=seen)
    )
    unallocated = (
        lines.filter(is_current=True, sign=Sign.DEBIT, episode__isnull=False)
        .exclude(Exists(Allocation.unscoped.filter(claim_line=OuterRef("pk"), is_current=True)))
        .exclude(Exists(explained))
        .exclude(pending)
        .values_list("pk", "number")
    )
    for pk, number in unallocated:
        report.add(
            "unallocated",
            _("Line %(ref)s has no parts and no work item that says why.") % {"ref": number},
            [pk],
        )


# --- credits -----------------------------------------------------------------------------------------


def _check_credits(report: BooksReport, lines: QuerySet[ClaimLine]) -> None:
    corrections = lines.filter(corrects__isnull=False)
    mismatched = corrections.filter(
        ~Q(amount=-F("corrects__amount"))
        | Q(sign=F("corrects__sign"))
        | ~Q(insurer_id=F("corrects__insurer_id"))
        | ~Q(phase=F("corrects__phase"))
        | ~Q(prestatie_code=F("corrects__prestatie_code"))
        | Q(corrects__is_current=True)
    ).values_list("pk", "number", "corrects_id", "corrects__number")
    for pk, number, original_id, original in mismatched:
        report.add(
            "credit_mismatch",
            _("Line %(ref)s does not mirror the line it corrects, %(original)s (amount, insurer or phase).")
            % {"ref": number, "original": original},
            [pk, original_id],
        )
    # Per part (overhead, reserve, each member): the original's current parts plus its credit's are zero.
    originals = lines.filter(Exists(ClaimLine.unscoped.filter(corrects=OuterRef("pk"))))
    unbalanced = (
        Allocation.unscoped.filter(is_current=True)
        .filter(Q(claim_line__in=corrections) | Q(claim_line__in=originals))
        .annotate(original=Coalesce("claim_line__corrects_id", "claim_line_id"))
        .order_by()
        .values("original", "kind", "organisation_id")
        .annotate(net=Sum("amount"))
        .exclude(net=0)
        .values_list("original", flat=True)
        .distinct()
    )
    for original_id in unbalanced:
        report.add(
            "credit_parts",
            _("The parts of the credit of line %(id)s do not mirror the parts of that line.")
            % {"id": original_id},
            [original_id],
        )
    uncredited = (
        lines.filter(is_current=False, corrects__isnull=True, status__in=SENT_STATES)
        .exclude(Exists(ClaimLine.unscoped.filter(corrects=OuterRef("pk"))))
        .values_list("pk", "number")
    )
    for pk, number in uncredited:
        report.add(
            "sent_not_credited",
            _("Line %(ref)s was sent and then replaced, but no credit line takes it back.") % {"ref": number},
            [pk],
        )


# --- batches -----------------------------------------------------------------------------------------


def _check_batches(report: BooksReport, batches: QuerySet[ClaimBatch]) -> None:
    money = DecimalField(max_digits=14, decimal_places=2)
    totals = batches.annotate(
        n=Count("lines"),
        debit=Coalesce(
            Sum("lines__amount", filter=Q(lines__sign=Sign.DEBIT)), Value(ZERO), output_field=money
        ),
        credit=Coalesce(
            Sum("lines__amount", filter=Q(lines__sign=Sign.CREDIT)), Value(ZERO), output_field=money
        ),
    )
    report.batches = batches.count()
    report.released_batches = batches.filter(status=BatchStatus.RELEASED).count()
    report.batch_lines = BatchLine.unscoped.filter(batch__in=batches).count()
    wrong = totals.filter(
        ~Q(n=F("line_count"))
        | ~Q(debit=F("debit_total"))
        | ~Q(credit=F("credit_total"))
        | ~Q(total=F("debit") + F("credit"))
    ).values_list("pk", "number", "line_count", "total", "n", "debit", "credit")
    for pk, number, line_count, total, n, debit, credit in wrong:
        report.add(
            "batch_totals",
            _(
                "Batch %(number)s says %(count)s lines and %(total)s, its lines are %(n)s and %(sum)s "
                "(debit %(debit)s, credit %(credit)s)."
            )
            % {
                "number": number,
                "count": line_count,
                "total": total,
                "n": n,
                "sum": debit + credit,
                "debit": debit,
                "credit": credit,
            },
            [pk],
        )
    copies = (
        BatchLine.unscoped.filter(batch__in=batches)
        .filter(
            ~Q(amount=F("claim_line__amount"))
            | ~Q(sign=F("claim_line__sign"))
            | ~Q(number=F("claim_line__number"))
            | ~Q(claim_line__insurer_id=F("batch__insurer_id"))
            | ~Q(claim_line__tenant_id=F("batch__tenant_id"))
        )
        .values_list("pk", "batch__number", "number", "claim_line_id")
    )
    for pk, batch_number, ref, line_id in copies:
        report.add(
            "batch_line_copy",
            _("Line %(ref)s in batch %(number)s differs from its claim line (amount, sign or insurer).")
            % {"ref": ref, "number": batch_number},
            [pk, line_id],
        )
    kinds = len(BatchFileKind.values)
    for pk, number in (
        batches.annotate(n_files=Count("files")).exclude(n_files=kinds).values_list("pk", "number")
    ):
        report.add(
            "batch_files",
            _("Batch %(number)s does not have its %(n)s files.") % {"number": number, "n": kinds},
            [pk],
        )
    if connection.vendor == "postgresql":
        table = BatchFile._meta.db_table
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT f.id, b.number, f.kind FROM {table} f "  # noqa: S608 - table names from the models
                f"JOIN {ClaimBatch._meta.db_table} b ON b.id = f.batch_id "
                "WHERE f.batch_id = ANY(%s) "
                "AND (encode(sha256(f.content), 'hex') <> f.sha256 OR octet_length(f.content) <> f.size)",
                [list(batches.values_list("pk", flat=True))],
            )
            for pk, number, kind in cursor.fetchall():
                report.add(
                    "batch_file_hash",
                    _("The %(kind)s file of batch %(number)s does not match its stored SHA-256.")
                    % {"kind": kind, "number": number},
                    [pk],
                )


# --- what the insurer received -----------------------------------------------------------------------


def _check_sending(report: BooksReport, lines: QuerySet[ClaimLine], batches: QuerySet[ClaimBatch]) -> None:
    released = BatchLine.unscoped.filter(batch__status=BatchStatus.RELEASED)
    not_sent = (
        released.filter(batch__in=batches)
        .filter(
            Q(claim_line__status__in=(LineStatus.READY, LineStatus.WITHDRAWN)) | Q(claim_line__sent_at=None)
        )
        .values_list("claim_line_id", "number", "batch__number")
    )
    for pk, number, batch_number in not_sent:
        report.add(
            "released_not_sent",
            _("Line %(ref)s is in released batch %(number)s but is not marked sent.")
            % {"ref": number, "number": batch_number},
            [pk],
        )
    in_released = released.filter(claim_line=OuterRef("pk"))
    for pk, number in (
        lines.filter(status__in=SENT_STATES).exclude(Exists(in_released)).values_list("pk", "number")
    ):
        report.add(
            "sent_without_batch",
            _("Line %(ref)s is marked sent but is in no released batch.") % {"ref": number},
            [pk],
        )
    # The insurer holds at most one claim per episode and phase: debits minus credits received is 0 or 1.
    net = (
        released.filter(claim_line__in=lines, claim_line__episode__isnull=False)
        .order_by()
        .values("claim_line__episode_id", "phase")
        .annotate(
            net=Sum(
                Case(When(sign=Sign.DEBIT, then=Value(1)), default=Value(-1), output_field=IntegerField())
            )
        )
        .exclude(net__in=(0, 1))
    )
    for row in net:
        episode_id, phase = row["claim_line__episode_id"], row["phase"]
        report.add(
            "claimed_twice" if row["net"] > 1 else "credited_twice",
            _(
                "The released batches hold %(n)s claims for phase %(phase)s of episode %(episode)s "
                "(debits minus credits); it should be 0 or 1."
            )
            % {"n": row["net"], "phase": phase, "episode": episode_id},
            [episode_id],
        )
    original_released = released.filter(claim_line=OuterRef("claim_line__corrects_id"))
    early = (
        released.filter(claim_line__in=lines, claim_line__corrects__isnull=False)
        .exclude(Exists(original_released))
        .values_list("claim_line_id", "number", "batch__number")
    )
    for pk, number, batch_number in early:
        report.add(
            "credit_before_original",
            _("Credit %(ref)s went out in batch %(number)s, but the line it corrects was never sent.")
            % {"ref": number, "number": batch_number},
            [pk],
        )


def period_from_text(text: str) -> date:
    """'2026-10' -> 1 October 2026; ValueError otherwise."""
    if len(text) != 7:
        raise ValueError(text)
    return date.fromisoformat(f"{text}-01")


def summary_lines(report: BooksReport) -> list[str]:
    """The report as text for an operator, in the active language."""
    out = [
        _("Books check")
        + (f" {report.tenant}" if report.tenant else " " + _("(all IGOs)"))
        + (f" {report.period}" if report.period else ""),
        _("Episodes: %(n)s (%(pending)s waiting for the billing run)")
        % {"n": report.episodes, "pending": report.pending_episodes},
        _("Ended phases: %(n)s, claimed: %(claimed)s, waiting on a work item: %(waiting)s")
        % {"n": report.ended_phases, "claimed": report.claimed_phases, "waiting": report.waiting_phases},
        _("Claim lines: %(n)s (credits: %(credits)s), allocated: %(allocated)s")
        % {"n": report.lines, "credits": report.credits, "allocated": report.allocated_lines},
        _("Batches: %(n)s (released: %(released)s) with %(lines)s lines")
        % {"n": report.batches, "released": report.released_batches, "lines": report.batch_lines},
    ]
    return out


def problem_lines(report: BooksReport, per_kind: int = 20) -> list[str]:
    shown: dict[str, int] = defaultdict(int)
    out: list[str] = []
    for p in report.problems:
        shown[p.kind] += 1
        if shown[p.kind] <= per_kind:
            out.append(f"[{p.kind}] {p.message} (ids: {', '.join(map(str, p.ids))})")
    for kind, n in report.kinds().items():
        if n > per_kind:
            out.append(_("[%(kind)s] … and %(n)s more") % {"kind": kind, "n": n - per_kind})
    return out


def as_dict(report: BooksReport) -> dict[str, Any]:
    """For logs and tests: the counts and the problems as plain data."""
    return {
        "ok": report.ok,
        "kinds": report.kinds(),
        **{k: v for k, v in report.__dict__.items() if k != "problems"},
        "problems": [p.__dict__ for p in report.problems],
    }
