"""The catalogue of care events: an administrator adds and retires entries."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from igo.models import Role
from pregnancies.models import EventType
from tests.scenarios.care_logging import ago, log_service

pytestmark = [pytest.mark.django_db, pytest.mark.dated]


def test_admin_adds_and_retires_catalogue_entries(care, as_role):
    admin = as_role(Role.IGO_ADMIN)
    url = care.url("catalogue/")
    body = {
        "code": "ECHO_EXTRA",
        "name_nl": "Extra echo",
        "name_en": "Extra ultrasound",
        "phase": "prenatal",
        "unit": "item",
        "disciplines": ["midwife", "gynaecologist"],
        "max_quantity": "1",
    }
    assert admin.post(url, body).status_code == 302
    added = EventType.unscoped.get(tenant=care.tenant, code="ECHO_EXTRA")
    assert added.disciplines == ["midwife", "gynaecologist"]
    for bad, field in (
        ({"code": "ECHO_EXTRA"}, "code"),
        ({"code": "echo x"}, "code"),
        ({"disciplines": []}, "disciplines"),
    ):
        response = admin.post(url, {**body, **bad})
        assert response.status_code == 400 and response.context["form"].errors[field]
    assert EventType.unscoped.filter(tenant=care.tenant, code="ECHO_EXTRA").count() == 1
    assert as_role(Role.MIDWIFE).post(url, {**body, "code": "OTHER"}).status_code == 403
    assert admin.post(care.url(f"catalogue/{added.pk}/toggle/")).status_code == 302
    added.refresh_from_db()
    assert not added.is_active
    with pytest.raises(ValidationError) as exc:
        log_service(care, "ECHO_EXTRA", at=ago(days=1))
    assert "event_type" in exc.value.message_dict
