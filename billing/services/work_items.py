"""Work items: what finance must resolve before a phase can be claimed."""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from billing.models import WorkItem, WorkReason
from billing.services.claim_lines import LineRef, care_episode_id
from igo.models import User
from igo.services import audit_record
from pregnancies.models import Episode
from providers.models import MemberOrganisation

# Reasons finance may resolve by hand with a note: the platform cannot settle them by itself.
HAND_RESOLVED = (WorkReason.FORMER_MEMBER_DEBT, WorkReason.CREDIT_OF_REJECTED)


def work_item_open(
    episode: Episode | LineRef,
    phase: str,
    reason: WorkReason,
    message: str,
    open_items: set[tuple[int, str, str]],
) -> int:
    """Open a work item for an episode's phase (given the episode or one of its claim lines), unless one
    for the same reason is open (`open_items`: (episode id, phase, reason), updated here). Returns 1 if
    it opened one."""
    episode_id = episode.pk if isinstance(episode, Episode) else care_episode_id(episode)
    if (episode_id, phase, reason) in open_items:
        return 0
    WorkItem.objects.create(
        tenant_id=episode.tenant_id, episode_id=episode_id, phase=phase, reason=reason, message=message
    )
    open_items.add((episode_id, phase, reason))
    return 1


def work_items_resolve(*, phases: Iterable[tuple[int, str]], reasons: Iterable[str]) -> None:
    """Resolve the open work items for these reasons of these (episode id, phase) pairs."""
    q = Q()
    for episode_id, phase in phases:
        q |= Q(episode_id=episode_id, phase=phase)
    if q:
        WorkItem.objects.filter(q, resolved_at__isnull=True, reason__in=list(reasons)).update(
            resolved_at=timezone.now()
        )


def member_work_item_set(
    *, organisation: MemberOrganisation, reason: WorkReason, amount: Decimal, message: str
) -> WorkItem:
    """Open a work item about a member organisation, or bring the open one for the same reason up to date
    (amount and message): one open item per organisation and reason (constraint work_item_one_open_per_member)."""
    item = WorkItem.objects.filter(organisation=organisation, reason=reason, resolved_at__isnull=True).first()
    if item is None:
        return WorkItem.objects.create(
            tenant_id=organisation.tenant_id,
            organisation=organisation,
            reason=reason,
            amount=amount,
            message=message[:300],
        )
    if (item.amount, item.message) != (amount, message[:300]):
        item.amount, item.message = amount, message[:300]
        item.save(update_fields=["amount", "message"])
    return item


def work_item_resolve_by_hand(*, item: WorkItem, actor: User, note: str) -> WorkItem:
    """Finance resolves an item the platform cannot settle (HAND_RESOLVED), saying how in `note`; audited.
    Refused (ValidationError on `note`) without a note, for another reason, or when already resolved."""
    note = note.strip()
    if item.reason not in HAND_RESOLVED:
        raise ValidationError(
            {"note": _("This work item is resolved by the platform once its cause is fixed.")}, code="reason"
        )
    if not note:
        raise ValidationError({"note": _("Say how it was settled.")}, code="required")
    if len(note) > 500:
        raise ValidationError(
            {"note": _("At most 500 characters (this note has %(n)s).") % {"n": len(note)}}, code="max_length"
        )
    with transaction.atomic():
        locked = WorkItem.objects.select_for_update().get(pk=item.pk)
        if locked.resolved_at is not None:
            raise ValidationError({"note": _("This work item has already been resolved.")}, code="resolved")
        locked.resolved_at, locked.resolution_note = timezone.now(), note
        locked.save(update_fields=["resolved_at", "resolution_note"])
        audit_record(
            actor=actor,
            action="work_item.resolve",
            tenant=locked.tenant,
            obj=locked,
            reason=locked.reason,
            organisation=locked.organisation_id,
            amount=str(locked.amount),
            note=note,
        )
    return locked
