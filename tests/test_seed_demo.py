"""The demo data: claim batches in two months, return information with a rejection, an insurer key, and
a second run that changes nothing."""

from __future__ import annotations

import io
from collections import Counter

import pytest
from django.core.management import call_command
from django.utils import timezone

from billing.models import (
    BatchLine,
    BatchReturn,
    BatchStatus,
    ClaimBatch,
    ClaimLine,
    LineStatus,
    ReturnLine,
    WorkItem,
)
from igo.models import AuditEntry, InsurerApiToken, Tenant
from pregnancies.models import CareEvent, Client, Episode

pytestmark = pytest.mark.django_db


def seed() -> str:
    out = io.StringIO()
    call_command("seed_demo", stdout=out)
    return out.getvalue()


def counts() -> dict[str, int]:
    return {
        model.__name__: (model.unscoped if hasattr(model, "unscoped") else model.objects).count()
        for model in (
            Tenant,
            Client,
            Episode,
            CareEvent,
            ClaimLine,
            ClaimBatch,
            BatchLine,
            BatchReturn,
            ReturnLine,
            WorkItem,
            InsurerApiToken,
        )
    }


def test_demo_has_batches_in_two_months_an_answer_and_a_key_and_a_second_run_adds_nothing():
    first = seed()
    this_month = timezone.localdate().replace(day=1)
    batches = list(ClaimBatch.unscoped.select_related("tenant", "insurer"))
    by_status = Counter((b.tenant.slug, b.period < this_month, b.status) for b in batches)
    for slug in ("igo-rijnmond", "igo-brabant-oost"):
        # Last month's batches (Zilveren Kruis and VGZ) released, this month's (ZK and CZ) drafts.
        assert by_status[(slug, True, BatchStatus.RELEASED)] == 2
        assert by_status[(slug, False, BatchStatus.DRAFT)] == 2
        assert not any(b.held for b in batches)

    answer = BatchReturn.unscoped.select_related("batch__tenant", "batch__insurer").get()
    assert (answer.batch.tenant.slug, answer.batch.insurer.uzovi_code) == ("igo-rijnmond", "3311")
    assert (answer.accepted, answer.rejected) == (answer.batch.line_count - 1, 1)
    rejected = ReturnLine.unscoped.select_related("batch_line__claim_line").get(status="rejected")
    assert rejected.reason_code == "0101"
    assert rejected.batch_line.claim_line.status == LineStatus.REJECTED
    item = WorkItem.unscoped.get(resolved_at__isnull=True)
    assert (item.reason, item.episode_id) == ("rejected", rejected.batch_line.claim_line.episode_id)

    token = InsurerApiToken.objects.select_related("insurer", "created_by").get()
    assert (token.insurer.uzovi_code, token.created_by.email) == ("3311", "declaraties@zk.demo")
    assert token.is_usable()
    assert f"igo_{token.prefix}_" in first and "DEMO key" in first

    before = counts()
    audit_before = AuditEntry.objects.count()
    second = seed()
    assert counts() == before
    assert AuditEntry.objects.count() == audit_before  # nothing was made, released or answered again
    assert f"igo_{token.prefix}_" not in second and "was printed then" in second
