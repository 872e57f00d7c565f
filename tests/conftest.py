"""Shared fixtures: two tenants with a user for every role, an outsider, insurer users, MFA helpers."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import pytest
from allauth.mfa.models import Authenticator
from django.conf import settings
from django.test import Client

from igo.models import Role, Tenant, User
from tests.factories import (
    InsurerFactory,
    InsurerMembershipFactory,
    MembershipFactory,
    TenantFactory,
    UserFactory,
)

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


def pytest_configure(config: pytest.Config) -> None:
    """In CI the suite must run on the real services; a silent fallback to SQLite would hide bugs."""
    # Templates resolve {% static %} through the finders, without a collectstatic manifest.
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    # Hashing with the production work factor would dominate the run time of the suite.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    # The test client and the live server speak plain HTTP.
    settings.SECURE_SSL_REDIRECT = False
    settings.SESSION_COOKIE_SECURE = False
    settings.CSRF_COOKIE_SECURE = False
    settings.LANGUAGE_COOKIE_SECURE = False
    # A browser refuses a __Host- cookie without Secure (settings.py names them so when HTTPS is on).
    settings.SESSION_COOKIE_NAME, settings.CSRF_COOKIE_NAME = "sessionid", "csrftoken"
    if os.environ.get("IGO_REQUIRE_REAL_SERVICES") == "1":
        engine = settings.DATABASES["default"]["ENGINE"]
        if not engine.endswith("postgresql"):
            raise pytest.UsageError(f"IGO_REQUIRE_REAL_SERVICES=1 but the database engine is {engine}")
        if not settings.CELERY_BROKER_URL.startswith("redis://") or settings.CELERY_TASK_ALWAYS_EAGER:
            raise pytest.UsageError("IGO_REQUIRE_REAL_SERVICES=1 but Celery has no Redis broker")


@dataclass
class TenantWorld:
    tenant: Tenant
    users: dict[str, User] = field(default_factory=dict)

    def user(self, role: str) -> User:
        return self.users[role]


def give_totp(user: User) -> Authenticator:
    """Register a TOTP device for the user, as the activation flow would."""
    from allauth.mfa.totp.internal.auth import TOTP, generate_totp_secret

    return TOTP.activate(user, generate_totp_secret()).instance


def make_world(name: str) -> TenantWorld:
    tenant = TenantFactory(name=f"IGO {name}", slug=f"igo-{name.lower()}")
    world = TenantWorld(tenant=tenant)
    for role in Role.values:
        user = UserFactory(email=f"{role}@{name.lower()}.test")
        MembershipFactory(tenant=tenant, user=user, role=role)
        if role in (Role.IGO_ADMIN, Role.IGO_FINANCE):
            give_totp(user)
        world.users[role] = user
    return world


@pytest.fixture
def world_a(db) -> TenantWorld:
    return make_world("Alpha")


@pytest.fixture
def world_b(db) -> TenantWorld:
    return make_world("Beta")


@pytest.fixture
def outsider(db) -> User:
    """A signed-up user with no membership anywhere."""
    return UserFactory(email="outsider@example.test")


@pytest.fixture
def insurer_user(db) -> User:
    membership = InsurerMembershipFactory(insurer=InsurerFactory(uzovi_code="3311", name="Zilveren Kruis"))
    give_totp(membership.user)
    return membership.user


@pytest.fixture
def client_for():
    """Return a logged-in test client for a user (MFA already satisfied by force_login)."""

    def make(user: User) -> Client:
        client = Client()
        client.force_login(user)
        return client

    return make
