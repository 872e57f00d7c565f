"""POST-only addresses (igo.views.post_only): a refused form leaves the browser on its POST address; a reload
(a GET) or a language switch there goes back to the page holding the form (303), never a blank 405. The
object of the address is still looked up in the tenant first (404) and the role still checked (403)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.urls import reverse

from igo.models import PersonalApiToken, Role
from igo.services import personal_token_create
from pregnancies.models import AccessLogEntry, Birth, CareEvent, Episode
from tests.factories import UserFactory
from tests.scenarios.care import Care
from tests.scenarios.care_logging import ago, as_user, deliver, log

# name: (object of the URL, page that holds the form, who may post there)
PREGNANCY_FORMS = {
    "event_create": ("episode", "episode", Role.MIDWIFE),
    "event_void": ("event", "event", Role.MIDWIFE),
    "episode_key_dates": ("episode", "episode", Role.MIDWIFE),
    "episode_delivery": ("episode", "episode#delivery", Role.MIDWIFE),
    "episode_outcomes": ("episode", "episode#outcomes", Role.MIDWIFE),
    "birth_outcome": ("birth", "episode#births", Role.MIDWIFE),
    "episode_line": ("episode", "episode", Role.MIDWIFE),
    "episode_end": ("episode", "episode", Role.MIDWIFE),
    "client_insurance": ("client", "client", Role.MIDWIFE),
    "catalogue_toggle": ("event_type", "catalogue", Role.IGO_ADMIN),
}


def objects_of(care: Care) -> dict[str, Any]:
    birth = Birth.unscoped.filter(episode=care.episode).first() or deliver(care)
    return {
        "episode": care.episode,
        "event": CareEvent.unscoped.filter(episode=care.episode).first() or log(care, at=ago(days=3)),
        "birth": birth,
        "client": care.client,
        "event_type": care.type("PRE_CHECK"),
    }


def page_url(care: Care, page: str) -> str:
    name, _, anchor = page.partition("#")
    slug = care.tenant.slug
    url = {
        "episode": lambda: reverse("episode_detail", args=[slug, care.episode.pk]),
        "event": lambda: reverse("event_correct", args=[slug, objects_of(care)["event"].pk]),
        "client": lambda: reverse("client_detail", args=[slug, care.client.pk]),
        "catalogue": lambda: reverse("catalogue", args=[slug]),
    }[name]()
    return f"{url}#{anchor}" if anchor else url


def snapshot(care: Care) -> tuple[Any, ...]:
    """What a GET must leave as it was: the episode, its events and births, the catalogue entry."""
    episode = Episode.unscoped.get(pk=care.episode.pk)
    return (
        episode.status,
        episode.labour_started_at,
        list(CareEvent.unscoped.filter(episode=episode).values_list("pk", "status")),
        list(Birth.unscoped.filter(episode=episode).values_list("pk", "nicu_admission")),
        care.type("PRE_CHECK").is_active,
    )


@pytest.mark.parametrize("name", PREGNANCY_FORMS)
def test_a_get_goes_back_to_the_page_with_the_form(name, care, client_for):
    obj, page, role = PREGNANCY_FORMS[name]
    target = objects_of(care)[obj]
    before = snapshot(care)
    response = as_user(care, role, client_for).get(reverse(name, args=[care.tenant.slug, target.pk]))
    assert response.status_code == 303
    assert response["Location"] == page_url(care, page)
    assert snapshot(care) == before  # a GET stores nothing


@pytest.mark.parametrize("name", PREGNANCY_FORMS)
def test_a_get_for_another_tenants_object_or_none_is_not_found(name, care, care_b, client_for):
    obj, _page, role = PREGNANCY_FORMS[name]
    client = as_user(care, role, client_for)
    theirs = objects_of(care_b)[obj]
    before = snapshot(care_b)
    assert client.get(reverse(name, args=[care.tenant.slug, theirs.pk])).status_code == 404
    assert client.get(reverse(name, args=[care.tenant.slug, 987654])).status_code == 404
    # Tenant B's own address: A's member is no member there.
    assert client.get(reverse(name, args=[care_b.tenant.slug, theirs.pk])).status_code == 404
    assert snapshot(care_b) == before
    assert not AccessLogEntry.unscoped.filter(tenant=care_b.tenant).exists()


@pytest.mark.parametrize("name", PREGNANCY_FORMS)
def test_a_get_without_the_right_is_refused(name, care, client_for):
    obj, _page, _role = PREGNANCY_FORMS[name]
    target = objects_of(care)[obj]
    # Finance may neither log care nor manage the catalogue: 403 before anything is looked up.
    response = as_user(care, Role.IGO_FINANCE, client_for).get(
        reverse(name, args=[care.tenant.slug, target.pk])
    )
    assert response.status_code == 403


def test_other_methods_than_post_and_get_are_not_allowed(care, client_for):
    url = reverse("event_create", args=[care.tenant.slug, care.episode.pk])
    client = as_user(care, Role.MIDWIFE, client_for)
    for method in ("put", "delete", "patch"):
        response = getattr(client, method)(url)
        assert response.status_code == 405 and response["Allow"] == "POST"
    # HEAD is a GET without a body.
    assert client.head(url).status_code == 303


def test_finance_addresses_check_the_role_and_the_tenant(care, client_for):
    slug = care.tenant.slug
    finance = as_user(care, Role.IGO_FINANCE, client_for)
    assert finance.get(reverse("batch_release", args=[slug, 987654])).status_code == 404
    run = reverse("billing_run_start", args=[slug])
    response = finance.get(run)
    assert (response.status_code, response["Location"]) == (303, reverse("claim_list", args=[slug]))
    # An administrator may look at the claims but not start a run.
    assert as_user(care, Role.IGO_ADMIN, client_for).get(run).status_code == 403


def test_revoking_a_key_goes_back_to_the_keys_and_not_to_someone_elses(care, client_for):
    owner = care.user(Role.MIDWIFE)
    token, _key = personal_token_create(user=owner, name="laptop")
    url = reverse("personal_token_revoke", args=[token.pk])
    response = client_for(owner).get(url)
    assert (response.status_code, response["Location"]) == (303, reverse("personal_tokens"))
    assert client_for(UserFactory()).get(url).status_code == 404
    assert PersonalApiToken.objects.get(pk=token.pk).revoked_at is None


def test_the_language_switch_after_a_refused_form_returns_to_the_form_page(care, client_for):
    client = as_user(care, Role.MIDWIFE, client_for)
    refused = client.post(
        reverse("episode_delivery", args=[care.tenant.slug, care.episode.pk]),
        {"labour_started_at": "", "place": "home"},
    )
    assert refused.status_code == 400
    html = refused.content.decode()
    # The page shows the form with its error; the language switch leads to the episode page, not to the
    # POST-only address the browser is on.
    assert 'data-testid="delivery-form"' in html
    nexts = re.findall(r'<input name="next" type="hidden" value="([^"]*)">', html)
    assert nexts == [page_url(care, "episode#delivery")]
    switched = client.post(reverse("set_language"), {"language": "en", "next": nexts[0]})
    assert switched.status_code == 302 and switched["Location"] == nexts[0]
    again = client.get(switched["Location"])
    assert again.status_code == 200 and 'lang="en"' in again.content.decode()
