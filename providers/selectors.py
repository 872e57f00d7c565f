"""Reads for member organisations and professionals (always within the tenant in scope)."""

from __future__ import annotations

from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from providers.models import MemberOrganisation, Professional


def organisation_list(
    *, q: str = "", kind: str = "", current_only: bool = False
) -> QuerySet[MemberOrganisation]:
    qs = MemberOrganisation.objects.annotate(
        professional_count=Count("professionals", filter=Q(professionals__is_active=True))
    ).order_by("name")
    if q:
        qs = qs.filter(Q(name__icontains=q) | Q(agb_code__startswith=q))
    if kind:
        qs = qs.filter(kind=kind)
    if current_only:
        today = timezone.localdate()  # Amsterdam's day, not the process's zone (23:30 UTC is the next day)
        qs = qs.filter(member_from__lte=today).filter(
            Q(member_until__isnull=True) | Q(member_until__gte=today)
        )
    return qs


def professional_list(
    *, q: str = "", discipline: str = "", include_inactive: bool = False
) -> QuerySet[Professional]:
    qs = Professional.objects.select_related("organisation", "user").order_by("full_name")
    if not include_inactive:
        qs = qs.filter(is_active=True)
    if q:
        qs = qs.filter(
            Q(full_name__icontains=q)
            | Q(agb_code__startswith=q)
            | Q(big_number__startswith=q)
            | Q(organisation__name__icontains=q)
        )
    if discipline:
        qs = qs.filter(discipline=discipline)
    return qs
