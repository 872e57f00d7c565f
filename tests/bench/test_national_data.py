"""The national year's bulk loader (bench/national_data.py) against the schema as it is now."""

from datetime import UTC, date, datetime

import pytest

from bench.national_data import copy_rows
from pregnancies.models import Episode
from tests.factories import ClientFactory, TenantFactory


@pytest.mark.django_db
def test_copy_fills_the_defaults_of_columns_the_loader_does_not_name():
    # Django keeps field defaults in Python, not in the table: a NOT NULL field added after the loader was
    # written (the Kernset fields of the episode) broke the COPY of the national year until copy_rows
    # filled what it is not given.
    tenant = TenantFactory()
    client = ClientFactory(tenant=tenant)
    moment = datetime(2026, 3, 1, 9, tzinfo=UTC)
    n = copy_rows(
        "pregnancies_episode",
        (
            "tenant_id",
            "client_id",
            "intake_date",
            "due_date",
            "gestational_age_at_intake",
            "status",
            "created_at",
            "changed_at",
        ),
        [(tenant.pk, client.pk, date(2026, 3, 1), date(2026, 10, 1), 61, "active", moment, moment)],
    )
    assert n == 1
    episode = Episode.unscoped.get(client=client)
    assert episode.presentation == ""
    assert episode.breastfeeding_at_kraamzorg_end == ""
    assert episode.due_date == date(2026, 10, 1)
