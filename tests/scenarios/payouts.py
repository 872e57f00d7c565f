"""Payouts to the members: an IGO with a bank account, three members (two with an account), Zilveren Kruis at
1200/900/1500, and one completed pregnancy whose three lines go through a batch, the insurer's answer and the
payout runs. Every step happens at a moment the test sets (`at`), so the ledger's states follow from dates.

The split rule divides every phase by fixed shares after 5 % overhead and 2 % reserve (the IGO's part of the
split rule), so each line splits by hand:

    prenatal  1200.00: overhead 60.00, reserve 24.00, members 1116.00 = practice 70 % 781.20 + hospital 30 % 334.80
    natal      900.00: overhead 45.00, reserve 18.00, members  837.00 = practice 60 % 502.20 + hospital 40 % 334.80
    postnatal 1500.00: overhead 75.00, reserve 30.00, members 1395.00 = practice 30 % 418.50 + kraamzorg 70 % 976.50
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, cast

from billing import services
from billing.models import (
    BatchLine,
    ClaimBatch,
    ClaimLine,
    Contract,
    Payout,
    PayoutFile,
    PayoutRun,
    ReturnSource,
    SplitRule,
)
from billing.services.batches import batch_create, batch_release
from billing.services.payouts import payout_run_prepare
from billing.services.returns import ReturnEntry, batch_return_record
from igo.models import Insurer, Role, Tenant, User
from igo.tenancy import tenant_scope
from pregnancies.catalogue import catalogue_seed
from pregnancies.models import Client, ClientInsurance, Episode
from providers.models import MemberOrganisation
from tests.factories import (
    EpisodeFactory,
    InsurerFactory,
    MemberOrganisationFactory,
    MembershipFactory,
    UserFactory,
    valid_bsn,
)
from tests.scenarios.clock import local, travel
from tests.scenarios.people import TenantWorld, give_totp

D = Decimal
IGO_IBAN = "NL91ABNA0417164300"  # ABNANL2A
PRACTICE_IBAN = "NL44RABO0123456789"  # RABONL2U
HOSPITAL_IBAN = "NL20INGB0001234567"  # INGBNL2A
KRAAM_IBAN = "NL22TRIO0123456780"  # TRIONL2U
BAD_IBAN = "NL44RABO0123456788"  # one digit off: fails the check digits
CORRECTED_BSN = valid_bsn(90_001)  # what finance enters after a rejection "BSN unknown"

TARIFFS = {
    "prenatal": ("IGBPRE", D("1200.00")),
    "natal": ("IGBNAT", D("900.00")),
    "postnatal": ("IGBPOS", D("1500.00")),
}


def at(y: int, m: int, d: int, h: int = 10) -> dt.datetime:
    return local(y, m, d, h)


@dataclass
class PayoutWorld:
    tenant: Tenant
    admin: User
    finance: User  # prepares
    finance_b: User  # releases (a second finance user)
    zk: Insurer
    contract: Contract
    rule: SplitRule
    practice: MemberOrganisation
    hospital: MemberOrganisation
    kraam: MemberOrganisation

    def members(self) -> list[MemberOrganisation]:
        return [self.practice, self.hospital, self.kraam]


def member(**fields: Any) -> MemberOrganisation:
    """A member organisation made by the factory (typed as the model)."""
    return cast(MemberOrganisation, MemberOrganisationFactory(**fields))


def second_finance_user(world: TenantWorld, email: str = "financien2@alpha.test") -> User:
    user = cast(User, UserFactory(email=email, full_name="Bram de Boer"))
    MembershipFactory(tenant=world.tenant, user=user, role=Role.IGO_FINANCE)
    give_totp(user)
    return user


def payout_world(
    world: TenantWorld, *, kraam_iban: str = "", partial_rules: Iterable[dict[str, Any]] = ()
) -> PayoutWorld:
    """The IGO with its own account and the three members (the kraamzorg without an account unless given);
    `partial_rules`: the contract's rules for an early ending (none unless given)."""
    tenant = world.tenant
    Tenant.objects.filter(pk=tenant.pk).update(iban=IGO_IBAN, bic="")
    tenant.refresh_from_db()
    finance = world.user(Role.IGO_FINANCE)
    catalogue_seed(tenant=tenant)
    zk = cast(Insurer, InsurerFactory(uzovi_code="3311", name="Zilveren Kruis"))
    practice = member(
        tenant=tenant,
        name="Praktijk De Wieg",
        agb_code="02000101",
        iban=PRACTICE_IBAN,
        bic="RABONL2U",
        account_holder="Verloskundigenpraktijk De Wieg",
    )
    hospital = member(
        tenant=tenant,
        name="Ziekenhuis Oost",
        kind="hospital",
        agb_code="06000102",
        iban=HOSPITAL_IBAN,
        bic="INGBNL2A",
        account_holder="Stichting Ziekenhuis Oost",
    )
    kraam = member(
        tenant=tenant,
        name="Kraamzorg Noord",
        kind="kraamzorg",
        agb_code="33000103",
        iban=kraam_iban,
        account_holder="Kraamzorg Noord B.V." if kraam_iban else "",
    )
    with tenant_scope(tenant):
        contract = services.contract_create(
            tenant=tenant,
            actor=finance,
            insurer=zk,
            name="ZK 2026",
            valid_from=dt.date(2026, 1, 1),
            tariffs=TARIFFS,
            partial_rules=partial_rules,
        )
        rule = services.split_rule_create(
            tenant=tenant,
            actor=finance,
            year=2026,
            phases={
                "prenatal": {"method": "fixed", "shares": {practice.pk: 70, hospital.pk: 30}},
                "natal": {"method": "fixed", "shares": {practice.pk: 60, hospital.pk: 40}},
                "postnatal": {"method": "fixed", "shares": {practice.pk: 30, kraam.pk: 70}},
            },
        )
    # The IGO's own part of the split (overhead and reserve belong to the split rule).
    SplitRule.unscoped.filter(pk=rule.pk).update(overhead_pct=D("5"), reserve_pct=D("2"))
    rule.refresh_from_db()
    return PayoutWorld(
        tenant=tenant,
        admin=world.user(Role.IGO_ADMIN),
        finance=finance,
        finance_b=second_finance_user(world),
        zk=zk,
        contract=contract,
        rule=rule,
        practice=practice,
        hospital=hospital,
        kraam=kraam,
    )


def completed_pregnancy(pw: PayoutWorld, *, policy: str = "ZK-100") -> Episode:
    """Intake 2 Feb 2026, labour and birth 14 Aug, care completed 25 Sep 2026: three phases to bill."""
    ep = cast(
        Episode,
        EpisodeFactory(
            tenant=pw.tenant,
            intake_date=dt.date(2026, 2, 2),
            gestational_age_at_intake=84,
            due_date=dt.date(2026, 8, 24),
            labour_started_at=local(2026, 8, 14, 8),
            placenta_plus_2h_at=local(2026, 8, 14, 15),
            postnatal_ended_on=dt.date(2026, 9, 25),
            status="ended",
            end_date=dt.date(2026, 9, 25),
            end_reason="completed",
        ),
    )
    ClientInsurance.unscoped.create(
        tenant=pw.tenant,
        client=ep.client,
        insurer=pw.zk,
        policy_number=policy,
        valid_from=dt.date(2024, 1, 1),
    )
    return ep


def bill(pw: PayoutWorld, moment: dt.datetime) -> None:
    """The billing run at `moment` (its lines and allocations are booked then)."""
    with travel(moment), tenant_scope(pw.tenant):
        services.billing_run(tenant=pw.tenant, today=moment.date())


def lines(ep: Episode) -> dict[str, ClaimLine]:
    """The episode's current debit lines by phase."""
    return {
        line.phase: line
        for line in ClaimLine.unscoped.filter(episode=ep, is_current=True, sign="debit").order_by("pk")
    }


def send_batch(pw: PayoutWorld, period: dt.date, moment: dt.datetime) -> ClaimBatch:
    """Make the month's batch to Zilveren Kruis and release it at `moment`."""
    with travel(moment), tenant_scope(pw.tenant):
        result = batch_create(
            tenant=pw.tenant, insurer=pw.zk, period=period, actor=pw.finance, today=moment.date()
        )
        assert result.batch is not None, result
        return batch_release(batch=result.batch, actor=pw.finance)


def answer(
    batch: ClaimBatch,
    moment: dt.datetime,
    *,
    accept: Iterable[ClaimLine] = (),
    reject: Iterable[ClaimLine] = (),
    code: str = "0103",
    award: Iterable[tuple[ClaimLine, Decimal]] = (),
    award_code: str = "0611",
) -> None:
    """The insurer's answer at `moment`: these lines accepted, those rejected with `code`, and those awarded
    in part (line, awarded amount) with `award_code`."""
    entries = [ReturnEntry(reference=line.number, status="accepted") for line in accept] + [
        ReturnEntry(reference=line.number, status="rejected", reason_code=code, reason_text="Controleer")
        for line in reject
    ]
    entries += [
        ReturnEntry(line.number, "partial", award_code, "Deels toegekend", awarded_amount=amount)
        for line, amount in award
    ]
    with travel(moment):
        batch_return_record(
            batch=batch,
            entries=entries,
            user=cast(User, UserFactory(email=f"zk{batch.pk}@zk.test")),
            source=ReturnSource.PORTAL,
        )


def accept_all(batch: ClaimBatch, moment: dt.datetime) -> None:
    refs = BatchLine.unscoped.filter(batch=batch).values_list("claim_line_id", flat=True)
    answer(batch, moment, accept=ClaimLine.unscoped.filter(pk__in=list(refs)))


def prepare(pw: PayoutWorld, period: dt.date, moment: dt.datetime, *, actor: User | None = None) -> PayoutRun:
    with travel(moment), tenant_scope(pw.tenant):
        return payout_run_prepare(
            tenant=pw.tenant, period=period, actor=actor or pw.finance, today=moment.date()
        )


def paid(run: PayoutRun) -> dict[str, Decimal]:
    """The run's payouts by member name."""
    return {
        p.organisation.name: p.amount for p in Payout.unscoped.filter(run=run).select_related("organisation")
    }


def sepa_of(run: PayoutRun) -> bytes:
    return bytes(PayoutFile.unscoped.get(run=run, kind="sepa").content)


def line_status(line: ClaimLine) -> str:
    return ClaimLine.unscoped.get(pk=line.pk).status


def rebill(pw: PayoutWorld, line: ClaimLine, moment: dt.datetime, *, bsn: str = "") -> ClaimLine | None:
    """Finance corrects the client's BSN (when given) and bills the rejected line again at `moment`. (A
    corrected BSN is not on the claim lines, so the other lines of the episode stay as they are.)"""
    from billing.services.returns import rejected_line_rebill

    if bsn:
        Client.unscoped.filter(episodes__claim_lines=line).update(bsn=bsn)
    with travel(moment), tenant_scope(pw.tenant):
        return rejected_line_rebill(line=ClaimLine.objects.get(pk=line.pk), actor=pw.finance)


def credit(pw: PayoutWorld, line: ClaimLine, moment: dt.datetime) -> ClaimLine:
    """Take a sent line back with an opposite line at `moment` (as a correction of the billing run would)."""
    with travel(moment), tenant_scope(pw.tenant):
        locked = ClaimLine.objects.get(pk=line.pk)
        seq = ClaimLine.objects.filter(episode=locked.episode, phase=locked.phase).count() + 1
        opposite = services.retire_line(locked, seq)
    assert opposite is not None
    return opposite


def set_account(
    pw: PayoutWorld, org: MemberOrganisation, iban: str, holder: str, moment: dt.datetime
) -> None:
    """An administrator enters a member's bank account (through the service, audited)."""
    from providers.services import organisation_update

    with travel(moment), tenant_scope(pw.tenant):
        organisation_update(
            organisation=MemberOrganisation.objects.get(pk=org.pk),
            actor=pw.admin,
            name=org.name,
            kind=org.kind,
            agb_code=org.agb_code,
            member_from=org.member_from,
            member_until=org.member_until,
            iban=iban,
            bic="",
            account_holder=holder,
        )


def payout_objects(world: TenantWorld, *, organisation: MemberOrganisation) -> Payout:
    """A prepared payout run of last month (made directly, as a run's rows look) paying `organisation`, with
    its file, for the tests that try every URL (tests/cross). Returns the payout; its run is `payout.run`."""
    run = PayoutRun.unscoped.create(
        tenant=world.tenant,
        period=dt.date(2026, 10, 1),
        total=D("10.00"),
        payable_on=dt.date(2026, 11, 2),
        execution_date=dt.date(2026, 11, 3),
        message_id=f"IGO-{world.tenant.pk}-202610",
        prepared_by=world.user(Role.IGO_FINANCE),
    )
    payout = Payout.unscoped.create(
        tenant=world.tenant,
        run=run,
        organisation=organisation,
        amount=D("10.00"),
        iban=PRACTICE_IBAN,
        bic="RABONL2U",
        account_holder=organisation.name,
        end_to_end_id=f"IGO-{run.pk}-{organisation.agb_code}",
    )
    PayoutFile.unscoped.create(
        tenant=world.tenant, run=run, kind="sepa", content=b"<Document/>", size=11, sha256="0" * 64
    )
    return payout
