"""The access log is complete (NEN 7513): every URL that shows a client's identifying data writes an entry
for her, by the user who asked, in the same request.

The test walks the URL resolver: every named pattern is requested with a GET and with a refused POST (empty
form, or an empty JSON body for the API) in a world where one client can be seen everywhere
(tests.scenarios.access). Wherever the answer carries her BSN or her family name, an access-log entry for her
by that user must have been written by that very request. A new URL needs no change here unless its
parameters name an object: then the scenario must give one (or the allow-list below says why it cannot).
Each request runs in a savepoint that is rolled back, so a POST that did succeed changes nothing for the next.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib import admin
from django.db import transaction
from django.test import Client as HttpClient
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from billing.models import BatchFile, BatchLine, ClaimLine, WorkItem
from pregnancies.models import AccessLogEntry, Birth, CareEvent, Client, Episode
from tests.scenarios.access import FAMILY_NAME, Seen, make_seen
from tests.scenarios.billing import BILLING_NOW
from tests.scenarios.people import sign_in

pytestmark = [pytest.mark.django_db, pytest.mark.clock(BILLING_NOW)]

# Patterns that cannot be requested here, and why. Everything else is requested.
ALLOW = {
    # The operator's admin site: its pages take an app label and object ids of its own; it registers no
    # model that holds client data (asserted below), so none of its pages can show a client.
    "admin:*": "operator admin, no client models",
    # Sign-in flows that need a one-time key sent by e-mail (confirmation, password reset, invitation):
    # without a mailed key they show only the refusal; they show the user's own account, never a client.
    "account_confirm_email": "one-time key from an e-mail",
    "account_reset_password_from_key": "one-time key from an e-mail",
    "invitation_accept": "one-time token from an e-mail",
    "account_email_confirm": "one-time signed link from an e-mail (a change of the user's own address)",
    "account_unlock": "one-time signed link from an e-mail (unlocks the user's own account)",
    # The user's own passkey (allauth MFA: rename or remove it): her own authenticator, never a client.
    "mfa_edit_webauthn": "the user's own passkey",
    "mfa_remove_webauthn": "the user's own passkey",
    # Revoking one of the user's own personal API keys: a redirect, never a client.
    "personal_token_revoke": "the user's own API key",
    # Revoking a member organisation's system key (FHIR import): names the key and its organisation only.
    "fhir_member_key_revoke": "a member system key, never a client",
    # Resetting a member key's count of unknown BSNs (fhir_io.probing): a POST and a redirect, never a client.
    "fhir_bsn_misses_reset": "a member system key's count of unknown BSNs, never a client",
    # A FHIR import job's status: a member system key only (a session gets 401); it answers what the
    # synchronous import answers (entry statuses, event ids), never a client's data. The import logs its reads.
    "api_fhir_import_job": "member system key only; an import's answer, never a client",
}

# Where the search is asked something that finds the client (the refused POST of other forms is empty).
POST_DATA = {"client_search": {"q": FAMILY_NAME}, "api_client_search": {"q": FAMILY_NAME}}

# The URLs that must show the client in this world (so that the scenario cannot rot into showing nobody).
MUST_SHOW = {
    "client_detail",
    "client_search",
    "api_client_search",
    "api_client_detail",
    "episode_detail",
    "event_create",  # the refused POST shows the episode page again
    "episode_delivery",
    "experience_create",
    "episode_history",
    "event_correct",
    "api_episode_detail",
    "access_log",
    "work_queue",
    "claim_list",
    "claim_list_export",
    "episode_claims",
    "claim_line_explain",
    "batch_detail",
    "batch_payment_record",
    "batch_file",
    "insurer_batch_detail",
    "insurer_line_answer",
    "insurer_return_upload",
    "insurer_batch_file",
    "api_insurer_batch_detail",
    "api_insurer_batch_file",
}


def _patterns() -> list[tuple[str, list[str]]]:
    """Every named URL pattern (namespaced names with a colon), with its parameters."""
    found: list[tuple[str, list[str]]] = []

    def walk(patterns: list[URLPattern | URLResolver], params: list[str], namespace: str) -> None:
        for p in patterns:
            here = params + list(p.pattern.converters.keys())
            if isinstance(p, URLResolver):
                ns = f"{namespace}{p.namespace}:" if p.namespace else namespace
                walk(p.url_patterns, here, ns)
            elif p.name:
                found.append((f"{namespace}{p.name}", here))

    walk(get_resolver().url_patterns, [], "")
    return sorted(dict(found).items())


def _allowed(name: str) -> bool:
    return name in ALLOW or any(name.startswith(k[:-1]) for k in ALLOW if k.endswith("*"))


def _urls(seen: Seen, name: str, params: list[str]) -> list[str]:
    tenant = {"tenant_slug": seen.world.tenant.slug} if "tenant_slug" in params else {}
    others = [p for p in params if p != "tenant_slug"]
    if not others:
        return [reverse(name, kwargs=tenant)]
    assert name in seen.kwargs, f"{name} takes {others}: give it an object in tests/scenarios/access.py"
    return [reverse(name, kwargs={**tenant, **kw}) for kw in seen.kwargs[name]]


def _shows_client(seen: Seen, response: Any) -> bool:
    body = b"".join(response.streaming_content) if response.streaming else response.content
    return seen.client.bsn.encode() in body or FAMILY_NAME.encode() in body


def _request(seen: Seen, name: str, url: str, method: str) -> tuple[int, bool, int]:
    """(status, whether the answer shows the client, entries for her by the requester) in a rolled-back
    savepoint."""
    insurer_side = url.startswith(("/insurer/", "/api/insurer/"))
    user = seen.insurer_user if insurer_side else seen.member
    with transaction.atomic():
        browser = sign_in(HttpClient(), user)
        before = AccessLogEntry.unscoped.filter(client=seen.client, user=user).count()
        if method == "get":
            response = browser.get(url)
        elif url.startswith("/api/"):
            response = browser.post(url, POST_DATA.get(name, {}), content_type="application/json")
        else:
            response = browser.post(url, POST_DATA.get(name, {}))
        shows = _shows_client(seen, response)
        written = AccessLogEntry.unscoped.filter(client=seen.client, user=user).count() - before
        tenants = set(
            AccessLogEntry.unscoped.filter(client=seen.client, user=user).values_list("tenant_id", flat=True)
        )
        assert tenants <= {seen.world.tenant.pk}, (name, url, tenants)  # in the IGO's own log
        transaction.set_rollback(True)
    return response.status_code, shows, written


def test_the_operator_admin_holds_no_client_data():
    """Why the admin site is on the allow-list: none of its models is, or points to, a client's data."""
    apps = {model._meta.app_label for model in admin.site._registry}
    assert not apps & {"pregnancies", "quality", "providers"}, apps
    holding = {Client, Episode, CareEvent, Birth, AccessLogEntry, ClaimLine, BatchLine, BatchFile, WorkItem}
    for model in admin.site._registry:
        related = {f.related_model for f in model._meta.get_fields() if f.is_relation}
        assert model not in holding and not related & holding, model


def test_every_url_that_shows_a_client_logs_her(world_a):
    seen = make_seen(world_a)
    missing: list[str] = []
    showing: set[str] = set()
    requested = 0
    for name, params in _patterns():
        if _allowed(name):
            continue
        for url in _urls(seen, name, list(params)):
            for method in ("get", "post"):
                status, shows, written = _request(seen, name, url, method)
                requested += 1
                if shows:
                    showing.add(name)
                    if written < 1:
                        missing.append(f"{method.upper()} {url} ({name}, {status})")
    assert not missing, "These answers show the client but wrote no access-log entry:\n" + "\n".join(missing)
    assert showing >= MUST_SHOW, f"The scenario no longer shows the client on {sorted(MUST_SHOW - showing)}"
    assert requested > 200
