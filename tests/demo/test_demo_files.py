"""The demo's batches download as Vektis KZ301 files: 310-position ASCII records ended by CR LF, read back by
the independent reader and free of anything an insurer's parser would refuse."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command
from django.urls import reverse

from billing.files.conformance import conformance_problems
from billing.models import BatchStatus, ClaimBatch
from igo.models import Membership, Role
from tests.scenarios import kz301_reader
from tests.scenarios.clock import local
from tests.scenarios.people import give_totp

pytestmark = [pytest.mark.django_db, pytest.mark.clock(local(2026, 12, 4, 9, 0))]


def test_the_demo_batches_download_as_310_position_files(client_for):
    call_command("seed_demo", stdout=io.StringIO())
    batches = list(ClaimBatch.unscoped.select_related("tenant").order_by("pk"))
    assert any(b.status == BatchStatus.RELEASED for b in batches) and len(batches) >= 4
    signed_in: set[int] = set()
    for batch in batches:
        finance = Membership.unscoped.filter(tenant=batch.tenant, role=Role.IGO_FINANCE).first()
        assert finance is not None
        if finance.user_id not in signed_in:
            give_totp(finance.user)  # finance signs in with a second factor
            signed_in.add(finance.user_id)
        url = reverse(
            "batch_file", kwargs={"tenant_slug": batch.tenant.slug, "pk": batch.pk, "kind": "kz301"}
        )
        response = client_for(finance.user).get(url)
        assert response.status_code == 200
        assert response["Content-Type"] == "text/plain; charset=us-ascii"
        data = b"".join(response.streaming_content) if response.streaming else response.content
        assert data.isascii()
        assert all(len(record) == 310 for record in data.split(b"\r\n")[:-1]) and data.endswith(b"\r\n")
        records = kz301_reader.parse(data)
        assert records[0].code == "01" and records[-1].code == "99"
        assert records[-1]["count_04"] == batch.line_count
        assert conformance_problems(data) == []
