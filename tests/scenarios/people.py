"""People: an IGO with a user for every role, each with a TOTP second factor (tests.factories.TOTP_SECRET),
as the suite's fixtures world_a and world_b make them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from allauth.mfa.models import Authenticator

from igo.models import Role, Tenant, User
from tests.factories import MembershipFactory, TenantFactory, UserFactory


@dataclass
class TenantWorld:
    tenant: Tenant
    users: dict[str, User] = field(default_factory=dict)

    def user(self, role: str) -> User:
        return self.users[role]


def give_totp(user: User) -> Authenticator:
    """Register a TOTP device for the user, as the activation flow would (the one she has, if any)."""
    from allauth.mfa.totp.internal.auth import TOTP, generate_totp_secret

    existing = Authenticator.objects.filter(user=user, type=Authenticator.Type.TOTP).first()
    return existing or TOTP.activate(user, generate_totp_secret()).instance


def make_world(name: str) -> TenantWorld:
    tenant = TenantFactory(name=f"IGO {name}", slug=f"igo-{name.lower()}")
    world = TenantWorld(tenant=tenant)
    for role in Role.values:
        user = UserFactory(email=f"{role}@{name.lower()}.test")
        MembershipFactory(tenant=tenant, user=user, role=role)  # with a second factor
        world.users[role] = user
    return world


def sign_in(client: Any, user: User, *, minutes_ago: float = 60) -> Any:
    """Sign the test client in as the user the way the sign-in page does: password, then second factor.
    `force_login` alone makes a session that passed no factor, which the platform signs out for a user who
    has one (igo.mfa_session); this notes both steps in the session as allauth does, an hour ago by default
    (so what asks to sign in again, a new key, still asks); `minutes_ago=0` is a sign-in just now, what such a
    page accepts without asking again (`signed_in_just_now`)."""
    import time

    from allauth.account.authentication import AUTHENTICATION_METHODS_SESSION_KEY
    from allauth.account.internal.flows.login import _AUTHENTICATION_METHODS_USER_SESSION_KEY
    from allauth.account.internal.userkit import user_id_to_str

    client.force_login(user)
    session = client.session
    now = time.time() - minutes_ago * 60
    session[AUTHENTICATION_METHODS_SESSION_KEY] = [
        {"method": "password", "at": now, "email": user.email},
        {"method": "mfa", "at": now, "type": "totp"},
    ]
    session[_AUTHENTICATION_METHODS_USER_SESSION_KEY] = user_id_to_str(user)
    session.save()
    return client


def signed_in_just_now(client: Any, user: User) -> Any:
    """The test client signed in (password and second factor) and then confirmed her password again a moment
    ago, as the "sign in again" page notes it: a page that asks for that before it makes a key (allauth's
    reauthentication) does not ask."""
    import time

    from allauth.account.authentication import AUTHENTICATION_METHODS_SESSION_KEY

    sign_in(client, user, minutes_ago=0)
    session = client.session
    records = session[AUTHENTICATION_METHODS_SESSION_KEY]
    records.append({"method": "password", "at": time.time(), "email": user.email, "reauthenticated": True})
    session[AUTHENTICATION_METHODS_SESSION_KEY] = records
    session.save()
    return client
