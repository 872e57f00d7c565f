"""django-allauth adapter: accounts are created only through invitations, never by open sign-up; failed
sign-ins lock an account without locking out its owner (igo/lockout.py)."""

from __future__ import annotations

from typing import Any

from allauth.account.adapter import DefaultAccountAdapter
from allauth.core.internal import ratelimit
from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from igo import landing, lockout
from igo.models import User


def _login(credentials: dict[str, Any]) -> str:
    return str(credentials.get("email") or credentials.get("username") or "").strip().lower()


class AccountAdapter(DefaultAccountAdapter):
    error_messages = {
        **DefaultAccountAdapter.error_messages,
        "account_locked": _(
            "This account is locked for a while after too many failed sign-ins. Open the unlock link we sent "
            "to your e-mail address, or try again later."
        ),
    }

    def is_open_for_signup(self, request: HttpRequest) -> bool:
        return False

    def get_login_redirect_url(self, request: HttpRequest) -> str:
        """Straight into her IGO (igo.landing): a clinician on her caseload, anyone else on the dashboard;
        with several IGOs and none used before, the root asks which (a `next` address still comes first)."""
        user = request.user
        if isinstance(user, User):
            url = landing.landing_url(user=user, last_slug=request.session.get("last_tenant"))
            if url is not None:
                return url
        return super().get_login_redirect_url(request)

    def pre_authenticate(self, request: HttpRequest, **credentials: Any) -> None:
        # allauth consumes its `login_failed` limit per address AND per account here, before the password is
        # checked: five wrong passwords by anyone refused the owner's right one too. Here only the network
        # address is limited outright (allauth's pinned internal API: the usage is rolled back on success);
        # the account's lock is decided after the password, in `authenticate`.
        self._login_failed_rl_usage = ratelimit.consume(
            request,
            app="allauth.account",
            action="login_failed",
            config={"login_failed": settings.LOGIN_FAILED_PER_ADDRESS},
        )
        if not self._login_failed_rl_usage:
            raise self.validation_error("too_many_login_attempts")

    def authenticate(self, request: HttpRequest, **credentials: Any) -> AbstractBaseUser | None:
        # A locked address is refused before its password is checked: the right password and a wrong one get
        # the same answer (and take the same time), so the lock stops guessing, also of an account with a
        # second factor (before, her right password still led to the second-factor page). The owner got an
        # unlock link by mail when it locked (lockout.failure_record); the lock also ends by itself.
        login = _login(credentials)
        if login and lockout.is_locked(login):
            raise self.validation_error("account_locked")
        return super().authenticate(request, **credentials)

    def authentication_failed(self, request: HttpRequest, **credentials: Any) -> None:
        login = _login(credentials)
        if login:
            lockout.failure_record(login)

    def _delete_login_attempts_cached_email(self, request: HttpRequest, **credentials: Any) -> None:
        # After a password reset (through a mail to the address) the lock is lifted too.
        super()._delete_login_attempts_cached_email(request, **credentials)
        login = _login(credentials)
        if login:
            lockout.clear(login)
