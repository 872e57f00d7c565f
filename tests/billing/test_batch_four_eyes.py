"""Four eyes on claim batch release, an IGO setting (Tenant.batch_four_eyes): with it on, whoever made or
last rebuilt a batch cannot release it (service, screen and database); with it off, today's behaviour.
The administrator switches it on the IGO settings page, audited.

The worked portfolio of tests.scenarios.billing, billed: Zilveren Kruis 6 lines 7200.00, VGZ 2 lines 2650.00.
Finance user A (`world_a.user(IGO_FINANCE)`) prepares; B (a second finance user) checks and releases.
"""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from billing.models import BatchStatus, ClaimBatch, ClaimLine, LineStatus
from billing.services import batches
from igo.models import AuditEntry, Role, Tenant, User
from igo.services import tenant_create
from igo.tenancy import tenant_scope
from tests.factories import UserFactory
from tests.scenarios.billing import BILLING_NOW, Setup
from tests.scenarios.finance import ERROR, OK, act, this_month, url
from tests.scenarios.payouts import second_finance_user
from tests.scenarios.people import TenantWorld

pytestmark = [pytest.mark.django_db, pytest.mark.clock(BILLING_NOW)]


@pytest.fixture
def s(billed_portfolio: Setup) -> Setup:
    Tenant.objects.filter(pk=billed_portfolio.tenant.pk).update(batch_four_eyes=True)
    billed_portfolio.tenant.refresh_from_db()
    return billed_portfolio


@pytest.fixture
def a(world_a: TenantWorld) -> User:
    return world_a.user(Role.IGO_FINANCE)


@pytest.fixture
def b(world_a: TenantWorld) -> User:
    return second_finance_user(world_a)


def zk_batch(s: Setup, actor: User | None) -> ClaimBatch:
    with tenant_scope(s.tenant):
        result = batches.batch_create(tenant=s.tenant, insurer=s.zk, period=this_month(), actor=actor)
    assert result.batch is not None and result.created
    return result.batch


def release(s: Setup, batch: ClaimBatch, actor: User) -> ClaimBatch:
    with tenant_scope(s.tenant):
        return batches.batch_release(batch=batch, actor=actor)


def test_the_preparer_cannot_release_and_nothing_is_sent(s, a):
    batch = zk_batch(s, a)
    with pytest.raises(ValidationError) as refused:
        release(s, batch, a)
    assert refused.value.code == "four_eyes"
    batch.refresh_from_db()
    assert batch.status == BatchStatus.DRAFT and batch.released_by is None
    # Its six lines still wait: none counts as sent.
    assert ClaimLine.unscoped.filter(batch_line__batch=batch, status=LineStatus.SENT).count() == 0


def test_another_finance_user_releases_and_the_audit_row_says_four_eyes(s, a, b):
    batch = zk_batch(s, a)
    released = release(s, batch, b)
    assert (released.status, released.created_by, released.released_by) == (BatchStatus.RELEASED, a, b)
    assert released.four_eyes is True
    assert ClaimLine.unscoped.filter(batch_line__batch=batch, status=LineStatus.SENT).count() == 6
    entry = AuditEntry.objects.get(tenant=s.tenant, action="batch.release", object_id=str(batch.pk))
    assert entry.actor == b
    assert entry.details["four_eyes"] is True and entry.details["prepared_by"] == a.email


def test_with_the_setting_off_the_preparer_releases_as_before(s, a):
    Tenant.objects.filter(pk=s.tenant.pk).update(batch_four_eyes=False)
    batch = zk_batch(s, a)
    released = release(s, batch, a)
    assert (released.status, released.released_by, released.four_eyes) == (BatchStatus.RELEASED, a, False)


def test_a_rebuild_makes_the_rebuilder_the_preparer(s, a, b):
    first = zk_batch(s, a)
    with tenant_scope(s.tenant):
        rebuilt = batches.batch_rebuild(batch=first, actor=b).batch
    assert rebuilt is not None and rebuilt.created_by == b
    # B would have released A's batch; having rebuilt it, she no longer may, and A now may.
    with pytest.raises(ValidationError):
        release(s, rebuilt, b)
    assert release(s, rebuilt, a).released_by == a


def test_a_batch_the_schedule_made_has_no_preparer_and_any_finance_user_releases_it(s, a):
    batch = zk_batch(s, None)
    assert release(s, batch, a).four_eyes is True


def test_the_database_refuses_a_release_by_the_preparer_under_four_eyes(s, a):
    batch = zk_batch(s, a)
    with pytest.raises(IntegrityError), transaction.atomic():
        ClaimBatch.unscoped.filter(pk=batch.pk).update(
            status=BatchStatus.RELEASED, released_at=timezone.now(), released_by=a, four_eyes=True
        )
    # Released without four eyes (the setting off, or a batch from before it existed) stays valid.
    ClaimBatch.unscoped.filter(pk=batch.pk).update(
        status=BatchStatus.RELEASED, released_at=timezone.now(), released_by=a, four_eyes=False
    )


def test_the_page_explains_why_the_preparer_cannot_release(s, a, b, client_for):
    batch = zk_batch(s, a)
    preparer = client_for(a)
    html = preparer.get(url(s, "batch_detail", pk=batch.pk)).content.decode()
    assert 'data-testid="batch-release-disabled"' in html and 'data-testid="batch-release"' not in html
    assert 'data-testid="batch-four-eyes"' in html
    assert "another finance user" in html or "andere financiële gebruiker" in html
    # Posting anyway (an old tab) is refused with the same message, and the batch stays a draft.
    assert act(preparer, url(s, "batch_release", pk=batch.pk)) == (url(s, "batch_detail", pk=batch.pk), ERROR)
    assert ClaimBatch.unscoped.get(pk=batch.pk).status == BatchStatus.DRAFT
    # The second finance user sees the ordinary button and releases.
    checker = client_for(b)
    html = checker.get(url(s, "batch_detail", pk=batch.pk)).content.decode()
    assert 'data-testid="batch-release"' in html and 'data-testid="batch-four-eyes"' not in html
    assert act(checker, url(s, "batch_release", pk=batch.pk)) == (url(s, "batch_detail", pk=batch.pk), OK)
    assert ClaimBatch.unscoped.get(pk=batch.pk).released_by == b


def test_another_igos_finance_user_gets_404(s, a, world_b, client_for):
    batch = zk_batch(s, a)
    outsider = client_for(world_b.user(Role.IGO_FINANCE))
    slug = world_b.tenant.slug
    # Her own IGO's address with this IGO's batch number: not found, nothing released.
    assert outsider.get(f"/t/{slug}/batches/{batch.pk}/").status_code == 404
    assert outsider.post(f"/t/{slug}/batches/{batch.pk}/release/").status_code == 404
    assert ClaimBatch.unscoped.get(pk=batch.pk).status == BatchStatus.DRAFT


# --- the setting ------------------------------------------------------------------------------------


def test_a_new_igo_starts_with_four_eyes_on(db):
    operator = UserFactory(email="operator@platform.test", is_staff=True)
    tenant, _invitation = tenant_create(
        actor=operator, name="IGO Nieuw", slug="igo-nieuw", agb_code="53000999", first_admin_email="a@n.test"
    )
    assert tenant.batch_four_eyes is True


def test_the_administrator_switches_it_and_each_change_is_audited(s, world_a, client_for):
    admin_user = world_a.user(Role.IGO_ADMIN)
    admin = client_for(admin_user)
    page = url(s, "tenant_settings")
    html = admin.get(page).content.decode()
    assert 'name="batch_four_eyes"' in html and "checked" in html
    response = admin.post(page, {}, follow=True)  # an unticked box is not sent: off
    assert response.status_code == 200
    s.tenant.refresh_from_db()
    assert s.tenant.batch_four_eyes is False
    entry = AuditEntry.objects.get(tenant=s.tenant, action="tenant.batch_four_eyes")
    assert (entry.actor, entry.details["before"], entry.details["after"]) == (admin_user, True, False)
    # Saving the same value again writes nothing; switching it on writes the second entry.
    admin.post(page, {})
    admin.post(page, {"batch_four_eyes": "on"})
    s.tenant.refresh_from_db()
    assert s.tenant.batch_four_eyes is True
    assert AuditEntry.objects.filter(tenant=s.tenant, action="tenant.batch_four_eyes").count() == 2
    assert 'data-testid="tenant-settings-form"' in admin.get(page).content.decode()


def test_finance_cannot_change_the_setting(s, a, client_for):
    finance = client_for(a)
    assert finance.get(url(s, "tenant_settings")).status_code == 403
    assert finance.post(url(s, "tenant_settings"), {}).status_code == 403
    s.tenant.refresh_from_db()
    assert s.tenant.batch_four_eyes is True
