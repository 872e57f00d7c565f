"""Identifiers typed with digits that are not ASCII (a superscript ², Arabic-Indic digits) are refused with
the field's message, never a server error: str.isdigit() says yes to "²", int() then fails."""

import pytest
from django.core.exceptions import ValidationError

from igo.models import Role
from igo.validators import bsn_is_valid, validate_bsn, validate_uzovi_code
from tests.factories import valid_bsn


@pytest.mark.parametrize("value", ["12345678²", "٣٣٣٣٣٣٣٣٣"])
def test_a_bsn_with_other_digits_is_refused_as_a_format_error(value):
    assert bsn_is_valid(value) is False
    with pytest.raises(ValidationError) as refused:
        validate_bsn(value)
    assert refused.value.code == "bsn_format"


def test_a_uzovi_code_with_a_superscript_is_refused():
    with pytest.raises(ValidationError) as refused:
        validate_uzovi_code("331²")
    assert refused.value.code == "uzovi_format"


@pytest.mark.django_db
def test_the_access_log_filter_with_a_superscript_client_is_not_a_server_error(world_a, client_for):
    admin = client_for(world_a.user(Role.IGO_ADMIN))
    response = admin.get(f"/t/{world_a.tenant.slug}/access-log/?client=²")
    assert response.status_code == 200


def test_the_test_factories_bsn_has_nine_digits_for_any_number():
    for n in (0, 1, 24_500_000, 10**12):
        assert len(valid_bsn(n)) == 9 and bsn_is_valid(valid_bsn(n))
