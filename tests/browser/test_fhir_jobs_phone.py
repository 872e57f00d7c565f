"""The administrator's list of FHIR import jobs (issue 21) on a phone (390 px): a finished job with its counts
and a queued one; the page is no wider than the screen (the table scrolls inside its own box).

Seen on 15 November 2026."""

from __future__ import annotations

import pytest
from django.urls import reverse
from playwright.sync_api import Page, expect

from fhir_io.models import FhirImportJob, ImportJobStatus
from fhir_io.services import member_key_create
from igo.models import Role
from tests.factories import MemberOrganisationFactory
from tests.scenarios.browser import assert_fits_viewport, member_with_totp, sign_in_with_totp
from tests.scenarios.clock import local

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.clock(local(2026, 11, 15, 10)),
]

PHONE = {"width": 390, "height": 844}


def test_the_import_jobs_fit_a_phone(page: Page, world_a):
    tenant = world_a.tenant
    practice = MemberOrganisationFactory(tenant=tenant, name="Verloskundigenpraktijk De Linde en Omstreken")
    key, _plain = member_key_create(
        tenant=tenant, actor=world_a.user(Role.IGO_ADMIN), organisation=practice, name="HIS"
    )
    done = FhirImportJob.unscoped.create(
        tenant=tenant,
        organisation=practice,
        key=key,
        body_sha256="-",
        status=ImportJobStatus.DONE,
        entries=50000,
        stored=50000,
        created=49000,
        corrected=600,
        voided=12,
        unchanged=388,
    )
    queued = FhirImportJob.unscoped.create(
        tenant=tenant, organisation=practice, key=key, body=b"{}", body_sha256="-"
    )
    admin, secret = member_with_totp(tenant, Role.IGO_ADMIN, "beheer@alpha.test", "Bea Beheer")
    page.set_viewport_size(PHONE)
    sign_in_with_totp(page, admin, secret, tenant.slug)
    page.goto(reverse("fhir_import_jobs", args=[tenant.slug]))
    expect(page.get_by_test_id(f"job-{done.pk}")).to_contain_text("49000")
    expect(page.get_by_test_id(f"job-{queued.pk}")).to_be_visible()
    assert_fits_viewport(page)
