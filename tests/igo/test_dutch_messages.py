"""Dutch messages where English or codes showed: the password length rule (our own validator: Django 5.2's
Dutch catalogue lags), the role in the dashboard's audit lines, and the platform's short-name error."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from igo.models import Invitation, Role, User
from igo.selectors import invitation_token
from igo.services import invitation_create
from igo.tenancy import tenant_scope
from tests.factories import UserFactory
from tests.scenarios.people import give_totp

pytestmark = pytest.mark.django_db


def test_the_invitation_form_states_the_length_rule_and_refuses_a_short_password_in_dutch(world_a):
    with tenant_scope(world_a.tenant):
        invitation = invitation_create(
            tenant=world_a.tenant, actor=world_a.user(Role.IGO_ADMIN), email="nieuw@x.test", role=Role.MIDWIFE
        )
    url = reverse("invitation_accept", args=[invitation_token(invitation)])
    page = Client().get(url).content.decode()
    assert "Uw wachtwoord moet minstens 10 tekens bevatten." in page
    response = Client().post(url, {"full_name": "Nel", "password1": "kort1x!", "password2": "kort1x!"})
    assert response.status_code == 400
    errors = response.context["form"].errors["password1"]
    assert "Dit wachtwoord is te kort. Het moet minstens 10 tekens bevatten." in errors
    assert not User.objects.filter(email="nieuw@x.test").exists()
    assert Invitation.unscoped.get(pk=invitation.pk).accepted_at is None


def test_the_dashboard_shows_the_role_label_in_the_audit_line(world_a, client_for):
    with tenant_scope(world_a.tenant):
        invitation_create(
            tenant=world_a.tenant, actor=world_a.user(Role.IGO_ADMIN), email="b@x.test", role=Role.IGO_ADMIN
        )
    html = client_for(world_a.user(Role.IGO_ADMIN)).get(
        reverse("tenant_dashboard", args=[world_a.tenant.slug])
    )
    text = html.content.decode()
    assert "rol: IGO-beheerder" in text and "igo_admin)" not in text


def test_a_short_name_with_a_space_gets_a_clear_dutch_error(client_for):
    operator = UserFactory(is_staff=True)
    give_totp(operator)
    response = client_for(operator).post(
        "/platform/",
        {"name": "IGO X", "slug": "igo zuid", "agb_code": "53123456", "first_admin_email": "a@b.test"},
    )
    assert response.status_code == 400
    assert response.context["form"].errors["slug"] == [
        "De korte naam mag alleen letters, cijfers en koppeltekens bevatten (geen spaties of accenten), "
        "bijvoorbeeld igo-zuidoost."
    ]
