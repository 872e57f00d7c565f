"""KZ302 return files made by hand from the Vektis layout: accepted, rejected and partly awarded lines are
read back into the right lines and amounts, a partial award is settled at what the insurer awarded (the
books reconcile, statements and the payout show the reduction), a whole-file rejection, each malformed file,
the return-code list, and the portal upload and the API post."""

from __future__ import annotations

import datetime as dt
from typing import cast

import pytest
from django.core.management import call_command
from django.urls import reverse
from django.utils import translation

from billing import ledger, reconcile
from billing.files.kz302 import Kz302Error, kz302_parse
from billing.models import (
    Allocation,
    BatchLine,
    BatchReturn,
    ClaimBatch,
    ClaimLine,
    LineStatus,
    ReturnCode,
    ReturnLine,
    WorkItem,
    WorkReason,
)
from billing.services.return_codes import return_code_labels
from billing.services.returns import ReturnEntry, ReturnError, batch_return_record
from igo import services as igo_services
from igo.models import AuditEntry, User
from igo.tenancy import tenant_scope
from tests.factories import UserFactory
from tests.scenarios.batches import insurer_employee
from tests.scenarios.billing import touch
from tests.scenarios.clock import travel
from tests.scenarios.kz302 import Answer, agb_of, invoice_of, kz302_file
from tests.scenarios.payouts import (
    KRAAM_IBAN,
    D,
    PayoutWorld,
    at,
    bill,
    completed_pregnancy,
    credit,
    lines,
    paid,
    payout_world,
    prepare,
    send_batch,
)

pytestmark = pytest.mark.django_db

NOV = dt.date(2026, 11, 1)


def sent(world_a) -> tuple[PayoutWorld, ClaimBatch, dict[str, ClaimLine], str]:
    """Three lines sent to Zilveren Kruis on 20 November: prenatal 1200, natal 900, postnatal 1500."""
    pw = payout_world(world_a, kraam_iban=KRAAM_IBAN)
    ep = completed_pregnancy(pw)
    bill(pw, at(2026, 11, 2))
    batch = send_batch(pw, NOV, at(2026, 11, 20))
    bsn = BatchLine.unscoped.filter(batch=batch).values_list("bsn", flat=True).first()
    return pw, batch, lines(ep), str(bsn)


def mixed(batch: ClaimBatch, first: dict[str, ClaimLine], bsn: str, **kwargs) -> bytes:
    """Prenatal accepted, natal rejected (0435), postnatal awarded 1200.00 of 1500.00 (0611)."""
    return kz302_file(
        uzovi="3311",
        invoice=invoice_of(batch),
        agb=agb_of(batch),
        answers=[
            Answer(first["prenatal"].number, bsn, D("1200.00"), D("1200.00"), ("8001",)),
            Answer(first["natal"].number, bsn, D("900.00"), D("0.00"), ("0435",)),
            Answer(first["postnatal"].number, bsn, D("1500.00"), D("1200.00"), ("0611",)),
        ],
        **kwargs,
    )


def record(batch: ClaimBatch, content: bytes, moment: dt.datetime) -> BatchReturn:
    with travel(moment):
        parsed = kz302_parse(content, batch=batch)
        return batch_return_record(
            batch=batch,
            entries=parsed.entries,
            user=cast(User, UserFactory(email=f"zk{batch.pk}@zk.test")),
            source="file",
            filename="retour.kz302",
        )


def test_a_kz302_file_is_read_into_accepted_rejected_and_partly_awarded_lines_and_the_books_follow(world_a):
    pw, batch, first, bsn = sent(world_a)
    answer = record(batch, mixed(batch, first, bsn), at(2026, 11, 25))
    assert (answer.accepted, answer.rejected, answer.partial) == (1, 1, 1)
    stored = {
        r.batch_line.number: (r.status, r.reason_code, r.awarded_amount)
        for r in ReturnLine.unscoped.select_related("batch_line")
    }
    assert stored == {
        first["prenatal"].number: ("accepted", "8001", D("1200.00")),
        first["natal"].number: ("rejected", "0435", D("0.00")),
        first["postnatal"].number: ("partial", "0611", D("1200.00")),
    }
    status = {line.phase: ClaimLine.unscoped.get(pk=line.pk).status for line in first.values()}
    # A partial award is accepted at the awarded amount.
    assert status == {
        "prenatal": LineStatus.ACCEPTED,
        "natal": LineStatus.REJECTED,
        "postnatal": LineStatus.ACCEPTED,
    }

    # The postnatal line is divided anew at 1200.00: overhead 5 % = 60.00, reserve 2 % = 24.00, members
    # 1116.00: practice 30 % = 334.80, kraamzorg 70 % = 781.20 (was 75.00 / 30.00 / 418.50 / 976.50).
    postnatal = first["postnatal"]
    current = Allocation.unscoped.filter(claim_line=postnatal, is_current=True)
    assert sum(a.amount for a in current) == D("1200.00")
    assert {(a.kind, a.organisation_id): a.amount for a in current} == {
        ("overhead", None): D("60.00"),
        ("reserve", None): D("24.00"),
        ("member", pw.practice.pk): D("334.80"),
        ("member", pw.kraam.pk): D("781.20"),
    }
    assert Allocation.unscoped.filter(claim_line=postnatal, is_current=False).count() == 4

    # The insurer's side: claimed 3600 = accepted 2400 + not awarded 300 + rejected 900 + open 0.
    with tenant_scope(pw.tenant):
        money = ledger.batch_money([batch.pk])[batch.pk]
    assert (money.claimed, money.accepted, money.not_awarded, money.rejected, money.open) == (
        D("3600.00"),
        D("2400.00"),
        D("300.00"),
        D("900.00"),
        D("0.00"),
    )
    item = WorkItem.unscoped.get(reason=WorkReason.PARTIAL_AWARD, resolved_at__isnull=True)
    assert (item.phase, item.amount) == ("postnatal", D("300.00"))
    assert "0611" in item.message and postnatal.number in item.message
    rejected = WorkItem.unscoped.get(reason=WorkReason.REJECTED)
    assert "0435" in rejected.message and "Burgerservicenummer" in rejected.message

    report = reconcile.books_check(tenant=pw.tenant, today=dt.date(2026, 12, 3))
    assert report.ok, reconcile.problem_lines(report)
    assert report.insurers["3311"]["not_awarded"] == D("300.00")

    # The member statements show the reduction as entries: the kraamzorg's November is +976.50 - 976.50
    # + 781.20 = 781.20.
    with tenant_scope(pw.tenant):
        totals = ledger.month_totals(period=NOV, today=dt.date(2026, 12, 3))
    assert totals.member(pw.kraam.pk).allocated == D("781.20")
    # The run pays exactly the awarded parts: practice prenatal 781.20 + postnatal 334.80 = 1116.00;
    # hospital prenatal 334.80 (natal is held back); kraamzorg 781.20. Total 2232.00 = 93 % of 2400.00.
    run = prepare(pw, NOV, at(2026, 12, 3))
    assert paid(run) == {
        "Kraamzorg Noord": D("781.20"),
        "Praktijk De Wieg": D("1116.00"),
        "Ziekenhuis Oost": D("334.80"),
    }
    assert run.total == D("2232.00")
    report = reconcile.books_check(tenant=pw.tenant, today=dt.date(2026, 12, 3))
    assert report.ok, reconcile.problem_lines(report)

    # Finance objects: the line is credited (its parts as they are now, -1200.00 in all, against a credit
    # of the claimed -1500.00) and billed again; the work item is resolved and the books still reconcile.
    opposite = credit(pw, postnatal, at(2026, 12, 5))
    touch(postnatal.episode)  # the billing run bills the phase again
    bill(pw, at(2026, 12, 5, 11))
    assert opposite.amount == D("-1500.00")
    assert sum(a.amount for a in Allocation.unscoped.filter(claim_line=opposite, is_current=True)) == D(
        "-1200.00"
    )
    assert not WorkItem.unscoped.filter(reason=WorkReason.PARTIAL_AWARD, resolved_at__isnull=True).exists()
    assert lines(first["postnatal"].episode)["postnatal"].amount == D("1500.00")
    report = reconcile.books_check(tenant=pw.tenant, today=dt.date(2026, 12, 5))
    assert report.ok, reconcile.problem_lines(report)


def test_a_whole_file_rejection_rejects_every_line_with_its_code(world_a):
    pw, batch, _first, _bsn = sent(world_a)
    content = kz302_file(
        uzovi="3311", invoice=invoice_of(batch), agb=agb_of(batch), answers=[], file_codes=("8073",)
    )
    answer = record(batch, content, at(2026, 11, 25))
    assert (answer.accepted, answer.rejected, answer.partial) == (0, 3, 0)
    assert set(ReturnLine.unscoped.values_list("status", "reason_code")) == {("rejected", "8073")}
    assert reconcile.books_check(tenant=pw.tenant, today=dt.date(2026, 12, 3)).ok


def test_person_codes_apply_to_lines_without_codes_of_their_own(world_a):
    _pw, batch, first, bsn = sent(world_a)
    content = kz302_file(
        uzovi="3311",
        invoice=invoice_of(batch),
        agb=agb_of(batch),
        answers=[Answer(first["prenatal"].number, bsn, D("1200.00"), D("0.00"))],
        person_codes={bsn: ("0320",)},
    )
    record(batch, content, at(2026, 11, 25))
    assert ReturnLine.unscoped.get().reason_code == "0320"


def test_each_malformed_file_is_refused_with_a_field_error_and_nothing_is_stored(world_a):
    _pw, batch, first, bsn = sent(world_a)
    good = mixed(batch, first, bsn)
    twice = kz302_file(
        uzovi="3311",
        invoice=invoice_of(batch),
        agb=agb_of(batch),
        answers=[
            Answer(first["prenatal"].number, bsn, D("1200.00"), D("1200.00")),
            Answer(first["prenatal"].number, bsn, D("1200.00"), D("1200.00")),
        ],
    )
    unknown = kz302_file(
        uzovi="3311",
        invoice=invoice_of(batch),
        agb=agb_of(batch),
        answers=[Answer("999-PRE-D1", bsn, D("1200.00"), D("1200.00"))],
    )
    cases: list[tuple[str, bytes, tuple[int, str]]] = [
        ("records of 310 positions", mixed(batch, first, bsn, length=310), (1, "record")),
        ("no CR LF at the end", good[:-2], (0, "file")),
        ("not ASCII", good.replace(b"EUR", "EÜR".encode()), (0, "file")),
        ("an unknown record type", good.replace(b"\r\n02", b"\r\n03", 1), (2, "record")),
        ("another insurer", mixed(batch, first, bsn).replace(b"3311", b"7029", 1), (1, "uzovi")),
        (
            "another invoice",
            kz302_file(uzovi="3311", invoice="999", agb=agb_of(batch), answers=[]),
            (1, "invoice"),
        ),
        ("a line not in the batch", unknown, (3, "reference")),
        ("a line answered twice", twice, (4, "reference")),
        ("the 99 totals", mixed(batch, first, bsn, totals={46: "00000000001"}), (6, "totals")),
        ("the 99 counts", mixed(batch, first, bsn, totals={15: "000009"}), (6, "totals")),
        (
            "more awarded than declared",
            kz302_file(
                uzovi="3311",
                invoice=invoice_of(batch),
                agb=agb_of(batch),
                answers=[Answer(first["natal"].number, bsn, D("900.00"), D("950.00"))],
            ),
            (3, "awarded_amount"),
        ),
        (
            "another insured person's BSN",
            kz302_file(
                uzovi="3311",
                invoice=invoice_of(batch),
                agb=agb_of(batch),
                answers=[Answer(first["natal"].number, "999999990", D("900.00"), D("900.00"))],
            ),
            (3, "bsn"),
        ),
        (
            "another IGO's declaration",
            kz302_file(uzovi="3311", invoice=invoice_of(batch), agb="53009999", answers=[]),
            (1, "agb"),
        ),
        (
            "nothing awarded without a code",
            kz302_file(
                uzovi="3311",
                invoice=invoice_of(batch),
                agb=agb_of(batch),
                answers=[Answer(first["natal"].number, bsn, D("900.00"), D("0.00"))],
            ),
            (3, "reason_code"),
        ),
    ]
    for case, content, expected in cases:
        with pytest.raises(Kz302Error) as exc:
            kz302_parse(content, batch=batch)
        assert expected in [(e.row, e.field) for e in exc.value.errors], (case, exc.value.errors)
        assert all(str(e.message) for e in exc.value.errors)
    assert not ReturnLine.unscoped.exists() and not BatchReturn.unscoped.exists()
    # A line answered before: the service refuses the whole file (record 3 is the prenatal line).
    record(
        batch,
        kz302_file(
            uzovi="3311",
            invoice=invoice_of(batch),
            agb=agb_of(batch),
            answers=[Answer(first["prenatal"].number, bsn, D("1200.00"), D("1200.00"))],
        ),
        at(2026, 11, 25),
    )
    with pytest.raises(ReturnError) as refused:
        record(batch, good, at(2026, 11, 26))
    assert [(e.row, e.field) for e in refused.value.errors] == [(1, "reference")]
    assert ReturnLine.unscoped.count() == 1


def test_return_codes_load_adds_redates_and_ends_codes_and_a_second_run_changes_nothing(tmp_path, capsys):
    assert ReturnCode.objects.filter(code="0435").exists()  # seeded by the migration
    listing = tmp_path / "cod954.csv"
    listing.write_text(
        "code;description;valid_from;valid_until\n"
        "9001;Nieuwe code van Vektis;2027-01-01;\n"
        "0611;Tarief wijkt af van de overeenkomst;2027-01-01;\n"
        "8062;Een debetregel en een gelijke creditregel in hetzelfde bestand;2017-01-01;2026-12-31\n",
        encoding="utf-8",
    )
    call_command("return_codes_load", str(listing), "--language", "en")
    out = capsys.readouterr().out
    assert (
        "9001 added" in out and "0611" in out and "8062 ended on 2026-12-31" in out and "3 change(s)" in out
    )
    call_command("return_codes_load", str(listing), "--language", "en")
    assert "0 change(s)" in capsys.readouterr().out
    # A batch released in 2026 reads 0611 as it was then; one of 2027 reads the new text.
    with translation.override("en"):
        old = return_code_labels(["0611", "9001", "8062", "ZZ99"], on=dt.date(2026, 11, 20))
        new = return_code_labels(["0611", "9001", "8062"], on=dt.date(2027, 2, 1))
    assert old["0611"] == "Tarief ontbreekt of is niet volgens de overeenkomst"
    assert new["0611"] == "Tarief wijkt af van de overeenkomst"
    # Not known yet in 2026, never known, or ended: shown as unknown, kept as it came.
    assert old["9001"] == old["ZZ99"] == new["8062"] == "unknown code"
    assert old["8062"] == "Een debetregel en een gelijke creditregel in hetzelfde bestand"
    assert new["9001"] == "Nieuwe code van Vektis"
    assert ReturnCode.objects.get(code="0611", valid_from=dt.date(2017, 1, 1)).valid_until == dt.date(
        2026, 12, 31
    )


def test_the_portal_takes_a_kz302_upload_next_to_the_csv(world_a, client_for):
    pw, batch, first, bsn = sent(world_a)
    user = insurer_employee(pw.zk, "retour@zk.test")
    client = client_for(user)
    url = reverse("insurer_return_upload", kwargs={"pk": batch.pk})
    bad = client.post(url, {"file": _upload(mixed(batch, first, bsn, length=310))})
    assert bad.status_code == 400 and not ReturnLine.unscoped.exists()
    with travel(at(2026, 11, 25)):
        response = client.post(url, {"file": _upload(mixed(batch, first, bsn))})
    assert response.status_code == 302
    answer = BatchReturn.unscoped.get()
    assert (answer.source, answer.filename, answer.partial) == ("file", "retour.kz302", 1)
    assert AuditEntry.objects.filter(action="batch.return", tenant=pw.tenant).count() == 1
    with travel(at(2026, 11, 25, 11)):
        shown = client.get(reverse("insurer_batch_detail", kwargs={"pk": batch.pk}))
    assert shown.status_code == 200, shown.status_code
    page = shown.content.decode()
    assert "Burgerservicenummer ontbreekt of is onjuist" in page


def test_the_api_takes_a_kz302_post(world_a, client):
    pw, batch, first, bsn = sent(world_a)
    user = insurer_employee(pw.zk, "api@zk.test")
    _token, key = igo_services.insurer_token_create(user=user, insurer=pw.zk, name="retour", days=30)
    url = reverse("api_insurer_batch_returns", kwargs={"pk": batch.pk})
    auth = {"HTTP_AUTHORIZATION": f"Bearer {key}"}
    bad = client.post(
        url, data=mixed(batch, first, bsn, totals={15: "000009"}), content_type="text/plain", **auth
    )
    assert bad.status_code == 400 and "6" in bad.json()["records"]
    with travel(at(2026, 11, 25)):
        response = client.post(url, data=mixed(batch, first, bsn), content_type="text/plain", **auth)
    assert response.status_code == 201, response.content
    assert {k: response.json()[k] for k in ("accepted", "partly_awarded", "rejected", "open")} == {
        "accepted": 1,
        "partly_awarded": 1,
        "rejected": 1,
        "open": 0,
    }
    assert BatchReturn.unscoped.get().source == "api"
    assert AuditEntry.objects.filter(action="batch.return", tenant=pw.tenant).count() == 1
    detail = client.get(reverse("api_insurer_batch_detail", kwargs={"pk": batch.pk}), **auth).json()
    awarded = {line["reference"]: line["answer"]["awarded_amount"] for line in detail["lines"]}
    assert awarded[first["postnatal"].number] == "1200.00"


def _upload(content: bytes):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile("retour.kz302", content, content_type="text/plain")


# --- the claims clerk's review: only true errors, amounts as the pages write them --------------------------


def test_one_refused_record_is_the_only_error_the_totals_add_up_over_every_record(world_a, client_for):
    # The prenatal line declared 1200.00; the insurer's record echoes it but awards 1500.00. The closing
    # record totals all three records (1200 + 900 + 1500 = 3600.00 declared): that is right, so the upload
    # reports the one bad record and no totals error.
    pw, batch, first, bsn = sent(world_a)
    content = kz302_file(
        uzovi="3311",
        invoice=invoice_of(batch),
        agb=agb_of(batch),
        answers=[
            Answer(first["prenatal"].number, bsn, D("1200.00"), D("1500.00")),
            Answer(first["natal"].number, bsn, D("900.00"), D("900.00")),
            Answer(first["postnatal"].number, bsn, D("1500.00"), D("1500.00")),
        ],
    )
    with pytest.raises(Kz302Error) as refused:
        kz302_parse(content, batch=batch)
    assert [(e.row, e.field) for e in refused.value.errors] == [(3, "awarded_amount")]
    # A closing record that is wrong as well is still reported (the sum covers the refused record too).
    wrong_total = content.replace(b"00000360000D", b"00000365000D")
    assert wrong_total != content
    with pytest.raises(Kz302Error) as both:
        kz302_parse(wrong_total, batch=batch)
    assert {(e.row, e.field) for e in both.value.errors} == {(3, "awarded_amount"), (6, "totals")}
    # The portal says it once per row, with the amounts as its pages show them.
    user = insurer_employee(pw.zk, "declaraties@zk.test")
    response = client_for(user).post(
        reverse("insurer_return_upload", kwargs={"pk": batch.pk}), {"file": _upload(content)}
    )
    assert response.status_code == 400
    errors = response.content.decode().split('data-testid="upload-errors"', 1)[1].split("</ul>", 1)[0]
    assert errors.count("<li") == 1
    assert "Rij 3 · toegekend bedrag: € 1.500,00 toegekend voor regel" in errors
    assert "die € 1.200,00 declareerde" in errors
    assert "Record 3" not in errors and "1500.00" not in errors
    assert not ReturnLine.unscoped.exists()


def test_amounts_in_kz302_errors_follow_the_language(world_a):
    _pw, batch, first, bsn = sent(world_a)
    content = kz302_file(
        uzovi="3311",
        invoice=invoice_of(batch),
        agb=agb_of(batch),
        answers=[Answer(first["postnatal"].number, bsn, D("1480.00"), D("1480.00"))],
    )
    for language, declared, claimed in (
        ("nl", "€ 1.480,00", "€ 1.500,00"),
        ("en", "€ 1,480.00", "€ 1,500.00"),
    ):
        with translation.override(language), pytest.raises(Kz302Error) as refused:
            kz302_parse(content, batch=batch)
        (message,) = [str(e.message) for e in refused.value.errors]
        assert declared in message and claimed in message, message


def test_a_kz302_file_keeps_a_code_the_operators_list_does_not_know_yet(world_a):
    # Vektis adds codes; the insurer's system writes the new one before the operator loads the list. A typed
    # answer (portal, JSON, CSV) is held to the list, a KZ302 file is not.
    _pw, batch, first, bsn = sent(world_a)
    assert not ReturnCode.objects.filter(code="9876").exists()
    content = kz302_file(
        uzovi="3311",
        invoice=invoice_of(batch),
        agb=agb_of(batch),
        answers=[Answer(first["natal"].number, bsn, D("900.00"), D("0.00"), ("9876",))],
    )
    record(batch, content, at(2026, 11, 25))
    assert ReturnLine.unscoped.get().reason_code == "9876"
    with pytest.raises(ReturnError) as typed:
        batch_return_record(
            batch=batch,
            entries=[ReturnEntry(reference=first["prenatal"].number, status="rejected", reason_code="9876")],
            user=cast(User, UserFactory(email="typed@zk.test")),
        )
    assert [(e.row, e.field) for e in typed.value.errors] == [(1, "reason_code")]
