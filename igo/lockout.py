"""The sign-in lockout per account, counted in the shared cache (Redis in production; igo.checks refuses a
per-process cache at deploy).

Five failed passwords for one address within 15 minutes lock the account, and an unlock link goes to its
owner's address (once per lock), which clears the lock. While it is locked, every password for the address,
right or wrong, gets the same answer (igo.adapters.AccountAdapter.authenticate), so the lock slows guessing
also for an account with a second factor; the owner signs in with the link or when the lock has run out.
The other half, failed sign-ins per network address, is allauth's `login_failed` limit on the IP
(igo.adapters): a flood from one address is refused outright, the account's owner is not on that address.
"""

from __future__ import annotations

import hashlib

from django.conf import settings
from django.core import signing
from django.core.cache import cache
from django.core.mail import send_mail
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import translation

from igo.models import User

UNLOCK_SALT = "igo.unlock"


def _key(kind: str, email: str) -> str:
    digest = hashlib.sha256(email.strip().lower().encode()).hexdigest()
    return f"igo:lockout:{kind}:{digest}"


def failures(email: str) -> int:
    return int(cache.get(_key("failures", email), 0))


def is_locked(email: str) -> bool:
    return failures(email) >= settings.LOGIN_LOCKOUT_ATTEMPTS


def failure_record(email: str) -> int:
    """Count a failed password for this address; the window starts at the first failure."""
    key = _key("failures", email)
    cache.add(key, 0, settings.LOGIN_LOCKOUT_SECONDS)
    try:
        count = cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.add(key, 1, settings.LOGIN_LOCKOUT_SECONDS)
        count = 1
    if count >= settings.LOGIN_LOCKOUT_ATTEMPTS:
        unlock_mail_send(email)
    return int(count)


def clear(email: str) -> None:
    cache.delete_many([_key("failures", email), _key("mailed", email)])


def unlock_token(email: str) -> str:
    return signing.dumps({"e": email.strip().lower()}, salt=UNLOCK_SALT)


def unlock_token_email(token: str) -> str | None:
    try:
        data = signing.loads(token, salt=UNLOCK_SALT, max_age=settings.LOGIN_LOCKOUT_SECONDS * 4)
    except signing.BadSignature:
        return None
    return str(data["e"])


def unlock_mail_send(email: str) -> bool:
    """Mail the account's owner an unlock link, once per lock. Nothing for an address without an account."""
    user = User.objects.filter(email__iexact=email.strip(), is_active=True).first()
    if user is None or not cache.add(_key("mailed", email), 1, settings.LOGIN_LOCKOUT_SECONDS):
        return False
    link = settings.SITE_URL.rstrip("/") + reverse(
        "account_unlock", kwargs={"token": unlock_token(user.email)}
    )
    context = {"user": user, "link": link, "minutes": settings.LOGIN_LOCKOUT_SECONDS // 60}
    with translation.override(settings.LANGUAGE_CODE):
        subject = render_to_string("igo/email/unlock_subject.txt", context).strip()
        body = render_to_string("igo/email/unlock.txt", context)
    send_mail(subject, body, None, [user.email])
    return True
