"""Payments received from an insurer per batch (billing.services.insurer_payments): recorded for a released
batch only, with field errors for bad input and nothing stored; matched against what the insurer accepted,
a difference a work item on the batch, equality resolving it, again after the insurer's answer; the batch
page's payments section and the work queue's items about a batch or a member organisation.

World: tests.scenarios.ledger. Batch 1 (October, released 3 November) holds A, prenatal 1200.00, and N,
natal 900.00: claimed 2100.00.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from html import unescape
from typing import Any

import pytest
from django.core.exceptions import ValidationError

from billing.models import BatchStatus, ClaimBatch, ClaimLine, InsurerPayment, WorkItem, WorkReason
from billing.services.insurer_payments import insurer_payment_match, insurer_payment_record
from igo.models import AuditEntry, Role
from igo.tenancy import tenant_scope
from tests.scenarios.clock import local
from tests.scenarios.finance import euro
from tests.scenarios.http import row
from tests.scenarios.ledger import Book, answer, book, claim, release

pytestmark = [pytest.mark.django_db, pytest.mark.clock(local(2026, 11, 20, 10))]
D = Decimal
TODAY = dt.date(2026, 11, 20)


@pytest.fixture
def b(world_a) -> Book:
    return book(world_a)


def two_lines(b: Book) -> tuple[ClaimBatch, ClaimLine, ClaimLine]:
    a = claim(b, at=local(2026, 10, 5, 10), parts={b.maas: D("1200.00")})
    n = claim(b, at=local(2026, 10, 6, 10), phase="natal", parts={b.kraam: D("900.00")})
    return release(b, [a, n], at=local(2026, 11, 3, 10)), a, n


def record(b: Book, batch: ClaimBatch, amount: object, **kwargs: Any) -> InsurerPayment:
    fields: dict[str, Any] = {"received_on": dt.date(2026, 11, 18), "reference": "ZK 2026-0042", **kwargs}
    with tenant_scope(b.tenant):
        return insurer_payment_record(batch=batch, amount=amount, actor=b.finance, today=TODAY, **fields)


def open_items(batch: ClaimBatch) -> list[tuple[Decimal | None, str]]:
    return list(
        WorkItem.unscoped.filter(
            batch=batch, reason=WorkReason.PAYMENT_DIFFERENCE, resolved_at__isnull=True
        ).values_list("amount", "message")
    )


def test_a_payment_short_of_the_accepted_lines_opens_a_work_item_and_the_rest_resolves_it(b):
    batch, a, n = two_lines(b)
    answer(b, batch, {a: "accepted", n: "0101"}, at=local(2026, 11, 10, 10))
    # Accepted: A 1200.00 (N rejected). Received 1000.00: 1200.00 - 1000.00 = 200.00 still to receive.
    first = record(b, batch, D("1000.00"))
    assert (first.amount, first.received_on, first.reference) == (
        D("1000.00"),
        dt.date(2026, 11, 18),
        "ZK 2026-0042",
    )
    ((amount, message),) = open_items(batch)
    assert amount == D("200.00")
    assert message == (
        f"Batch {batch.number}: de verzekeraar accepteerde € 1.200,00 en betaalde € 1.000,00; nog te ontvangen: € 200,00."
    )
    item = WorkItem.unscoped.get(batch=batch)
    assert (item.episode_id, item.organisation_id, item.phase) == (None, None, "")
    audit = AuditEntry.objects.filter(action="insurer_payment.record").order_by("pk")
    assert audit.count() == 1 and audit.get().details["amount"] == "1000.00"
    assert audit.get().details["difference"] == "200.00" and audit.get().actor == b.finance
    # The rest arrives: 1000.00 + 200.00 = 1200.00, the accepted total. The item is resolved.
    record(b, batch, "200.00", reference="ZK 2026-0043")
    assert open_items(batch) == []
    assert WorkItem.unscoped.get(batch=batch).resolved_at is not None


def test_money_paid_back_is_a_negative_payment(b):
    batch, a, n = two_lines(b)
    answer(b, batch, {a: "accepted", n: "accepted"}, at=local(2026, 11, 10, 10))
    # Paid 2200.00 for 2100.00 accepted: 100.00 too much (the item's amount is -100.00) ...
    record(b, batch, D("2200.00"))
    ((amount, message),) = open_items(batch)
    assert amount == D("-100.00") and "€ 100,00 te veel betaald" in message
    # ... and the insurer takes 100.00 back.
    record(b, batch, D("-100.00"), reference="ZK terugboeking")
    assert open_items(batch) == []


def test_the_insurers_answer_matches_the_payments_again(b):
    """A payment can arrive before the answer: 2100.00 received while nothing is accepted yet is
    2100.00 too much. The answer accepts A and rejects N: accepted 1200.00, received 2100.00, 900.00 too
    much; the same item is updated, not a second one opened."""
    batch, a, n = two_lines(b)
    record(b, batch, D("2100.00"))
    assert open_items(batch)[0][0] == D("-2100.00")
    answer(b, batch, {a: "accepted", n: "0101"}, at=local(2026, 11, 21, 10))  # the portal: no tenant in scope
    assert [x[0] for x in open_items(batch)] == [D("-900.00")]
    assert WorkItem.unscoped.filter(batch=batch).count() == 1


def test_a_batch_without_payments_has_nothing_to_match(b):
    batch, a, n = two_lines(b)
    answer(b, batch, {a: "accepted", n: "accepted"}, at=local(2026, 11, 10, 10))
    with tenant_scope(b.tenant):
        assert insurer_payment_match(batch=batch) is None
    assert not WorkItem.unscoped.filter(batch=batch).exists()


@pytest.mark.parametrize(
    "amount,fields,errors",
    [
        ("12.345", {}, {"amount"}),
        ("0", {}, {"amount"}),
        ("0.00", {}, {"amount"}),
        ("twaalf", {}, {"amount"}),
        (12.5, {}, {"amount"}),
        ("", {}, {"amount"}),
        ("NaN", {}, {"amount"}),
        ("1e13", {}, {"amount"}),
        ("100.00", {"received_on": dt.date(2026, 11, 21)}, {"received_on"}),
        ("100.00", {"received_on": None}, {"received_on"}),
        ("100.00", {"reference": "   "}, {"reference"}),
        ("100.00", {"reference": "x" * 141}, {"reference"}),
        (
            "1.555",
            {"reference": "", "received_on": dt.date(2027, 1, 1)},
            {"amount", "reference", "received_on"},
        ),
    ],
)
def test_bad_input_is_refused_field_by_field_and_nothing_is_stored(b, amount, fields, errors):
    batch, _, _ = two_lines(b)
    with pytest.raises(ValidationError) as exc:
        record(b, batch, amount, **fields)
    assert set(exc.value.message_dict) == errors
    assert (
        not InsurerPayment.unscoped.exists()
        and not AuditEntry.objects.filter(action__startswith="insurer").exists()
    )


def test_a_payment_for_a_draft_batch_is_refused(b):
    a = claim(b, at=local(2026, 10, 5, 10), parts={b.maas: D("1200.00")})
    draft = ClaimBatch.unscoped.create(
        tenant=b.tenant, number=9, insurer=b.zk, period=dt.date(2026, 10, 1), line_count=1,
        debit_total=a.amount, total=a.amount,
    )  # fmt: skip
    with pytest.raises(ValidationError) as exc:
        record(b, draft, D("1200.00"))
    assert set(exc.value.message_dict) == {"batch"} and draft.status == BatchStatus.DRAFT
    assert not InsurerPayment.unscoped.exists()


def test_the_batch_page_records_a_payment_and_shows_the_match(b, client_for):
    batch, a, n = two_lines(b)
    answer(b, batch, {a: "accepted", n: "0101"}, at=local(2026, 11, 10, 10))
    finance = client_for(b.finance)
    page_url = f"/t/{b.tenant.slug}/batches/{batch.pk}/"
    html = finance.get(page_url).content.decode()
    assert row(html, "money-claimed") == "€ 2.100,00" and row(html, "money-accepted") == "€ 1.200,00"
    assert row(html, "money-rejected") == "€ 900,00" and row(html, "money-open") == "€ 0,00"
    assert row(html, "payment-status").startswith("wacht op betaling")
    post = f"/t/{b.tenant.slug}/batches/{batch.pk}/payments/"
    response = finance.post(post, {"amount": "1150.00", "received_on": "2026-11-18", "reference": "ZK-7"})
    assert response.status_code == 302 and response["Location"] == f"{page_url}#payments"
    html = finance.get(page_url).content.decode()
    assert row(html, "money-received") == "€ 1.150,00"
    payment = InsurerPayment.unscoped.get()
    assert row(html, f"payment-{payment.pk}").startswith("18-11-2026 ZK-7 € 1.150,00")
    assert "€ 50,00" in row(html, "payment-status")
    # A bad amount: the form again with the service's field error, nothing stored.
    bad = finance.post(post, {"amount": "10.001", "received_on": "2026-11-18", "reference": "ZK-8"})
    assert bad.status_code == 400 and InsurerPayment.unscoped.count() == 1
    assert 'data-field="amount"' in bad.content.decode()
    # An administrator may look but not record.
    admin = client_for(b.world.user(Role.IGO_ADMIN))
    assert 'data-testid="payment-form"' not in admin.get(page_url).content.decode()
    assert (
        admin.post(post, {"amount": "50.00", "received_on": "2026-11-18", "reference": "x"}).status_code
        == 403
    )


def test_the_work_queue_shows_items_about_a_batch_or_a_member_and_filters_them(b, client_for):
    batch, a, n = two_lines(b)
    answer(b, batch, {a: "accepted", n: "accepted"}, at=local(2026, 11, 10, 10))
    record(b, batch, D("2000.00"))
    difference = WorkItem.unscoped.get(batch=batch)
    no_iban = WorkItem.unscoped.create(
        tenant=b.tenant,
        organisation=b.kraam,
        reason=WorkReason.NO_IBAN,
        message="Kraamzorg Rijnmond heeft geen geldige IBAN.",
        amount=D("416.00"),
    )
    finance = client_for(b.finance)
    html = unescape(finance.get(f"/t/{b.tenant.slug}/work-queue/").content.decode())
    text = row(html, f"work-item-{difference.pk}")
    assert f"Batch {batch.number}" in text and "Zilveren Kruis" in text and euro(D("100.00")) in text
    assert f'href="/t/{b.tenant.slug}/batches/{batch.pk}/#payments"' in html
    text = row(html, f"work-item-{no_iban.pk}")
    assert "Kraamzorg Rijnmond" in text and euro(D("416.00")) in text
    assert f'href="/t/{b.tenant.slug}/organisations/{b.kraam.pk}/"' in html
    only_batches = unescape(
        finance.get(f"/t/{b.tenant.slug}/work-queue/", {"subject": "batch"}).content.decode()
    )
    assert f"work-item-{difference.pk}" in only_batches and f"work-item-{no_iban.pk}" not in only_batches
    by_reason = finance.get(f"/t/{b.tenant.slug}/work-queue/", {"reason": "no_iban"}).content.decode()
    assert f"work-item-{no_iban.pk}" in by_reason and f"work-item-{difference.pk}" not in by_reason
    members = finance.get(f"/t/{b.tenant.slug}/work-queue/", {"subject": "organisation"}).content.decode()
    assert f"work-item-{no_iban.pk}" in members and f"work-item-{difference.pk}" not in members
    # A bad filter value is left out rather than refusing the page.
    assert finance.get(f"/t/{b.tenant.slug}/work-queue/", {"subject": "x"}).status_code == 200
    # The claims list (open items per episode) is not troubled by items without an episode.
    assert finance.get(f"/t/{b.tenant.slug}/claims/").status_code == 200
