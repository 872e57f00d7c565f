"""Claim batches as insurers see them: two IGOs that each send Zilveren Kruis and VGZ a batch of the
billing world's portfolio (tests.scenarios.billing), one of them a draft no insurer may see. Made with the
clock at BILLING_NOW or later in the same month (the batch is this month's)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.utils import timezone

from billing.models import BatchLine, BatchReturn, ClaimBatch, ClaimLine, LineStatus, ReturnLine
from billing.services.batches import batch_create, batch_release
from igo.dates import month_start
from igo.models import Insurer, Role, User
from igo.tenancy import tenant_scope
from tests.factories import InsurerMembershipFactory, UserFactory
from tests.scenarios.billing import TODAY, Setup, build, portfolio, run
from tests.scenarios.people import TenantWorld, give_totp


@dataclass
class Batches:
    a: Setup
    b: Setup
    zk_a: ClaimBatch  # released, Zilveren Kruis, IGO Alpha
    vgz_a: ClaimBatch  # released, VGZ, IGO Alpha
    zk_b: ClaimBatch  # released, Zilveren Kruis, IGO Beta
    vgz_b_draft: ClaimBatch  # not released: no insurer may see it
    zk_user: User
    vgz_user: User
    finance_a: User

    @property
    def period(self) -> dt.date:
        return self.zk_a.period


def make_batch(s: Setup, insurer: Insurer, *, release: bool = True) -> ClaimBatch:
    finance = s.admin  # batch_create/batch_release take any actor; the screens check the role
    with tenant_scope(s.tenant):
        result = batch_create(
            tenant=s.tenant,
            insurer=insurer,
            period=month_start(timezone.localdate()),
            actor=finance,
            today=TODAY,
        )
        assert result.batch is not None and result.held == 0
        return batch_release(batch=result.batch, actor=finance) if release else result.batch


def insurer_employee(insurer: Insurer, email: str) -> User:
    user = UserFactory(email=email)
    InsurerMembershipFactory(user=user, insurer=insurer)
    give_totp(user)
    return user


def make_batches(world_a: TenantWorld, world_b: TenantWorld) -> Batches:
    a, b = build(world_a), build(world_b)
    for s in (a, b):
        portfolio(s)
        run(s)
    return Batches(
        a=a,
        b=b,
        zk_a=make_batch(a, a.zk),
        vgz_a=make_batch(a, a.vgz),
        zk_b=make_batch(b, b.zk),
        vgz_b_draft=make_batch(b, b.vgz, release=False),
        zk_user=insurer_employee(a.zk, "declaraties@zk.test"),
        vgz_user=insurer_employee(a.vgz, "declaraties@vgz.test"),
        finance_a=world_a.user(Role.IGO_FINANCE),
    )


def lines_of(batch: ClaimBatch) -> list[BatchLine]:
    return list(BatchLine.unscoped.filter(batch=batch).order_by("line_no"))


def claim_status(line: BatchLine) -> str:
    return ClaimLine.unscoped.get(pk=line.claim_line_id).status


def nothing_answered(batch: ClaimBatch) -> bool:
    return (
        not BatchReturn.unscoped.filter(batch=batch).exists()
        and not ReturnLine.unscoped.filter(batch_line__batch=batch).exists()
        and all(
            claim_status(line) == (LineStatus.SENT if batch.is_released else LineStatus.READY)
            for line in lines_of(batch)
        )
    )
