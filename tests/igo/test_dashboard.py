"""The dashboard's recent administrative actions in words (issue 17): what was done, in the reader's
language (igo/describe.py), not the stored action name nor a record kept whole."""

from __future__ import annotations

import re

import pytest

from igo.models import Role
from igo.services import audit_record

pytestmark = pytest.mark.django_db


def test_the_dashboards_recent_actions_read_as_words(world_a, client_for):
    """The administrator's dashboard names what was done ("Uitnodiging verstuurd"), not the stored action
    ("invitation.create") nor a record kept whole (a delivery's before and after)."""
    admin = world_a.user(Role.IGO_ADMIN)
    audit_record(actor=admin, action="invitation.create", tenant=world_a.tenant, email="nieuw@example.test")
    audit_record(
        actor=admin,
        action="delivery.correct",
        tenant=world_a.tenant,
        reason="placenta 06:10",
        before={"placenta_at": "2026-11-10T06:00:00+01:00"},
        after={"placenta_at": "2026-11-10T06:10:00+01:00"},
    )
    page = client_for(admin).get(f"/t/{world_a.tenant.slug}/", HTTP_ACCEPT_LANGUAGE="nl").content.decode()
    rows = re.findall(r'data-testid="recent-audit-row">(.*?)</tr>', page, re.S)
    text = [re.sub(r"<[^>]+>", " ", row) for row in rows]
    # An entry of a clinical change written the old way (values kept) shows no value and no reason.
    assert any("Bevalling gecorrigeerd (na, reden, voor)" in row for row in text), text
    assert "06:10" not in page
    assert any("Uitnodiging verstuurd (e-mailadres: nieuw@example.test)" in row for row in text), text
    assert "invitation.create</td>" not in page and "placenta_at" not in page
