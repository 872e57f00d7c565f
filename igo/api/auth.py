"""API keys: per-insurer keys for the insurer API, and personal keys for the IGO API; throttling.

Both are bearer keys whose database row holds only the SHA-256. They are told apart by their start, before
any lookup, and neither class authenticates the other's keys (so an insurer key never authenticates on the
IGO endpoints, nor a personal key on the insurer API); sent where only the other kind is taken, a key is
refused with a 401 that says which kind it is:

- insurer key `igo_<prefix>_<secret>` (`InsurerApiToken`): authenticates as the person who made it, and
  only for the insurer it was made for: the views read the insurer from `request.auth`, never from the
  user's other memberships. It stops working when it expires, is revoked, or its maker is no longer an
  active employee of that insurer.
- personal key `igop_<prefix>_<secret>` (`PersonalApiToken`): a user's own key, made by herself after
  re-authentication on the "API keys" page; it authenticates as that user, with her memberships, as her
  browser session would. It stops working when it expires, is revoked, the account is deactivated, or
  its user holds no active role in an active IGO (each tenant endpoint checks her roles there per request).

Either way the user must have a second factor (igo.api.permissions.HasSecondFactor).
"""

from __future__ import annotations

from typing import Any, cast

from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.request import Request
from rest_framework.settings import api_settings
from rest_framework.throttling import SimpleRateThrottle

from igo import services
from igo.models import InsurerApiToken, Membership, PersonalApiToken, User

KEYWORD = "Bearer"
INVALID_KEY = _("Invalid, expired or revoked API key.")
PERSONAL_START = f"{services.PERSONAL_KEY_PREFIX}_"
INSURER_START = f"{services.API_KEY_PREFIX}_"


NOT_AN_INSURER_KEY = _(
    "This is not a key for the insurer API: it is a personal key for the IGO API. Make an insurer key in "
    "the insurer portal under API keys."
)
NOT_A_PERSONAL_KEY = _(
    "This is a key for the insurer API (/api/insurer/); it does not work here. Use a personal key (igop_…)."
)


def _refuse_other_kind(request: Request, other: type[BaseAuthentication], message: Any) -> None:
    """A key of the other kind where only this kind is taken: say so (401), rather than that no credentials
    were given. Where both kinds are taken (the schema page), the other class decides."""
    if not any(isinstance(a, other) for a in getattr(request, "authenticators", ())):
        raise AuthenticationFailed(message)


def bearer_key(request: Request) -> str | None:
    """The key of an `Authorization: Bearer <key>` header; None when the header is another scheme."""
    parts = get_authorization_header(request).split()
    if not parts or parts[0].lower() != KEYWORD.lower().encode():
        return None
    if len(parts) != 2:
        raise AuthenticationFailed(_("Send the key as `Authorization: Bearer <key>`."))
    try:
        return parts[1].decode("ascii")
    except UnicodeDecodeError as exc:
        raise AuthenticationFailed(INVALID_KEY) from exc


class InsurerTokenAuthentication(BaseAuthentication):
    """`Authorization: Bearer igo_<prefix>_<secret>`."""

    def authenticate(self, request: Request) -> tuple[User, InsurerApiToken] | None:
        key = bearer_key(request)
        if key is None:
            return None  # not ours: let the next class (the session) try
        if key.startswith(PERSONAL_START):
            _refuse_other_kind(request, PersonalTokenAuthentication, NOT_AN_INSURER_KEY)
            return None
        token = (
            InsurerApiToken.objects.select_related("insurer", "created_by")
            .filter(key_hash=services.insurer_token_hash(key))
            .first()
        )
        now = timezone.now()
        if token is None or not token.is_usable(now):
            raise AuthenticationFailed(INVALID_KEY)
        user = token.created_by
        # The key is the maker's: when they leave the insurer (or the account is closed), it stops working.
        if not services.insurer_member(user=user, insurer=token.insurer):
            raise AuthenticationFailed(INVALID_KEY)
        services.insurer_token_touch(token=token, now=now)
        return user, token

    def authenticate_header(self, request: Request) -> str:
        # Makes DRF answer 401 (with this challenge) rather than 403 when no credentials were sent.
        return f'{KEYWORD} realm="api"'


class PersonalTokenAuthentication(BaseAuthentication):
    """`Authorization: Bearer igop_<prefix>_<secret>`: a user's own key for the IGO API."""

    def authenticate(self, request: Request) -> tuple[User, PersonalApiToken] | None:
        key = bearer_key(request)
        if key is None:
            return None  # another scheme: let the next class (the session) try
        if not key.startswith(PERSONAL_START):
            if key.startswith(INSURER_START):
                _refuse_other_kind(request, InsurerTokenAuthentication, NOT_A_PERSONAL_KEY)
            return None  # not for these endpoints
        token = (
            PersonalApiToken.objects.select_related("user")
            .filter(key_hash=services.api_key_hash(key))
            .first()
        )
        now = timezone.now()
        if token is None or not token.is_usable(now) or not token.user.is_active:
            raise AuthenticationFailed(INVALID_KEY)
        # Fail closed at check time, not only by revocation: a key whose user holds no active role in an
        # active IGO any more acts for no one (ending her last role also revokes it: igo.services).
        if not Membership.unscoped.filter(user=token.user, is_active=True, tenant__is_active=True).exists():
            raise AuthenticationFailed(INVALID_KEY)
        services.personal_token_touch(token=token, now=now)
        return token.user, token

    def authenticate_header(self, request: Request) -> str:
        return f'{KEYWORD} realm="api"'


class InsurerRateThrottle(SimpleRateThrottle):
    """Per key (or per user for the browser session), rate `API_INSURER_RATE` (default 120/min)."""

    scope = "insurer"

    def get_rate(self) -> str | None:
        # Read at request time: DRF's class attribute THROTTLE_RATES is frozen at import, which would
        # ignore settings changed afterwards (and make the rate impossible to test).
        return cast(str | None, api_settings.DEFAULT_THROTTLE_RATES.get(self.scope))

    def get_cache_key(self, request: Request, view: Any) -> str | None:
        if isinstance(request.auth, InsurerApiToken):
            ident = f"key-{request.auth.pk}"
        elif request.user and request.user.is_authenticated:
            ident = f"user-{request.user.pk}"
        else:
            ident = f"ip-{self.get_ident(request)}"
        return self.cache_format % {"scope": self.scope, "ident": ident}


class InsurerTokenScheme(OpenApiAuthenticationExtension):
    """Shows the insurer key in the OpenAPI schema as an HTTP bearer scheme."""

    target_class = "igo.api.auth.InsurerTokenAuthentication"
    name = "insurerKey"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "igo_<prefix>_<secret>",
            "description": "An insurer API key, made in the insurer portal under API keys. "
            "Valid for at most a year; can be revoked there. Its maker must have a second factor.",
        }


class PersonalTokenScheme(OpenApiAuthenticationExtension):
    """Shows the personal key in the OpenAPI schema as an HTTP bearer scheme."""

    target_class = "igo.api.auth.PersonalTokenAuthentication"
    name = "personalKey"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "igop_<prefix>_<secret>",
            "description": "A personal API key, made by the user herself under API keys (after signing in "
            "again). Valid for at most 90 days; can be revoked there. The user must have a second factor.",
        }
