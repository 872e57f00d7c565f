"""The ledger's world (billing.ledger): claim lines and their parts booked at chosen moments, batches
released, answered and paid, and payouts, made directly in the database so a test can put each entry in the
month and the state it is about. The insurer's answer and a credit go through their services
(`batch_return_record`, `retire_line`), at the moment the test names.

An IGO with three members (Verloskundigenpraktijk De Maas, Kraamzorg Rijnmond, Ziekenhuis Rijnmond) and a
Zilveren Kruis contract whose answer term is 30 days. `claim(...)` books a line with its parts, `resplit`
divides it anew, `release` puts lines in a released batch, `answer` records the insurer's answer,
`credit` and `withdraw` take a line back, `pay` makes a payout run of what is payable, `pay_entries` one of
chosen entries.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, cast

from billing import ledger
from billing.models import (
    Allocation,
    AllocationBasis,
    AllocationKind,
    BatchFile,
    BatchFileKind,
    BatchLine,
    BatchStatus,
    ClaimBatch,
    ClaimLine,
    Contract,
    ContractTariff,
    LineStatus,
    Payout,
    PayoutRun,
    PayoutStatus,
    ReturnSource,
    ReturnStatus,
    Sign,
    SplitMethod,
)
from billing.services import returns
from billing.services.claim_lines import line_number, retire_line
from igo.dates import month_start, next_month
from igo.models import Insurer, Role, Tenant, User
from igo.tenancy import tenant_scope
from pregnancies.models import Episode
from providers.models import MemberOrganisation
from tests.factories import EpisodeFactory, InsurerFactory, MemberOrganisationFactory, UserFactory
from tests.scenarios.clock import local, travel
from tests.scenarios.people import TenantWorld, give_totp

D = Decimal
TARIFFS = {"prenatal": D("1200.00"), "natal": D("900.00"), "postnatal": D("1500.00")}
HUNDRED = D("100")
Parts = Mapping[Any, Decimal]  # a member organisation, or "overhead" / "reserve", to its amount


@dataclass
class Book:
    world: TenantWorld
    finance: User
    finance2: User  # a second finance user: the one who releases a payout run (four eyes)
    zk: Insurer
    contract: Contract
    maas: MemberOrganisation
    kraam: MemberOrganisation
    hospital: MemberOrganisation

    @property
    def tenant(self) -> Tenant:
        return self.world.tenant


def book(world: TenantWorld, *, answer_days: int = 30) -> Book:
    tenant = world.tenant
    finance = world.user(Role.IGO_FINANCE)
    finance2 = cast(User, UserFactory(email="finance2@alpha.test"))
    give_totp(finance2)
    zk = cast(Insurer, InsurerFactory(uzovi_code="3311", name="Zilveren Kruis"))
    contract = Contract.unscoped.create(
        tenant=tenant,
        insurer=zk,
        name="ZK integraal",
        valid_from=dt.date(2025, 1, 1),
        answer_days=answer_days,
        created_by=finance,
    )
    for phase, amount in TARIFFS.items():
        ContractTariff.unscoped.create(
            tenant=tenant,
            contract=contract,
            phase=phase,
            prestatie_code=f"IGB{phase[:3].upper()}",
            amount=amount,
        )

    def member(name: str, kind: str) -> MemberOrganisation:
        return cast(MemberOrganisation, MemberOrganisationFactory(tenant=tenant, name=name, kind=kind))

    maas = member("Verloskundigenpraktijk De Maas", "midwifery_practice")
    kraam = member("Kraamzorg Rijnmond", "kraamzorg")
    hospital = member("Ziekenhuis Rijnmond", "hospital")
    return Book(
        world=world,
        finance=finance,
        finance2=finance2,
        zk=zk,
        contract=contract,
        maas=maas,
        kraam=kraam,
        hospital=hospital,
    )


def _allocations(b: Book, line: ClaimLine, parts: Parts, at: dt.datetime) -> list[Allocation]:
    assert sum(parts.values(), D("0.00")) == line.amount, "the parts of a line add up to it"
    rows = []
    for who, amount in parts.items():
        kind = who if who in (AllocationKind.OVERHEAD, AllocationKind.RESERVE) else AllocationKind.MEMBER
        rows.append(
            Allocation(
                tenant=b.tenant,
                claim_line=line,
                kind=kind,
                organisation=None if kind != AllocationKind.MEMBER else who,
                amount=amount,
                basis=AllocationBasis(method=SplitMethod.FIXED, share=D(1)).to_json(),
                created_at=at,
            )
        )
    return Allocation.unscoped.bulk_create(rows)


def claim(
    b: Book,
    *,
    at: dt.datetime,
    parts: Parts,
    phase: str = "prenatal",
    episode: Episode | None = None,
    percentage: Decimal = HUNDRED,
    parts_at: dt.datetime | None = None,
) -> ClaimLine:
    """A debit line of `phase` booked at `at`, divided into `parts` (at `parts_at`, default `at`: a line
    whose split waited for a split rule is divided later than it is made)."""
    if episode is None:
        episode = cast(Episode, EpisodeFactory(tenant=b.tenant))
    tariff = ContractTariff.unscoped.get(contract=b.contract, phase=phase)
    seq = ClaimLine.unscoped.filter(episode=episode, phase=phase).count() + 1
    line = ClaimLine.unscoped.create(
        tenant=b.tenant,
        episode=episode,
        phase=phase,
        sign=Sign.DEBIT,
        number=line_number(episode, phase, Sign.DEBIT, seq),
        prestatie_code=tariff.prestatie_code,
        contract=b.contract,
        tariff=tariff,
        percentage=percentage,
        insurer=b.zk,
        policy_number="123456789",
        service_start=dt.date(2026, 3, 1),
        service_end=dt.date(2026, 9, 30),
        amount=(tariff.amount * percentage / 100).quantize(D("0.01")),
        created_at=at,
    )
    _allocations(b, line, parts, parts_at or at)
    return line


def resplit(b: Book, line: ClaimLine, *, at: dt.datetime, parts: Parts) -> None:
    """Divide the line anew at `at`: its current parts are superseded, the new ones made."""
    Allocation.unscoped.filter(claim_line=line, is_current=True).update(is_current=False, superseded_at=at)
    _allocations(b, line, parts, at)


def release(
    b: Book, lines: Iterable[ClaimLine], *, at: dt.datetime, period: dt.date | None = None
) -> ClaimBatch:
    """The lines in a batch of `period` (default: the month before `at`), released at `at` (the lines are
    sent)."""
    lines = list(lines)
    debit = sum((x.amount for x in lines if x.sign == Sign.DEBIT), D("0.00"))
    credit = sum((x.amount for x in lines if x.sign == Sign.CREDIT), D("0.00"))
    period = period or month_start(at.date() - dt.timedelta(days=at.day))
    batch = ClaimBatch.unscoped.create(
        tenant=b.tenant,
        number=ClaimBatch.unscoped.filter(tenant=b.tenant).count() + 1,
        insurer=b.zk,
        period=period,
        line_count=len(lines),
        debit_total=debit,
        credit_total=credit,
        total=debit + credit,
        created_at=at,
        created_by=b.finance,
    )
    BatchLine.unscoped.bulk_create(
        BatchLine(
            tenant=b.tenant,
            batch=batch,
            line_no=i,
            claim_line=x,
            number=x.number,
            corrects_number=x.corrects.number if x.corrects is not None else "",
            sign=x.sign,
            phase=x.phase,
            prestatie_code=x.prestatie_code,
            service_start=x.service_start,
            service_end=x.service_end,
            tariff=x.tariff.amount if x.tariff else x.amount,
            percentage=x.percentage,
            amount=x.amount,
            episode_ref=str(x.episode_id),
            bsn="111222333",
            policy_number=x.policy_number,
            family_name="Jansen",
            initials="A.",
        )
        for i, x in enumerate(lines, start=1)
    )
    for kind in BatchFileKind.values:  # stand-ins for the files, so the books check finds them whole
        content = f"{kind} {batch.number}".encode()
        BatchFile.unscoped.create(
            tenant=b.tenant,
            batch=batch,
            kind=kind,
            content=content,
            size=len(content),
            sha256=hashlib.sha256(content).hexdigest(),
        )
    ClaimBatch.unscoped.filter(pk=batch.pk).update(
        status=BatchStatus.RELEASED, released_at=at, released_by=b.finance
    )
    ClaimLine.unscoped.filter(pk__in=[x.pk for x in lines]).update(status=LineStatus.SENT, sent_at=at)
    batch.refresh_from_db()
    return batch


def answer(b: Book, batch: ClaimBatch, answers: Mapping[ClaimLine, str], *, at: dt.datetime) -> None:
    """The insurer's answer at `at`: per line "accepted" or a rejection's reason code (e.g. "0101")."""
    entries = [
        returns.ReturnEntry(line.number, ReturnStatus.ACCEPTED)
        if code == ReturnStatus.ACCEPTED
        else returns.ReturnEntry(line.number, ReturnStatus.REJECTED, code, "afgewezen")
        for line, code in answers.items()
    ]
    with travel(at, tick=False):
        returns.batch_return_record(batch=batch, entries=entries, user=b.finance, source=ReturnSource.PORTAL)


def _retire(b: Book, line: ClaimLine, at: dt.datetime) -> ClaimLine | None:
    line.refresh_from_db()
    seq = ClaimLine.unscoped.filter(episode=line.episode, phase=line.phase).count() + 1
    with tenant_scope(b.tenant), travel(at, tick=False):
        return retire_line(line, seq)


def credit(b: Book, line: ClaimLine, *, at: dt.datetime) -> ClaimLine:
    """Credit a sent line at `at` (billing.services.claim_lines.retire_line): an opposite line whose parts
    mirror the line's."""
    opposite = _retire(b, line, at)
    assert opposite is not None, "only a sent line is credited"
    return opposite


def withdraw(b: Book, line: ClaimLine, *, at: dt.datetime) -> None:
    """Withdraw a line that was not sent, or take a rejected line out of use (not credited: the insurer holds
    nothing of it), at `at`: its parts are reversed."""
    assert _retire(b, line, at) is None, "only an unsent or rejected line goes without a credit"


def pay_entries(
    b: Book,
    *,
    period: dt.date,
    made: Iterable[Allocation],
    undone: Iterable[Allocation] = (),
    released: bool = True,
    at: dt.datetime | None = None,
) -> PayoutRun:
    """A payout run for `period` that pays these entries: +entries (`made`) and -entries (`undone`), one
    Payout per member with the sum of its entries; released by the second finance user, or only prepared."""
    at = at or local(next_month(period).year, next_month(period).month, 5, 9)
    per_org: dict[int | None, list[tuple[Allocation, bool]]] = defaultdict(list)
    for a in made:
        per_org[a.organisation_id].append((a, False))
    for a in undone:
        per_org[a.organisation_id].append((a, True))
    run = PayoutRun.unscoped.create(
        tenant=b.tenant,
        period=period,
        status=PayoutStatus.RELEASED if released else PayoutStatus.PREPARED,
        payable_on=at.date(),
        execution_date=at.date() + dt.timedelta(days=2),
        message_id=f"IGO-{period:%Y%m}",
        prepared_at=at,
        prepared_by=b.finance,
        released_at=at if released else None,
        released_by=b.finance2 if released else None,
    )
    total = D("0.00")
    for org_id, entries in per_org.items():
        amount = sum((-a.amount if reversal else a.amount for a, reversal in entries), D("0.00"))
        payout = Payout.unscoped.create(
            tenant=b.tenant,
            run=run,
            organisation_id=cast(int, org_id),
            amount=amount,
            entries=len(entries),
            iban="NL91ABNA0417164300",
            account_holder="Lid",
            end_to_end_id=f"IGO-{period:%Y%m}-{org_id}",
        )
        Allocation.unscoped.filter(pk__in=[a.pk for a, reversal in entries if not reversal]).update(
            paid_in=payout
        )
        Allocation.unscoped.filter(pk__in=[a.pk for a, reversal in entries if reversal]).update(
            reversal_paid_in=payout
        )
        total += amount
    PayoutRun.unscoped.filter(pk=run.pk).update(total=total)
    run.refresh_from_db()
    return run


def pay(b: Book, *, period: dt.date, today: dt.date, released: bool = True) -> PayoutRun:
    """A payout run for `period` of what the ledger says is payable on `today` up to the end of the month
    (`billing.ledger.payable_entries`)."""
    start_next = local(next_month(period).year, next_month(period).month, 1, 0)
    with tenant_scope(b.tenant):
        made, undone = ledger.payable_entries(until=start_next, today=today)
        made_list, undone_list = list(made), list(undone)
    return pay_entries(
        b,
        period=period,
        made=made_list,
        undone=undone_list,
        released=released,
        at=local(today.year, today.month, today.day, 9),
    )
