"""The CSV files of claim batches and member statements: UTF-8, formula-safe (`igo.exports.csv_bytes`).

A batch's CSV is a file agreed with insurers: always semicolon-separated with a decimal point
(`BATCH_FILE`), whoever downloads it. A statement is read by people in a spreadsheet: it is written in the
reader's convention (`igo.exports.csv_convention`: Dutch `;` and decimal comma, or international)."""

from __future__ import annotations

import itertools
from collections.abc import Sequence

from django.utils import timezone

from billing.models import BatchLine, ClaimBatch, Sign
from billing.statements import PayoutStatement, Statement
from igo.exports import BATCH_FILE, CsvConvention, csv_bytes
from igo.text import FAMILY_NAME_LENGTH, INITIALS_LENGTH, ascii_upper

BATCH_CSV_HEADER = (
    "batch", "line", "reference", "corrects", "debit_credit", "bsn", "uzovi", "insured_number",
    "date_of_birth", "family_name", "initials", "prestatie_code", "phase", "service_start", "service_end",
    "tariff", "percentage", "amount", "episode",
)  # fmt: skip


def batch_csv(batch: ClaimBatch, rows: Sequence[BatchLine]) -> bytes:
    return csv_bytes(
        BATCH_CSV_HEADER,
        (
            (
                batch.number,
                r.line_no,
                r.number,
                r.corrects_number,
                "D" if r.sign == Sign.DEBIT else "C",
                r.bsn,
                batch.insurer.uzovi_code,
                # Names and identifiers as the KZ301 file carries them (igo.text), so that the two agree.
                ascii_upper(r.policy_number),
                r.date_of_birth.isoformat() if r.date_of_birth else "",
                ascii_upper(r.family_name, FAMILY_NAME_LENGTH),
                ascii_upper(r.initials, INITIALS_LENGTH),
                r.prestatie_code,
                r.phase,
                r.service_start.isoformat(),
                r.service_end.isoformat(),
                r.tariff,
                r.percentage,
                r.amount,
                r.episode_ref,
            )
            for r in rows
        ),
        convention=BATCH_FILE,
    )


STATEMENT_CSV_HEADER = (
    "organisation", "agb", "period", "date", "entry", "claim_line", "episode", "phase", "prestatie_code",
    "debit_credit", "claim_amount", "amount", "state", "method", "share", "points", "care_events", "batch",
)  # fmt: skip


def statement_csv(statement: Statement, *, convention: CsvConvention | None = None) -> bytes:
    """One row per ledger entry of the month, with its state on the statement's day (`billing.ledger`:
    paid, prepared, due, held, pending); then a row per repayment of a former member booked in the month
    (entry `repayment`: paid once a payout run netted it off, due until then)."""
    org = statement.organisation
    entries = (
        (
            org.name,
            org.agb_code,
            statement.period.strftime("%Y-%m"),
            timezone.localtime(r.moment).date().isoformat(),
            r.entry,
            r.line.number,
            r.line.episode_id,
            r.line.phase,
            r.line.prestatie_code,
            "D" if r.line.sign == "debit" else "C",
            r.line.amount,
            r.amount,
            r.state,
            r.basis.method or ("credit" if r.basis.credit_of else ""),
            r.basis.share,  # None is written as an empty cell
            r.basis.points,
            " ".join(str(e) for e in r.basis.events or ()),
            r.batch_number or "",
        )
        for r in statement.rows
    )
    repaid = (
        (
            org.name,
            org.agb_code,
            statement.period.strftime("%Y-%m"),
            timezone.localtime(r.recorded_at).date().isoformat(),
            "repayment",
            "",
            "",
            "",
            "",
            "",
            "",
            r.amount,
            "paid" if r.netted_in_id else "due",
            "",
            None,
            None,
            "",
            "",
        )
        for r in statement.repayments
    )
    return csv_bytes(STATEMENT_CSV_HEADER, itertools.chain(entries, repaid), convention=convention)


# --- payout statements (issue 14: payouts) -------------------------------------------------------------

PAYOUT_STATEMENT_CSV_HEADER = (
    "organisation", "agb", "payout_month", "payout_reference", "booking_date", "entry", "claim_line", "phase",
    "episode", "debit_credit", "line_status", "amount", "method", "share", "points", "credit_of",
)  # fmt: skip


def payout_statement_csv(statement: PayoutStatement, *, convention: CsvConvention | None = None) -> bytes:
    """Every entry paid in one payout (episodes by reference only), and a former member's repayments netted
    off in it (entry `repayment`); the amounts add up to the payout."""
    payout = statement.payout
    org = payout.organisation
    repaid = (
        (
            org.name,
            org.agb_code,
            payout.run.period.strftime("%Y-%m"),
            payout.end_to_end_id,
            timezone.localtime(r.recorded_at).date().isoformat(),
            "repayment",
            "",
            "",
            "",
            "",
            "",
            r.amount,
            "",
            None,
            None,
            "",
        )
        for r in statement.repayments
    )
    entries = (
        (
            org.name,
            org.agb_code,
            payout.run.period.strftime("%Y-%m"),
            payout.end_to_end_id,
            timezone.localtime(r.booked_at).date().isoformat(),
            r.entry,
            r.line.number,
            r.line.phase,
            r.episode_ref,
            "D" if r.line.sign == Sign.DEBIT else "C",
            r.line.status,
            r.amount,
            r.basis.method,
            r.basis.share,  # None is written as an empty cell
            r.basis.points,
            r.basis.credit_of,
        )
        for r in statement.rows
    )
    return csv_bytes(PAYOUT_STATEMENT_CSV_HEADER, itertools.chain(entries, repaid), convention=convention)
