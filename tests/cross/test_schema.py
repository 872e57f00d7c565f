"""Every operation of the OpenAPI schema, fuzzed with schemathesis through the WSGI application.

The schema is the document `/api/schema/` serves (drf-spectacular, built here with the same generator so
that the operations are known when pytest collects). Each operation is one test, called with real
credentials so the requests reach the views: a DRF token of a person who is administrator, finance and
midwife of the seeded IGO for `/api/t/<slug>/…` and `/api/me/`, and an insurer API key for
`/api/insurer/…`. The `tenant_slug` path parameter is always the seeded IGO; half of the generated `id`s
are replaced by ids of real objects, so that detail views and actions find something.

Schemathesis runs its three phases per operation: the schema's examples, the coverage phase (boundary
values, wrong types, unexpected methods) and random fuzzing. Checks: no 5xx (`not_a_server_error`), and
for documented status codes a body and content type that conform to the schema. Undocumented
401/403/404/405/429 answers are not failures here: the isolation and permission tests assert those.

The seeded IGO is the billing world of 2026: the module fixture makes it, and the requests of every test
that uses it are made, with the clock at BILLING_NOW (its lines go to that month's batches, no submission
deadline has passed, the insurer key is valid).

The errors it found are kept as regression tests at the end of this file (a month of year 0000, a NUL
character in a code, an open episode's empty end reason, a tenant left in scope after a 500).
"""

from __future__ import annotations

import copy
import itertools
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import schemathesis
from django.core.cache import cache
from django.core.signals import request_finished, request_started
from django.db import close_old_connections, transaction
from drf_spectacular.generators import SchemaGenerator
from hypothesis import HealthCheck
from hypothesis import settings as hsettings
from rest_framework.test import APIClient, APIRequestFactory, force_authenticate
from rest_framework.throttling import UserRateThrottle
from rest_framework.views import APIView
from schemathesis.checks import not_a_server_error
from schemathesis.config import SchemathesisConfig
from schemathesis.specs.openapi.checks import content_type_conformance, response_schema_conformance

from billing.models import BatchStatus, ClaimBatch, ClaimLine, Contract
from billing.services import batches
from igo import services as igo_services
from igo.api.base import TenantAPIMixin
from igo.dates import month_start
from igo.models import InsurerMembership, Membership, Role
from igo.tenancy import current_tenant_or_none, tenant_scope
from igo.wsgi import application
from pregnancies.models import CareEvent, Client, Episode
from providers.models import Professional
from tests.factories import UserFactory
from tests.scenarios.billing import BILLING_NOW, build, portfolio, run
from tests.scenarios.clock import travel
from tests.scenarios.people import give_totp, make_world

RAW_SCHEMA = SchemaGenerator().get_schema(request=None, public=True)


def fuzz_schema() -> dict[str, Any]:
    """The published schema, as served."""
    return copy.deepcopy(RAW_SCHEMA)


# A fixed seed keeps the suite repeatable; IGO_FUZZ_SEED=<n> explores other inputs.
SEED = int(os.environ.get("IGO_FUZZ_SEED", "20261123"))
# The FHIR NDJSON import (issue 21) takes text, one resource per line: sent as schemathesis sends text/plain.
schemathesis.serializer.alias("application/fhir+ndjson", "text/plain")
schema = schemathesis.openapi.from_dict(fuzz_schema(), config=SchemathesisConfig.from_dict({"seed": SEED}))
schema.app = application
CHECKS = [not_a_server_error, response_schema_conformance, content_type_conformance]
# Per operation in the fuzzing phase (the examples and coverage phases add their own cases);
# IGO_FUZZ_EXAMPLES=200 for a deeper run by hand.
EXAMPLES = int(os.environ.get("IGO_FUZZ_EXAMPLES", "6"))


@dataclass
class Seeded:
    slug: str
    tenant_headers: dict[str, str]
    insurer_headers: dict[str, str]
    ids: dict[str, list[int]] = field(default_factory=dict)


@pytest.fixture(scope="module")
def seeded(django_db_setup: Any, django_db_blocker: Any) -> Iterator[Seeded]:
    """An IGO with the billing pipeline's portfolio, a released and a draft batch, and the credentials.
    Made once for the module inside a transaction that is rolled back at the end; each test runs in
    a savepoint within it (pytest-django's `db`), so what one operation changes, the next does not see.
    The clock stays at BILLING_NOW (ticking) until the module's last test has run."""
    with django_db_blocker.unblock(), travel(BILLING_NOW), transaction.atomic():
        world = make_world("Schema")
        s = build(world)
        portfolio(s)
        run(s)
        finance = world.user(Role.IGO_FINANCE)
        # One person with every office role and a professional profile, so no view stops at 403.
        person = UserFactory(email="all-roles@schema.test")
        for role in (Role.IGO_ADMIN, Role.IGO_FINANCE, Role.MIDWIFE):
            Membership.unscoped.create(tenant=s.tenant, user=person, role=role)
        give_totp(person)
        _personal, personal_key = igo_services.personal_token_create(user=person, name="schemathesis")
        Professional.unscoped.filter(pk=s.pros[s.practice.pk].pk).update(user=person)
        period = month_start(BILLING_NOW.date())  # the month the run's lines are made in
        with tenant_scope(s.tenant):
            released = batches.batch_create(tenant=s.tenant, insurer=s.zk, period=period, actor=finance)
            assert released.batch is not None
            batches.batch_release(batch=released.batch, actor=finance)
            draft = batches.batch_create(tenant=s.tenant, insurer=s.vgz, period=period, actor=finance)
            assert draft.batch is not None
        insurer_user = UserFactory(email="declaraties@schema.test")
        InsurerMembership.objects.create(user=insurer_user, insurer=s.zk)
        give_totp(insurer_user)
        _token, key = igo_services.insurer_token_create(
            user=insurer_user, insurer=s.zk, name="schemathesis", days=30
        )
        data = Seeded(
            slug=s.tenant.slug,
            tenant_headers={"Authorization": f"Bearer {personal_key}"},
            insurer_headers={"Authorization": f"Bearer {key}"},
            ids={
                "contracts": list(Contract.unscoped.filter(tenant=s.tenant).values_list("pk", flat=True)),
                "claim-lines": list(ClaimLine.unscoped.filter(tenant=s.tenant).values_list("pk", flat=True)),
                "clients": list(Client.unscoped.filter(tenant=s.tenant).values_list("pk", flat=True)),
                "episodes": list(Episode.unscoped.filter(tenant=s.tenant).values_list("pk", flat=True)),
                "events": list(CareEvent.unscoped.filter(tenant=s.tenant).values_list("pk", flat=True)),
                "users": list(Membership.unscoped.filter(tenant=s.tenant).values_list("pk", flat=True)),
                "batches": list(
                    ClaimBatch.unscoped.filter(tenant=s.tenant, status=BatchStatus.RELEASED).values_list(
                        "pk", flat=True
                    )
                ),
            },
        )
        assert all(data.ids.values()), data.ids
        yield data
        transaction.set_rollback(True)


@pytest.fixture
def no_throttle(monkeypatch: pytest.MonkeyPatch, settings: Any) -> Iterator[None]:
    """Hundreds of requests a minute are the point here; the rate limits have their own tests."""
    monkeypatch.setattr(UserRateThrottle, "THROTTLE_RATES", {"user": None})
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"user": None, "insurer": None},
    }
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "localhost"]
    cache.clear()
    yield
    cache.clear()


@pytest.fixture(autouse=True)
def no_tenant_left_in_scope() -> Iterator[None]:
    """No request, not even one that ends in a 500, may leave its tenant in scope for the next one."""
    yield
    assert current_tenant_or_none() is None


@pytest.fixture
def keep_connection() -> Iterator[None]:
    """The WSGI handler closes the database connection after each request (CONN_MAX_AGE); that would end
    the test's transaction. Django's test client disconnects the same signal handlers."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


def resource_of(path: str) -> str | None:
    """The kind of object `{id}` names in a path such as /api/t/{tenant_slug}/events/{id}/void/."""
    parts = [p for p in path.split("/") if p]
    if "{id}" not in parts:
        return None
    return parts[parts.index("{id}") - 1]


_turn = itertools.count()


@schema.parametrize()
@hsettings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_api_operation(case: Any, seeded: Seeded, db: None, no_throttle: None, keep_connection: None) -> None:
    path = case.operation.path
    if "tenant_slug" in (case.path_parameters or {}):
        case.path_parameters["tenant_slug"] = seeded.slug
    resource = resource_of(path)  # a kind of object not seeded below keeps its generated ids
    real = seeded.ids.get("batches" if path.startswith("/api/insurer/") else str(resource))
    if resource is not None and real and next(_turn) % 2 == 0:
        generated = case.path_parameters.get("id")
        pick = generated if isinstance(generated, int) else len(str(generated))
        case.path_parameters["id"] = real[pick % len(real)]
    headers = seeded.insurer_headers if path.startswith("/api/insurer/") else seeded.tenant_headers
    case.call_and_validate(headers=headers, checks=CHECKS)


def test_schema_is_the_served_document(member_client: Any) -> None:
    """The operations fuzzed above are the ones `/api/schema/` publishes."""
    served = member_client.get("/api/schema/?format=json").json()
    assert {p: sorted(ops) for p, ops in served["paths"].items()} == {
        p: sorted(ops) for p, ops in RAW_SCHEMA["paths"].items()
    }
    assert served["components"]["schemas"].keys() == RAW_SCHEMA["components"]["schemas"].keys()


def test_every_operation_is_fuzzed() -> None:
    """A new endpoint is fuzzed without anyone adding it here; the list below says what is known."""
    labels = {result.ok().label for result in schema.get_all_operations()}
    assert len(labels) >= 23
    assert {
        "GET /api/insurer/batches/{id}/files/{kind}/",
        "POST /api/insurer/batches/{id}/returns/",
        "POST /api/t/{tenant_slug}/episodes/{id}/events/",
        "POST /api/t/{tenant_slug}/contracts/",
    } <= labels


def test_resource_of_paths() -> None:
    assert resource_of("/api/t/{tenant_slug}/events/{id}/void/") == "events"
    assert resource_of("/api/insurer/batches/{id}/files/{kind}/") == "batches"
    assert resource_of("/api/t/{tenant_slug}/contracts/") is None


# --- errors the fuzzing found ----------------------------------------------------------------------


def _api(headers: dict[str, str]) -> APIClient:
    client = APIClient(raise_request_exception=False)
    client.credentials(HTTP_AUTHORIZATION=headers["Authorization"])
    return client


def test_claim_lines_month_of_year_0000_is_refused(seeded, db, no_throttle):
    response = _api(seeded.tenant_headers).get(f"/api/t/{seeded.slug}/claim-lines/", {"month": "0000-01"})
    assert response.status_code == 400


def test_finance_batches_month_of_year_0000_is_refused(seeded, db, no_throttle):
    response = _api(seeded.tenant_headers).get(f"/api/t/{seeded.slug}/batches/", {"month": "0000-01"})
    assert response.status_code == 400


def test_insurer_batches_period_of_year_0000_is_refused(seeded, db, no_throttle):
    response = _api(seeded.insurer_headers).get("/api/insurer/batches/", {"period": "0000-01"})
    assert response.status_code == 400


@pytest.mark.parametrize(
    "path", ["/api/t/{tenant_slug}/episodes/{id}/", "/api/t/{tenant_slug}/clients/{id}/"]
)
def test_an_open_episode_conforms_to_the_published_schema(path, seeded, db, no_throttle, keep_connection):
    published = schemathesis.openapi.from_dict(copy.deepcopy(RAW_SCHEMA))
    published.app = application
    episode = Episode.unscoped.filter(tenant__slug=seeded.slug, end_reason="").first()
    assert episode is not None
    pk = episode.pk if "episodes" in path else episode.client_id
    case = published[path]["GET"].Case(path_parameters={"tenant_slug": seeded.slug, "id": pk})
    response = case.call(headers=seeded.tenant_headers)
    assert response.status_code == 200
    case.validate_response(response, checks=[response_schema_conformance])


NUL_REASON = (
    "a SlugRelatedField looks the code up as given; a NUL character reaches PostgreSQL, which refuses "
    "it in a text comparison (DataError): 500 instead of 400. DRF's CharField prohibits NUL characters, "
    "its SlugRelatedField does not"
)


def test_intake_with_a_nul_in_the_insurer_code_is_refused(seeded, db, no_throttle):
    response = _api(seeded.tenant_headers).post(
        f"/api/t/{seeded.slug}/clients/", {"insurer": "3311\x00"}, format="json"
    )
    assert response.status_code == 400


def test_event_with_a_nul_in_the_event_type_code_is_refused(seeded, db, no_throttle):
    episode = seeded.ids["episodes"][0]
    response = _api(seeded.tenant_headers).post(
        f"/api/t/{seeded.slug}/episodes/{episode}/events/", {"event_type": "PRE_CHECK\x00"}, format="json"
    )
    assert response.status_code == 400


def test_contract_with_a_nul_in_the_insurer_code_is_refused(seeded, db, no_throttle):
    response = _api(seeded.tenant_headers).post(
        f"/api/t/{seeded.slug}/contracts/", {"insurer": "3311\x00"}, format="json"
    )
    assert response.status_code == 400


class _FailingTenantView(TenantAPIMixin, APIView):
    """A tenant API view whose handler fails, as any view does on an unexpected error (a 500)."""

    def get(self, request: Any, *args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("unexpected")


def test_a_500_in_a_tenant_api_view_leaves_no_tenant_in_scope(world_a):
    request = APIRequestFactory().get(f"/api/t/{world_a.tenant.slug}/")
    force_authenticate(request, user=world_a.user(Role.IGO_FINANCE))
    with pytest.raises(RuntimeError):
        _FailingTenantView.as_view()(request, tenant_slug=world_a.tenant.slug)
    assert current_tenant_or_none() is None
