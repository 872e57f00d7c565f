"""Bank accounts: an IBAN (and BIC) checked with schwifty, as the member organisations' accounts that payouts
go to and the IGO's own account they are paid from (billing.services.payouts) keep them.

An IBAN is stored compact and in capitals (`NL91ABNA0417164300`); it is shown masked except its last four
characters (`mask_iban`), in the audit log too.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _
from schwifty import BIC, IBAN
from schwifty import exceptions as schwifty_errors


@dataclass(frozen=True)
class BankAccount:
    iban: str  # compact, capitals
    bic: str  # compact, capitals; empty when not given and not derivable from the IBAN


def iban_normalise(value: str) -> str:
    """What a person typed, without spaces and in capitals (not checked)."""
    return "".join((value or "").split()).upper()


def iban_check(value: str) -> str:
    """The IBAN, compact, or a ValidationError with the reason in words a person can act on."""
    raw = iban_normalise(value)
    try:
        iban = IBAN(raw)
    except (schwifty_errors.InvalidChecksumDigits, schwifty_errors.InvalidBBANChecksum):
        raise ValidationError(
            _("This IBAN does not pass its check (the check digits do not match); check for a typing error."),
            code="iban_checksum",
        ) from None
    except schwifty_errors.InvalidLength:
        raise ValidationError(
            _("This IBAN has the wrong number of characters for its country."), code="iban_length"
        ) from None
    except schwifty_errors.InvalidCountryCode:
        raise ValidationError(
            _("This IBAN does not start with a known country code."), code="iban_country"
        ) from None
    except schwifty_errors.SchwiftyException:
        raise ValidationError(_("This is not a valid IBAN."), code="iban_invalid") from None
    if not iban.in_sepa_zone:
        raise ValidationError(
            _("This IBAN is outside the SEPA zone; payouts are SEPA credit transfers."), code="iban_sepa"
        )
    return str(iban.compact)


def iban_is_valid(value: str) -> bool:
    try:
        iban_check(value)
    except ValidationError:
        return False
    return True


def bic_check(value: str) -> str:
    """A BIC, compact, or a ValidationError."""
    try:
        return str(BIC(iban_normalise(value)).compact)
    except schwifty_errors.SchwiftyException:
        raise ValidationError(
            _("This is not a valid BIC (8 or 11 characters, e.g. ABNANL2A)."), code="bic_invalid"
        ) from None


def bank_account_check(*, iban: str, bic: str = "") -> BankAccount:
    """An IBAN with its BIC: the BIC given (checked), else the one schwifty knows for the IBAN's bank, else
    none (a SEPA transfer within the zone needs no BIC). Errors are keyed by field: {"iban": …, "bic": …}."""
    errors: dict[str, ValidationError] = {}
    compact = ""
    try:
        compact = iban_check(iban)
    except ValidationError as exc:
        errors["iban"] = exc
    code = ""
    if (bic or "").strip():
        try:
            code = bic_check(bic)
        except ValidationError as exc:
            errors["bic"] = exc
    if errors:
        raise ValidationError(errors)
    if not code:
        derived = IBAN(compact).bic
        code = str(derived.compact) if derived is not None else ""
    return BankAccount(iban=compact, bic=code)


def mask_iban(value: str) -> str:
    """An IBAN with all but its last four characters hidden: `NL91ABNA0417164300` → `****4300`."""
    compact = iban_normalise(value)
    return "****" + compact[-4:] if compact else ""
