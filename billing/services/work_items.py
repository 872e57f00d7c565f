"""Work items: what finance must resolve before a phase can be claimed."""

from __future__ import annotations

from collections.abc import Iterable

from django.db.models import Q
from django.utils import timezone

from billing.models import WorkItem, WorkReason
from billing.services.claim_lines import LineRef, care_episode_id
from pregnancies.models import Episode


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
