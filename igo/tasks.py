"""Background jobs for accounts and tenancy, and the mechanism of every task that works for one IGO
(`tenant_task`, `for_each_active_tenant`). Tasks take ids, call one service, and are idempotent."""

from __future__ import annotations

import inspect
import logging
import os
from collections.abc import Callable
from typing import Any, Concatenate, ParamSpec, TypeVar

from celery import shared_task
from celery.contrib.django.task import DjangoTask
from django.conf import settings
from django.core import management
from django.core.mail import send_mail
from django.db import connection, transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation

from igo.models import Invitation, Tenant
from igo.selectors import invitation_token
from igo.tenancy import tenant_scope

logger = logging.getLogger(__name__)

_P = ParamSpec("_P")
_R = TypeVar("_R")


class TenantTask(DjangoTask):
    """Base of the tasks that work for one IGO (made with `tenant_task`). A message carries the tenant's id
    first; the job gets the Tenant and runs inside `tenant_scope`, and the log names the task and the IGO."""

    def run_for_tenant(self, job: Callable[..., _R], tenant_id: int, *args: Any, **kwargs: Any) -> _R:
        tenant = Tenant.objects.get(pk=tenant_id)
        logger.info("%s[%s]: IGO %s (tenant %s)", self.name, self.request.id, tenant.slug, tenant.pk)
        with tenant_scope(tenant):
            return job(tenant, *args, **kwargs)


_SELF = inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD)
_TENANT_ID = inspect.Parameter("tenant_id", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation="int")


def tenant_task(**options: Any) -> Callable[[Callable[Concatenate[Tenant, _P], Any]], TenantTask]:
    """`@tenant_task(<Celery options>)` over `def job(tenant: Tenant, ...)`: a TenantTask with those options,
    named `<module>.<job>` as `shared_task` names it, called with the tenant's id in the tenant's place."""

    def register(job: Callable[Concatenate[Tenant, _P], Any]) -> TenantTask:
        def run(self: TenantTask, tenant_id: int, *args: Any, **kwargs: Any) -> Any:
            # The tenant is loaded inside `run`, so `autoretry_for` (which wraps `run`) covers that query too.
            return self.run_for_tenant(job, tenant_id, *args, **kwargs)

        run.__module__, run.__name__, run.__qualname__ = job.__module__, job.__name__, job.__qualname__
        run.__doc__ = job.__doc__
        # Celery checks a message's arguments against this when it is sent, as it did against the job's own.
        params = list(inspect.signature(job).parameters.values())[1:]
        run.__signature__ = inspect.Signature([_SELF, _TENANT_ID, *params])  # type: ignore[attr-defined]
        return shared_task(bind=True, base=TenantTask, **options)(run)

    return register


def beat_minutes(job: str) -> int | None:
    """Every how many minutes the periodic job `job` (its key in settings.CELERY_BEAT_SCHEDULE) runs, or None
    when no periodic jobs run here (settings.PERIODIC_JOBS off: no beat, e.g. the embedded demo) or the job
    has no fixed interval. For the pages that tell when something happens by itself."""
    from datetime import timedelta

    if not settings.PERIODIC_JOBS:
        return None
    schedule = settings.CELERY_BEAT_SCHEDULE.get(job, {}).get("schedule")
    if not isinstance(schedule, timedelta):
        return None
    return max(1, int(schedule.total_seconds() // 60))


def for_each_active_tenant(task: TenantTask, **kwargs: Any) -> int:
    """The beat jobs' fan-out: enqueue `task` once for every active IGO, with these keyword arguments.
    Returns how many."""
    ids = list(Tenant.objects.filter(is_active=True).values_list("pk", flat=True))
    for tenant_id in ids:
        task.delay(tenant_id, **kwargs)
    return len(ids)


@shared_task(base=DjangoTask, acks_late=True, autoretry_for=(OSError,), retry_backoff=True, max_retries=5)
def invitation_send(invitation_id: int) -> dict[str, object]:
    """E-mail the invitation link. Sends at most once: the row is locked and `sent_at` is checked."""
    with transaction.atomic():
        invitation = (
            Invitation.unscoped.select_for_update(skip_locked=True, of=("self",))
            .select_related("tenant", "insurer", "invited_by")
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
