"""Celery jobs executed by a real worker process against the test database (scripts/worker.sh)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from igo.models import Invitation, Role
from igo.services import invitation_create
from igo.tasks import worker_info
from igo.tenancy import tenant_scope
from tests.scenarios.people import make_world

pytestmark = [pytest.mark.real_worker, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def _needs_worker():
    if settings.CELERY_TASK_ALWAYS_EAGER:
        if os.environ.get("IGO_REQUIRE_REAL_SERVICES") == "1":
            pytest.fail("real-worker tests must run against a worker, but Celery is eager")
        pytest.skip("no broker configured: start Redis and scripts/worker.sh, set REDIS_URL")


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
    mail_dir = os.environ.get("EMAIL_FILE_PATH")
    if mail_dir:
        bodies = [p.read_text() for p in Path(mail_dir).glob("*.log")]
        assert any("via-worker@example.test" in b and "/invite/" in b for b in bodies)
