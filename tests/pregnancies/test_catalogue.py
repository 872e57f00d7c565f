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


def test_the_logging_form_offers_an_entry_as_soon_as_it_is_added_or_retired(care, as_role):
    """The form's entries come from a cache (selectors._catalogue): adding and retiring one drop it."""
    midwife, admin = as_role(Role.MIDWIFE), as_role(Role.IGO_ADMIN)
    page = care.url(f"episodes/{care.episode.pk}/")

    def offered() -> set[str]:
        return {t.code for t in midwife.get(page).context["form"].fields["event_type"].listed}

    assert "ECHO_EXTRA" not in offered() and "PRE_CHECK" in offered()  # the second read is the cache's
    body = {
        "code": "ECHO_EXTRA",
        "name_nl": "Extra echo",
        "name_en": "Extra ultrasound",
        "phase": "prenatal",
        "unit": "item",
        "disciplines": ["midwife"],
        "max_quantity": "1",
    }
    assert admin.post(care.url("catalogue/"), body).status_code == 302
    assert "ECHO_EXTRA" in offered()
    added = EventType.unscoped.get(tenant=care.tenant, code="ECHO_EXTRA")
    assert admin.post(care.url(f"catalogue/{added.pk}/toggle/")).status_code == 302
    assert "ECHO_EXTRA" not in offered()
