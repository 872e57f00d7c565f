"""The API's second-factor rule: a credential counts only if its user has a second factor.

`MFARequiredMiddleware` sees session users only; a personal or insurer key is authenticated later, by DRF.
This permission runs for every authentication class (session, personal key, insurer key: the key's maker),
so a user without a second factor cannot reach data through a key (issue 16, finding 1). It is in
REST_FRAMEWORK's default permission classes, and views that name their own add it (the insurer API);
tests/igo/test_mfa_matrix.py checks every endpoint.
"""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext_lazy as _
from rest_framework.authentication import SessionAuthentication
from rest_framework.exceptions import PermissionDenied
from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from igo import selectors
from igo.models import User

SECOND_FACTOR_MISSING = _(
    "Set up a second factor (an authenticator app or a passkey) under Two-factor authentication before "
    "using the API."
)


class SecondFactorMissing(PermissionDenied):
    default_detail = SECOND_FACTOR_MISSING
    default_code = "second_factor_required"


SECOND_FACTOR_NOT_USED = _("Sign in again with your second factor.")


class SecondFactorNotUsed(PermissionDenied):
    default_detail = SECOND_FACTOR_NOT_USED
    default_code = "second_factor_required"


class HasSecondFactor(BasePermission):
    """Refuses (403, code `second_factor_required`) a user who must have a second factor and has none, and a
    browser session whose user has one but which did not use it (igo.mfa_session; MFARequiredMiddleware
    signs such a session out before it gets here, this is the API's own check of the same rule). A key is
    made only in a session that used the factor (igo.views.personal_tokens and the other key pages ask to
    re-authenticate). Anonymous requests pass here; IsAuthenticated (or the view's own rule) refuses those
    with 401."""

    def has_permission(self, request: Request, view: Any) -> bool:
        user = request.user
        if not (isinstance(user, User) and user.is_authenticated):
            return True
        if selectors.second_factor_missing(user=user):
            raise SecondFactorMissing
        if isinstance(request.successful_authenticator, SessionAuthentication):
            from igo import mfa_session

            if mfa_session.second_factor_skipped(request._request, user):
                raise SecondFactorNotUsed
        return True
