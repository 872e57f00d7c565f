"""Validators for Dutch healthcare identifiers. Messages are translated; codes are kept as data."""

from django.contrib.auth import password_validation
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

# AGB provider type of an integrated birth-care organisation (IGO).
AGB_TYPE_IGO = "53"


def validate_agb_code(value: str) -> None:
    if not (isinstance(value, str) and len(value) == 8 and value.isascii() and value.isdigit()):
        raise ValidationError(_("An AGB code consists of exactly 8 digits."), code="agb_format")


def validate_igo_agb_code(value: str) -> None:
    validate_agb_code(value)
    if value[:2] != AGB_TYPE_IGO:
        raise ValidationError(
            _("The AGB code of an IGO starts with provider type %(type)s; this code starts with %(got)s."),
            code="agb_type",
            params={"type": AGB_TYPE_IGO, "got": value[:2]},
        )


def validate_uzovi_code(value: str) -> None:
    if not (isinstance(value, str) and len(value) == 4 and value.isascii() and value.isdigit()):
        raise ValidationError(_("A UZOVI code consists of exactly 4 digits."), code="uzovi_format")


def bsn_is_valid(value: str) -> bool:
    """The eleven-test: weights 9..2 on the first eight digits and -1 on the last."""
    if (
        not (isinstance(value, str) and len(value) == 9 and value.isascii() and value.isdigit())
        or value == "000000000"
    ):
        return False
    total = sum(int(d) * w for d, w in zip(value[:8], range(9, 1, -1), strict=True)) - int(value[8])
    return total % 11 == 0


def validate_bsn(value: str) -> None:
    if not (isinstance(value, str) and len(value) == 9 and value.isascii() and value.isdigit()):
        raise ValidationError(_("A BSN consists of exactly 9 digits."), code="bsn_format")
    if not bsn_is_valid(value):
        raise ValidationError(
            _("This BSN does not pass the eleven-test; check for a typing error."), code="bsn_check"
        )


def validate_big_number(value: str) -> None:
    """A BIG registration number has 11 digits."""
    if value and not (len(value) == 11 and value.isascii() and value.isdigit()):
        raise ValidationError(_("A BIG number consists of exactly 11 digits."), code="big_format")


class MinimumLengthValidator(password_validation.MinimumLengthValidator):
    """Django's minimum password length with a message of our own: Django 5.2 changed its wording and its
    Dutch catalogue lags, so the invitation and password pages showed it in English."""

    def get_error_message(self) -> str:
        return ngettext(
            "This password is too short. It must contain at least %(min_length)d character.",
            "This password is too short. It must contain at least %(min_length)d characters.",
            self.min_length,
        ) % {"min_length": self.min_length}

    def validate(self, password: str, user: object = None) -> None:
        if len(password) < self.min_length:
            raise ValidationError(
                self.get_error_message(), code="password_too_short", params={"min_length": self.min_length}
            )

    def get_help_text(self) -> str:
        return ngettext(
            "Your password must contain at least %(min_length)d character.",
            "Your password must contain at least %(min_length)d characters.",
            self.min_length,
        ) % {"min_length": self.min_length}
