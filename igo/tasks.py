"""Background jobs for accounts and tenancy. Tasks take ids, call one service, and are idempotent."""

from __future__ import annotations

import os

from celery import shared_task
from django.conf import settings
from django.core import management
from django.core.mail import send_mail
from django.db import connection, transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation

from igo.models import Invitation
from igo.selectors import invitation_token


@shared_task(acks_late=True, autoretry_for=(OSError,), retry_backoff=True, max_retries=5)
def invitation_send(invitation_id: int) -> dict[str, object]:
    """E-mail the invitation link. Sends at most once: the row is locked and `sent_at` is checked."""
    with transaction.atomic():
        invitation = (
            Invitation.unscoped.select_for_update(skip_locked=True, of=("self",))
            .select_related("tenant", "invited_by")
            .filter(pk=invitation_id, sent_at__isnull=True, accepted_at__isnull=True, revoked_at__isnull=True)
            .first()
        )
        if invitation is None:
            return {"sent": False, "invitation": invitation_id}
        base = settings.SITE_URL.rstrip("/")
        link = base + reverse("invitation_accept", kwargs={"token": invitation_token(invitation)})
        with translation.override(settings.LANGUAGE_CODE):
            body = render_to_string("igo/email/invitation.txt", {"invitation": invitation, "link": link})
            subject = render_to_string("igo/email/invitation_subject.txt", {"invitation": invitation}).strip()
        send_mail(subject, body, None, [invitation.email])
        invitation.sent_at = timezone.now()
        invitation.save(update_fields=["sent_at"])
    return {
        "sent": True,
        "invitation": invitation_id,
        "db": connection.settings_dict["NAME"],
        "pid": os.getpid(),
    }


@shared_task
def sessions_clear() -> None:
    management.call_command("clearsessions")


@shared_task
def worker_info() -> dict[str, object]:
    """Diagnostics: which database and process a worker uses, and its clock (a worker whose clock differs
    from the web's would bill by another day)."""
    return {
        "db": str(connection.settings_dict["NAME"]),
        "pid": os.getpid(),
        "now": timezone.now().isoformat(),
    }
