"""Shared fixtures: two tenants with a user for every role, an outsider, insurer users, MFA helpers, the
billing world and the care-logging world of each tenant."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from django.conf import settings
from django.test import Client

from igo.models import Insurer, User
from tests.factories import InsurerFactory, InsurerMembershipFactory, MembershipFactory, UserFactory
from tests.scenarios.billing import Setup, build
from tests.scenarios.care import Care, make_care
from tests.scenarios.clock import travel
from tests.scenarios.people import TenantWorld, give_totp, make_world, sign_in

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


def pytest_report_header(config: pytest.Config) -> str:
    from django.utils import timezone

    moved = os.environ.get("IGO_TEST_CLOCK")
    return f"clock: {timezone.localtime():%Y-%m-%d %H:%M %Z}" + (f" (moved to {moved})" if moved else "")


def _check_moved_clock() -> None:
    """Under scripts/dated.sh the process's clock must be the moved one: a preload that did not take would
    run the dated pass at today's date and prove nothing."""
    import datetime as dt
    from zoneinfo import ZoneInfo

    moved = os.environ.get("IGO_TEST_CLOCK")
    if not moved:
        return
    target = dt.datetime.fromisoformat(moved)
    if target.tzinfo is None:
        target = target.replace(tzinfo=ZoneInfo("Europe/Amsterdam"))
    now = dt.datetime.now(dt.UTC)
    if abs((now - target).total_seconds()) > 6 * 3600:  # a pass takes minutes, not hours
        raise pytest.UsageError(f"IGO_TEST_CLOCK={moved} but the clock reads {now:%Y-%m-%d %H:%M} UTC")


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
    _check_moved_clock()
    if os.environ.get("IGO_REQUIRE_REAL_SERVICES") == "1":
        engine = settings.DATABASES["default"]["ENGINE"]
        if not engine.endswith("postgresql"):
            raise pytest.UsageError(f"IGO_REQUIRE_REAL_SERVICES=1 but the database engine is {engine}")
        if not settings.CELERY_BROKER_URL.startswith("redis://") or settings.CELERY_TASK_ALWAYS_EAGER:
            raise pytest.UsageError("IGO_REQUIRE_REAL_SERVICES=1 but Celery has no Redis broker")


@pytest.fixture(autouse=True, scope="session")
def _access_cache_of_this_run() -> Iterator[None]:
    """The access cache (igo.access) keys entries by user id and version, the care list's usage counts by
    professional or organisation; a test database made again starts its ids anew while Redis keeps the
    entries of an earlier run: this run uses keys of its own."""
    import uuid

    from igo import access
    from pregnancies import selectors

    run = uuid.uuid4().hex[:12]
    prefix, access.CACHE_PREFIX = access.CACHE_PREFIX, f"{access.CACHE_PREFIX}:test-{run}"
    salt, selectors.USAGE_KEY_SALT = selectors.USAGE_KEY_SALT, f":test-{run}"  # the care list's usage counts
    yield
    access.CACHE_PREFIX = prefix
    selectors.USAGE_KEY_SALT = salt


@pytest.fixture(autouse=True)
def _language_of_a_fresh_thread() -> Iterator[None]:
    """Each test starts in the platform's default language, as a request or task in a fresh thread does: a
    request of an earlier test (a language cookie, igo.middleware.LanguageMiddleware) leaves its language
    active in the thread, and a test that reads a message outside a request would otherwise pass or fail
    by the order the tests run in."""
    from django.utils import translation

    translation.activate(settings.LANGUAGE_CODE)
    yield
    translation.deactivate()


@pytest.fixture(autouse=True)
def _clock_marker(request: pytest.FixtureRequest) -> Iterator[None]:
    """`@pytest.mark.clock(moment)` on a test, class or module: the clock is at `moment` (ticking) before
    any of the test's own fixtures make a row, and back to the process clock after it."""
    marker = request.node.get_closest_marker("clock")
    if marker is None:
        yield
        return
    with travel(marker.args[0]):
        yield


@pytest.fixture
def world_a(db) -> TenantWorld:
    return make_world("Alpha")


@pytest.fixture
def world_b(db) -> TenantWorld:
    return make_world("Beta")


@pytest.fixture
def s(world_a: TenantWorld) -> Setup:
    return build(world_a)


@pytest.fixture
def s_no_rule(world_a: TenantWorld) -> Setup:
    return build(world_a, split_rule=False)


@pytest.fixture
def care(world_a: TenantWorld, insurer: Insurer) -> Care:
    """IGO Alpha ready for care logging (tests.scenarios.care), its client insured with Zilveren Kruis."""
    return make_care(world_a, insurer)


@pytest.fixture
def care_b(world_b: TenantWorld) -> Care:
    """IGO Beta ready for care logging, its client insured with VGZ."""
    return make_care(world_b, InsurerFactory(uzovi_code="7095", name="VGZ"))


@pytest.fixture
def needs_worker() -> None:
    """For `real_worker` tests: a Celery worker on the test database (scripts/worker.sh), never eager."""
    if settings.CELERY_TASK_ALWAYS_EAGER:
        if os.environ.get("IGO_REQUIRE_REAL_SERVICES") == "1":
            pytest.fail("real-worker tests must run against a worker, but Celery is eager")
        pytest.skip("no broker configured: start Redis and scripts/worker.sh, set REDIS_URL")


@pytest.fixture
def outsider(db) -> User:
    """A signed-up user with no membership anywhere."""
    return UserFactory(email="outsider@example.test")


@pytest.fixture
def insurer(db) -> Insurer:
    """Zilveren Kruis, the insurer of the clients in the care-logging scenario (tests.scenarios.care)."""
    return InsurerFactory(uzovi_code="3311", name="Zilveren Kruis")


@pytest.fixture
def insurer_user(db) -> User:
    membership = InsurerMembershipFactory(insurer=InsurerFactory(uzovi_code="3311", name="Zilveren Kruis"))
    give_totp(membership.user)
    return membership.user


@pytest.fixture
def client_for():
    """Return a logged-in test client for a user (MFA already satisfied by force_login)."""

    def make(user: User) -> Client:
        return sign_in(Client(), user)

    return make


@pytest.fixture
def member_client(db, client_for) -> Client:
    """A signed-in member of an IGO with a second factor: who may read the API schema and its documentation
    (anonymous visitors may not)."""
    return client_for(MembershipFactory(user=UserFactory(email="schema-reader@example.test")).user)
