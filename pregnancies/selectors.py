"""Reads for clients, episodes and care events, within the tenant in scope."""

from __future__ import annotations

from collections import OrderedDict
from datetime import date, datetime, timedelta
from decimal import Decimal

from django.db.models import Count, OuterRef, Q, QuerySet, Subquery, Sum
from django.utils import timezone

from igo.models import User
from igo.validators import bsn_is_valid
from pregnancies.models import (
    AccessLogEntry,
    CareEvent,
    Client,
    ClientInsurance,
    Episode,
    EpisodeStatus,
    EventStatus,
    EventType,
    Phase,
    Unit,
)
from providers.models import Professional

SEARCH_LIMIT = 25


def _client_search_queryset(*, q: str, date_of_birth: date | None) -> QuerySet[Client] | None:
    q = (q or "").strip()
    if not q and not date_of_birth:
        return None
    qs = Client.objects.all()
    if q.isdigit() and len(q) == 9:
        qs = qs.filter(bsn=q) if bsn_is_valid(q) else qs.none()
    elif q:
        for part in q.split():
            qs = qs.filter(Q(family_name__icontains=part) | Q(given_names__icontains=part))
    if date_of_birth:
        qs = qs.filter(date_of_birth=date_of_birth)
    return qs


def client_search(*, q: str = "", date_of_birth: date | None = None) -> list[Client]:
    """Find clients by BSN (exact), name (part) and/or date of birth. Returns at most SEARCH_LIMIT."""
    qs = _client_search_queryset(q=q, date_of_birth=date_of_birth)
    if qs is None:
        return []
    # Her pregnancy in care, if any (the latest active episode): the results show its due date and the
    # gestational age today, and link to it, in the same query.
    active = Episode.objects.filter(client=OuterRef("pk"), status=EpisodeStatus.ACTIVE).order_by(
        "-intake_date"
    )
    qs = qs.annotate(
        active_episode_id=Subquery(active.values("pk")[:1]),
        active_due_date=Subquery(active.values("due_date")[:1]),
    )
    return list(qs.order_by("family_name", "given_names")[:SEARCH_LIMIT])


def client_search_count(*, q: str = "", date_of_birth: date | None = None) -> int:
    """How many clients a search would show (at most SEARCH_LIMIT + 1, read as "more than the limit"):
    the type-ahead preview, which names no one."""
    qs = _client_search_queryset(q=q, date_of_birth=date_of_birth)
    if qs is None:
        return 0
    return len(qs.values_list("pk", flat=True)[: SEARCH_LIMIT + 1])


def client_insurance_on(*, client: Client, day: date) -> ClientInsurance | None:
    return (
        ClientInsurance.objects.select_related("insurer")
        .filter(client=client, valid_from__lte=day)
        .filter(Q(valid_until__isnull=True) | Q(valid_until__gte=day))
        .first()
    )


def episode_for_page(*, pk: int) -> Episode:
    return Episode.objects.select_related("client", "coordinating_professional").get(pk=pk)


def episode_timeline(*, episode: Episode, include_history: bool = False) -> OrderedDict[str, list[CareEvent]]:
    """The episode's events grouped by phase, in time order, in one query."""
    # Only the columns the timeline shows: building full rows (users with password hashes included)
    # was most of the page time for long episodes (bench/care_logging.py).
    qs = (
        CareEvent.objects.filter(episode=episode)
        .select_related("event_type", "professional", "organisation")
        .only(
            "id",
            "episode_id",
            "occurred_at",
            "quantity",
            "phase",
            "note",
            "status",
            "supersedes_id",
            "created_by_id",
            "event_type__name_nl",
            "event_type__name_en",
            "event_type__unit",
            "professional__full_name",
            "organisation__name",
        )
    )
    if not include_history:
        qs = qs.filter(status=EventStatus.ACTIVE)
    groups: OrderedDict[str, list[CareEvent]] = OrderedDict((p, []) for p in Phase.values)
    for event in qs.order_by("occurred_at", "pk"):
        groups[event.phase].append(event)
    return groups


# The care list ranks what the professional and her organisation logged in this many days before now.
CARE_LIST_USAGE_DAYS = 90
_PHASE_RANK: dict[str, int] = {Phase.PRENATAL: 0, Phase.NATAL: 1, Phase.POSTNATAL: 2, "": 3}
_UNIT_RANK: dict[str, int] = {Unit.VISIT: 0, Unit.HOUR: 1, Unit.DAY: 2, Unit.ITEM: 3}


def _usage(events: QuerySet[CareEvent]) -> dict[int, int]:
    rows = events.values("event_type_id").annotate(n=Count("pk")).order_by().values_list("event_type_id", "n")
    return dict(rows)


def event_types_for(
    *, professional: Professional | None, phase: str = "", now: datetime | None = None
) -> list[EventType]:
    """The catalogue entries this professional's discipline may log, in the order the logging form offers
    them (care_list_order): the entries of `phase` (the episode's phase now) first, then those allowed in
    every phase, then the other phases; within each, the most used first. Each entry carries `own_uses`,
    how often she logged it in CARE_LIST_USAGE_DAYS, and `org_uses`, how often her organisation did.

    Two queries, the entries and her own use by the professional index (a few ms on the care-logging bench
    data). Her organisation's use is read only when she has logged nothing in the period (new to the IGO):
    counted per entry in the same query, or over the organisation's events, it cost 20-60 ms on the bench
    data, on every episode page and every logging POST."""
    if professional is None:
        return []
    since = (now or timezone.now()) - timedelta(days=CARE_LIST_USAGE_DAYS)
    types = list(EventType.objects.filter(is_active=True, disciplines__contains=[professional.discipline]))
    recent = CareEvent.objects.filter(status=EventStatus.ACTIVE, occurred_at__gte=since)
    own = _usage(recent.filter(professional=professional))
    org = {} if own else _usage(recent.filter(organisation_id=professional.organisation_id))
    for t in types:
        t.own_uses = own.get(t.pk, 0)  # type: ignore[attr-defined]
        t.org_uses = org.get(t.pk, 0)  # type: ignore[attr-defined]
    return care_list_order(types, phase=phase)


def care_list_order(types: list[EventType], *, phase: str = "") -> list[EventType]:
    """Entries of `phase` first, then any-phase entries, then the rest (by phase); within each group the
    ones she logs most, then the ones her organisation logs most, then visits before hours, days and items
    (a check is logged more often than an ultrasound), then by code. Without a phase: the most used first.
    Entries without usage figures count as never used."""

    def key(t: EventType) -> tuple[int, int, int, int, int, str]:
        group = (0 if t.phase == phase else 1 if not t.phase else 2) if phase else 0
        own, org = getattr(t, "own_uses", 0), getattr(t, "org_uses", 0)
        return (group, -own, -org, _PHASE_RANK.get(t.phase, 3), _UNIT_RANK.get(t.unit, 4), t.code)

    return sorted(types, key=key)


def my_clients_today(*, user: User, today: date | None = None) -> list[Episode]:
    """Episodes in their kraamzorg period (birth done, kraamzorg not ended) that the user's organisation
    has cared for in the last ten days: the maternity carer's day list."""
    today = today or timezone.localdate()
    professional = Professional.objects.filter(user=user, is_active=True).first()
    if professional is None:
        return []
    since = timezone.now() - timedelta(days=10)
    episode_ids = CareEvent.objects.filter(
        organisation_id=professional.organisation_id, occurred_at__gte=since, status=EventStatus.ACTIVE
    ).values("episode_id")
    return list(
        Episode.objects.select_related("client")
        .filter(pk__in=episode_ids, status=EpisodeStatus.ACTIVE, placenta_plus_2h_at__isnull=False)
        .filter(Q(kraamzorg_ended_on__isnull=True) | Q(kraamzorg_ended_on__gte=today))
        .order_by("client__family_name")
    )


def kraamzorg_hours_by_episode(*, episode_ids: list[int]) -> dict[int, Decimal]:
    """Active kraamzorg hours per episode, in one query."""
    type_ids = [t.pk for t in EventType.objects.filter(unit=Unit.HOUR) if t.is_kraamzorg_hours]
    rows = (
        CareEvent.objects.filter(
            episode_id__in=episode_ids, status=EventStatus.ACTIVE, event_type_id__in=type_ids
        )
        .values("episode_id")
        .annotate(total=Sum("quantity"))
    )
    return {row["episode_id"]: row["total"] for row in rows}


def access_log_search(
    *,
    client: Client | None = None,
    user: User | None = None,
    user_email: str = "",
    action: str = "",
    since: date | None = None,
    until: date | None = None,
) -> QuerySet[AccessLogEntry]:
    qs = AccessLogEntry.objects.select_related("user", "on_behalf_of", "client").order_by("-at", "-pk")
    if client is not None:
        qs = qs.filter(client=client)
    if user is not None:
        qs = qs.filter(user=user)
    if user_email:
        # The address at the time of the entry, or the user's address now.
        qs = qs.filter(Q(user_email__icontains=user_email) | Q(user__email__icontains=user_email))
    if action:
        qs = qs.filter(action=action)
    if since:
        qs = qs.filter(at__date__gte=since)
    if until:
        qs = qs.filter(at__date__lte=until)
    return qs
