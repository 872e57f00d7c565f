"""Request middleware: the tenant of a request, and the second-factor requirement."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from django.conf import settings
from django.contrib.auth import logout
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect
from django.urls import Resolver404, resolve
from django.utils import translation
from django.utils.cache import patch_vary_headers

from igo import mfa_session, selectors
from igo.api.permissions import SECOND_FACTOR_MISSING
from igo.models import User
from igo.rules import needs_mfa
from igo.tenancy import tenant_scope

logger = logging.getLogger(__name__)

# Paths a user who still has to set up a second factor may use.
MFA_EXEMPT_PREFIXES = ("/accounts/", "/i18n/", "/static/", "/invite/", "/healthz")


class TenantMiddleware:
    """Resolves `<tenant_slug>` in the URL, checks membership, and puts the tenant in scope.

    A tenant that does not exist and a tenant the user does not belong to both answer 404, so the
    response does not reveal which IGOs exist (`selectors.tenant_for_member`, which the API uses too).
    API URLs (under /api/) are checked by the API's own base view after token authentication, which
    runs later than this middleware.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request.tenant = None  # type: ignore[attr-defined]
        request.tenant_roles = frozenset()  # type: ignore[attr-defined]
        try:
            match = resolve(request.path_info)
        except Resolver404:
            return self.get_response(request)
        slug = match.kwargs.get("tenant_slug")
        if slug is None or request.path_info.startswith("/api/"):
            return self.get_response(request)
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        tenant, roles = selectors.tenant_for_member(slug=slug, user=request.user)
        request.tenant = tenant  # type: ignore[attr-defined]
        request.tenant_roles = roles  # type: ignore[attr-defined]
        if request.session.get("last_tenant") != tenant.slug:  # written only when it changes
            request.session["last_tenant"] = tenant.slug
        with tenant_scope(tenant):
            return self.get_response(request)


# The idle timeout: a session ends SESSION_COOKIE_AGE seconds after its last write. Writing it on every
# request (SESSION_SAVE_EVERY_REQUEST) cost an UPDATE and a transaction per request; writing it at most
# once this many seconds keeps the timeout within this margin of SESSION_COOKIE_AGE.
SESSION_REFRESH_SECONDS = 60
SESSION_SEEN_KEY = "_igo_seen"


class SessionIdleMiddleware:
    """Keeps a signed-in session alive while it is used, without writing it on every request.

    The session is saved when something in it changed (Django's SessionMiddleware) or when its last save is
    SESSION_REFRESH_SECONDS old: then the moment is noted in it, which makes it modified, so the store
    moves its expiry SESSION_COOKIE_AGE ahead. Sits just inside SessionMiddleware, so it sees the response
    before the session is saved.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        session = getattr(request, "session", None)
        if session is None or session.is_empty():  # no session cookie, or signed out in this request
            return response
        seen = session.get(SESSION_SEEN_KEY)
        if session.is_empty():  # the cookie named no live session: nothing to keep alive
            return response
        now = int(time.time())
        if session.modified or not isinstance(seen, int) or not 0 <= now - seen < SESSION_REFRESH_SECONDS:
            session[SESSION_SEEN_KEY] = now
        return response


class MFARequiredMiddleware:
    """Every user with a role (in an IGO, at an insurer, or as operator) must have a second factor, an
    authenticator app (TOTP) or a passkey / security key (WebAuthn), before doing anything else.

    Web pages send such a user to the second-factor page, where she chooses one. This middleware only sees
    session users; API requests with a key are refused by the API itself (igo.api.permissions), which also
    answers session users there, so both channels give the same JSON refusal.

    A user who HAS a factor counts as signed in only in a session that used it (igo.mfa_session): a session
    that passed her password only is signed out here, on every path (the account pages too: a password
    alone must not reach the pages that change her factors or password), and the request goes on as an
    anonymous one, which the page itself sends to sign in.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = request.user
        if mfa_session.second_factor_skipped(request, user):
            logger.warning("session of user %s without its second factor: signed out", user.pk)
            logout(request)
            user = request.user
        if (
            isinstance(user, User)
            and user.is_authenticated
            and not request.path_info.startswith(MFA_EXEMPT_PREFIXES)
        ):
            access = selectors.request_access(request)
            must = needs_mfa(
                roles=access.all_roles, is_insurer_user=bool(access.insurers), is_operator=user.is_staff
            )
            if must and not selectors.has_second_factor(user=user):
                if request.path_info.startswith("/api/"):
                    return JsonResponse(
                        {"detail": str(SECOND_FACTOR_MISSING), "code": "second_factor_required"}, status=403
                    )
                return redirect("mfa_index")
        return self.get_response(request)


class LanguageMiddleware:
    """Dutch unless the user chose otherwise (language cookie set by /i18n/setlang/).

    Django's LocaleMiddleware would follow the browser's Accept-Language, so a clinician on an
    English-language laptop would get English; the platform is Dutch by default by design.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        chosen = request.COOKIES.get(settings.LANGUAGE_COOKIE_NAME, "")
        language = chosen if chosen in dict(settings.LANGUAGES) else settings.LANGUAGE_CODE
        translation.activate(language)
        request.LANGUAGE_CODE = language
        response = self.get_response(request)
        response.headers.setdefault("Content-Language", language)
        patch_vary_headers(response, ("Cookie",))
        return response
