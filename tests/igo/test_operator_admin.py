"""The operator's admin site: memberships can be added and changed (a 500 before, issue 16), and second
factors are listed without their secrets and can be reset, audited."""

from __future__ import annotations

import pytest
from allauth.mfa.models import Authenticator
from django.urls import reverse

from igo.models import AuditEntry, Membership, Role
from tests.factories import TOTP_SECRET, UserFactory, second_factor

pytestmark = pytest.mark.django_db


@pytest.fixture
def operator(client_for):  # type: ignore[no-untyped-def]
    user = UserFactory(email="operator@platform.test", is_staff=True, is_superuser=True)
    second_factor(user)
    return client_for(user)


def test_adding_and_changing_a_membership_works(operator, world_a, outsider):
    url = reverse("admin:igo_membership_add")
    assert operator.get(url).status_code == 200
    data = {"tenant": world_a.tenant.pk, "user": outsider.pk, "role": Role.MIDWIFE, "is_active": "on"}
    response = operator.post(url, data)
    assert response.status_code == 302, response.content.decode()[:2000]
    membership = Membership.unscoped.get(user=outsider)
    change = reverse("admin:igo_membership_change", args=[membership.pk])
    assert operator.get(change).status_code == 200
    response = operator.post(change, {**data, "role": Role.GYNAECOLOGIST})
    assert response.status_code == 302
    assert Membership.unscoped.get(pk=membership.pk).role == Role.GYNAECOLOGIST
    # The same role twice in one IGO is refused with a message, not a 500.
    again = operator.post(url, {**data, "role": Role.GYNAECOLOGIST})
    assert again.status_code == 200 and again.context["adminform"].form.errors


def test_the_authenticator_admin_shows_no_secret_and_resets_audited(operator, world_a):
    midwife = world_a.user(Role.MIDWIFE)
    totp = Authenticator.objects.get(user=midwife, type=Authenticator.Type.TOTP)
    listing = operator.get(reverse("admin:mfa_authenticator_changelist")).content.decode()
    detail = operator.get(reverse("admin:mfa_authenticator_change", args=[totp.pk]))
    assert detail.status_code == 200
    for page in (listing, detail.content.decode()):
        assert TOTP_SECRET not in page and "secret" not in page.lower()
    assert operator.get(reverse("admin:mfa_authenticator_add")).status_code == 403
    response = operator.post(reverse("admin:mfa_authenticator_delete", args=[totp.pk]), {"post": "yes"})
    assert response.status_code == 302
    assert not Authenticator.objects.filter(pk=totp.pk).exists()
    entry = AuditEntry.objects.get(action="authenticator.reset")
    assert entry.details == {"user": midwife.email, "type": "totp"}
