"""Size and encoding limits of the security review (issue 16, lower findings): a large upload is refused
before its body is read, a care note has a maximum length, and a return file in an encoding other than
UTF-8 or Windows-1252 (Shift-JIS) is refused instead of being read as garbage."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.test import Client
from django.utils import timezone

from billing.insurer.return_files import ReturnFileError, return_file_parse
from igo.models import Role
from igo.tenancy import tenant_scope
from pregnancies import services
from pregnancies.models import CareEvent, EventType

pytestmark = pytest.mark.django_db


class Unread(io.BytesIO):
    """A request body that fails the test if anything reads it."""

    def read(self, *args: object) -> bytes:
        raise AssertionError("the body was read")

    readline = read


def test_a_declared_50_mb_upload_is_refused_before_the_body_is_read(settings):
    response = Client().generic(
        "POST",
        "/accounts/login/",
        CONTENT_TYPE="multipart/form-data; boundary=x",
        CONTENT_LENGTH=str(50 * 2**20),
        **{"wsgi.input": Unread()},
    )
    assert response.status_code == 413
    assert str(settings.MAX_REQUEST_BYTES // 2**20) in response.content.decode()


def test_a_small_request_passes_the_size_limit():
    assert Client().get("/accounts/login/").status_code == 200


@pytest.mark.dated
def test_a_care_note_longer_than_the_limit_is_refused_on_its_field_and_nothing_is_stored(care):
    midwife = care.world.user(Role.MIDWIFE)
    with tenant_scope(care.tenant):
        event_type = EventType.objects.get(code="PRE_CHECK")
        at = timezone.now() - timedelta(days=1)
        with pytest.raises(ValidationError) as refused:
            services.care_event_log(
                actor=midwife,
                episode=care.episode,
                event_type=event_type,
                occurred_at=at,
                note="x" * (services.NOTE_MAX_LENGTH + 1),
            )
        assert list(refused.value.message_dict) == ["note"]
        assert not CareEvent.objects.filter(episode=care.episode).exists()
        event, created, _warnings = services.care_event_log(
            actor=midwife, episode=care.episode, event_type=event_type, occurred_at=at, note="x" * 4000
        )
        assert created and len(event.note) == 4000


def test_a_shift_jis_return_file_is_refused_not_read_as_garbage():
    text = "regel;status;reden;toelichting\r\n1;afgewezen;0101;被保険者が見つかりません\r\n"
    with pytest.raises(ReturnFileError) as refused:
        return_file_parse(text.encode("shift_jis"))
    assert "UTF-8" in str(refused.value.errors[0].message)


def test_a_windows_1252_return_file_with_quotes_and_accents_is_still_read():
    text = "regel;status;reden;toelichting\r\n1;afgewezen;0101;“BSN” niet gevonden – één cliënt\r\n"
    content = text.encode("cp1252")
    try:
        return_file_parse(content)
    except ReturnFileError as exc:  # the rows may be refused for their content, never for the encoding
        assert all("UTF-8" not in str(e.message) for e in exc.errors)
