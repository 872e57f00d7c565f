"""Whether THIS session passed the second factor, not only whether its user has one.

A user with a second factor (an authenticator app or a passkey / security key) counts as signed in only in a
session where she used it: allauth notes every authentication step of a session
(`allauth.account.authentication.get_authentication_records`), and its second-factor stage, its
re-authentication with a factor and the use of a recovery code all note a step with method "mfa". Setting up
a factor (which asks for a code from it, or the key itself) is noted as such a step here too
(`enrolment_record`), so the owner who sets up her first factor is not sent away from her own session.

A session that has a user with a factor but no such step came in by a path that checked a password only
(Django's admin login before it was closed, `django.contrib.auth.login` anywhere): `MFARequiredMiddleware`
signs it out, and the API refuses it (`igo.api.permissions.HasSecondFactor`).
"""

from __future__ import annotations

import logging
from typing import Any

from allauth.account.authentication import get_authentication_records
from django.http import HttpRequest

from igo import selectors
from igo.models import User

logger = logging.getLogger(__name__)

SECOND_FACTOR_METHOD = "mfa"


def passed_second_factor(request: HttpRequest, user: User) -> bool:
    """Whether this session noted a second-factor step of this user (a step of another user, left in a
    session that changed hands, does not count: allauth keeps the records per user)."""
    if getattr(request, "session", None) is None:
        return False
    records = get_authentication_records(request, user)
    return any(isinstance(r, dict) and r.get("method") == SECOND_FACTOR_METHOD for r in records)


def second_factor_skipped(request: HttpRequest, user: Any) -> bool:
    """The user has a second factor and this session did not use it."""
    return (
        isinstance(user, User)
        and user.is_authenticated
        and selectors.has_second_factor(user=user)
        and not passed_second_factor(request, user)
    )


def enrolment_record(
    sender: Any, request: HttpRequest | None, user: Any, authenticator: Any, **kw: Any
) -> None:
    """allauth's `authenticator_added`: a factor set up in this session (she typed a code from the new app or
    used the new key) is the second factor of this session."""
    from allauth.account.internal.flows.login import record_authentication
    from allauth.mfa.models import Authenticator

    if request is None or getattr(request, "session", None) is None:
        return
    if authenticator.type not in (Authenticator.Type.TOTP, Authenticator.Type.WEBAUTHN):
        return
    if getattr(request, "user", None) is None or request.user.pk != user.pk:
        return
    record_authentication(
        request, user, SECOND_FACTOR_METHOD, id=authenticator.pk, type=authenticator.type, enrolled=True
    )


def connect() -> None:
    from allauth.mfa.signals import authenticator_added

    authenticator_added.connect(enrolment_record, dispatch_uid="igo.mfa_session.enrolment_record")
