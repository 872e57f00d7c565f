"""Celery jobs executed by a real worker process against the test database (scripts/worker.sh).

The worker has its own clock: time-machine in a test moves this process's clock, not the worker's. So these
tests set no clock and pass no moment the worker would have to share; the dated pass (scripts/dated.sh) moves
both processes' clocks together and runs them at month ends, New Year and the DST nights (that the worker's
clock is the test's is tests/igo/test_worker_clock.py).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from django.db import connection
from django.test import Client
from django.utils import timezone

from igo.models import Invitation, Role
from igo.selectors import invitation_token
from igo.services import invitation_create
from igo.tasks import worker_info
from igo.tenancy import tenant_scope
from tests.scenarios.people import make_world

pytestmark = [
    pytest.mark.real_worker,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("needs_worker"),
    pytest.mark.dated,
]


def test_worker_runs_in_another_process_on_the_test_database():
    info = worker_info.delay().get(timeout=30)
    assert info["db"] == connection.settings_dict["NAME"]
    assert info["pid"] != os.getpid()


def test_invitation_mail_is_sent_by_the_worker_after_commit():
    world = make_world("Worker")
    with tenant_scope(world.tenant):
        invitation = invitation_create(
            tenant=world.tenant,
            actor=world.user(Role.IGO_ADMIN),
            email="via-worker@example.test",
            role=Role.MIDWIFE,
        )
    # Autocommit: the row is committed and the job was enqueued on commit; the worker picks it up.
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        invitation = Invitation.unscoped.get(pk=invitation.pk)
        if invitation.sent_at is not None:
            break
        time.sleep(0.2)
    assert invitation.sent_at is not None, "the worker did not send the invitation within 30 s"
    assert invitation.created_at <= invitation.sent_at < invitation.expires_at
    token = invitation_token(invitation)
    mail_dir = os.environ.get("EMAIL_FILE_PATH")
    if mail_dir:
        [body] = [b for p in Path(mail_dir).glob("*.log") if token in (b := p.read_text())]
        assert "via-worker@example.test" in body and f"/invite/{token}/" in body
        # The mail states the end of the link's validity on the Amsterdam clock (a week of 168 hours after it
        # was made: across a DST change that is another hour on the wall clock than the invitation's).
        valid_until = timezone.localtime(invitation.expires_at)
        assert f"{valid_until:%d-%m-%Y %H:%M}" in body
    # The link works when the mail arrives.
    assert Client().get(f"/invite/{token}/").status_code == 200
