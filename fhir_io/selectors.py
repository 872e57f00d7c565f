"""Reads of the FHIR pages and the export (tenant in scope)."""

from __future__ import annotations

from datetime import date, datetime, time

from django.db.models import Exists, OuterRef, Prefetch, Q, QuerySet
from django.utils import timezone

from fhir_io.models import CodeMapping, FhirImportJob, MemberApiKey
from igo.models import Membership
from pregnancies.models import Birth, CareEvent, ClientInsurance, Episode


def member_key_list() -> QuerySet[MemberApiKey]:
    """The IGO's member-system keys, each with `maker_active`: whether the person who made it still holds an
    active role in this IGO (a key kept when her access ended says so in the list)."""
    maker_active = Membership.unscoped.filter(
        user_id=OuterRef("created_by_id"), tenant_id=OuterRef("tenant_id"), is_active=True
    )
    return MemberApiKey.objects.select_related("account__organisation", "created_by").annotate(
        maker_active=Exists(maker_active)
    )


def code_mapping_list() -> QuerySet[CodeMapping]:
    return CodeMapping.objects.select_related("event_type", "created_by")


def code_mappings_by_type() -> dict[int, list[tuple[str, str]]]:
    """The IGO's code mapping read backwards: for each catalogue entry, the senders' codes that stand for it
    (the export names them beside the platform's own code)."""
    out: dict[int, list[tuple[str, str]]] = {}
    for m in CodeMapping.objects.order_by("system", "code").only("system", "code", "event_type_id"):
        out.setdefault(m.event_type_id, []).append((m.system, m.code))
    return out


def episodes_of_period(*, start: date, end: date) -> QuerySet[Episode]:
    """The episodes of a period for the registry: a child born in it (local days, `end` exclusive), or,
    without any birth, the episode ended in it (a miscarriage, a move away)."""
    tz = timezone.get_current_timezone()
    since = datetime.combine(start, time.min, tzinfo=tz)
    until = datetime.combine(end, time.min, tzinfo=tz)
    born = Birth.objects.filter(born_at__gte=since, born_at__lt=until).values("episode_id")
    return Episode.objects.filter(
        Q(pk__in=born) | Q(births__isnull=True, end_date__gte=start, end_date__lt=end)
    ).distinct()


def episodes_for_export(episodes: QuerySet[Episode]) -> list[Episode]:
    """The episodes with all that the export writes, read in a fixed number of queries."""
    return list(
        episodes.select_related("client", "coordinating_professional__organisation")
        .prefetch_related(
            "births",
            "line_transfers",
            Prefetch("client__insurances", queryset=ClientInsurance.objects.select_related("insurer")),
            Prefetch(
                "events",
                queryset=CareEvent.objects.select_related("event_type", "professional", "organisation"),
            ),
        )
        .order_by("pk")
    )


def import_job_list() -> QuerySet[FhirImportJob]:
    """The IGO's import jobs, newest first, without their bodies and reports (megabytes each)."""
    return FhirImportJob.objects.select_related("organisation", "key").defer("body", "report")
