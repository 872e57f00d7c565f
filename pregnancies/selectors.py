"""Reads for clients, episodes and care events, within the tenant in scope."""

from __future__ import annotations

import logging
from collections import OrderedDict
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from django.core.cache import cache
from django.db import connection, transaction
from django.db.models import Count, Exists, OuterRef, Q, QuerySet, Subquery, Sum
from django.utils import timezone

from igo.models import User
from igo.validators import bsn_is_valid
from pregnancies import dating
from pregnancies.models import (
    LEMMON_NONE,
    AccessLogEntry,
    Birth,
    BirthOutcome,
    CareEvent,
    Client,
    ClientInsurance,
    Episode,
    EpisodeStatus,
    EventStatus,
    EventType,
    LemmonCriterion,
    Phase,
    Unit,
)
from providers.models import MemberOrganisation, OrganisationKind, Professional

logger = logging.getLogger(__name__)

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
    # After the birth (or from the start of labour) the weeks of pregnancy no longer count: the results show
    # the day of the birth instead of the due date, and no gestational age.
    first_birth = Birth.objects.filter(episode=OuterRef("active_episode_id")).order_by("born_at")
    qs = qs.annotate(
        active_episode_id=Subquery(active.values("pk")[:1]),
        active_due_date=Subquery(active.values("due_date")[:1]),
        active_labour_started_at=Subquery(active.values("labour_started_at")[:1]),
    ).annotate(active_born_at=Subquery(first_birth.values("born_at")[:1]))
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


def client_with_bsn(*, bsn: str) -> Client | None:
    """The client of the IGO in scope with this BSN, if any (another IGO's clients are not looked at)."""
    bsn = (bsn or "").strip()
    if not bsn_is_valid(bsn):
        return None
    return Client.objects.filter(bsn=bsn).first()


def pregnancy_numbers_next(*, client: Client) -> tuple[int, int]:
    """Gravida and parity of a new pregnancy of this client, from her latest earlier episode: gravida one
    more; parity one more if that pregnancy ended in a birth at 24+0 weeks or later (twins count once), else
    the same. (1, 0) when she has no earlier episode."""
    previous = Episode.objects.filter(client=client).order_by("-intake_date", "-pk").first()
    if previous is None:
        return 1, 0
    born = [timezone.localdate(b.born_at) for b in Birth.objects.filter(episode=previous).only("born_at")]
    counted = any(dating.counts_for_parity(due_date=previous.due_date, born_on=day) for day in born)
    return previous.gravida + 1, previous.parity + (1 if counted else 0)


def active_episode_of(*, client: Client) -> Episode | None:
    return Episode.objects.filter(client=client, status=EpisodeStatus.ACTIVE).first()


def kraamzorg_organisations(*, on: date) -> QuerySet[MemberOrganisation]:
    """The IGO's maternity-care organisations that are members on `on` or join later (a choice at intake)."""
    return MemberOrganisation.objects.filter(kind=OrganisationKind.KRAAMZORG).filter(
        Q(member_until__isnull=True) | Q(member_until__gte=on)
    )


def kraamzorg_members(*, on: date) -> QuerySet[MemberOrganisation]:
    """The IGO's maternity-care organisations that are members on `on`: the choice after the intake."""
    return (
        MemberOrganisation.objects.filter(kind=OrganisationKind.KRAAMZORG, member_from__lte=on)
        .filter(Q(member_until__isnull=True) | Q(member_until__gte=on))
        .order_by("name")
    )


def gestational_age_today(*, episode: Episode, today: date) -> str:
    """ "24+3" while she is pregnant (an active episode before active labour), else "" (after the birth
    the weeks of pregnancy no longer count)."""
    if episode.status != EpisodeStatus.ACTIVE or episode.labour_started_at is not None:
        return ""
    return dating.gestational_age_on(due_date=episode.due_date, on=today)


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


def phase_placement(*, event: CareEvent) -> tuple[int, int | None]:
    """Where a new event's row goes on the episode page: its phase's count of active events, and the pk of
    the next active row of that phase in time (occurred_at, then pk), None when it is the last.

    One short statement written out: the same read through the ORM (an aggregate over a scalar subquery)
    cost 1–1.8 ms of Python to build, a tenth of the logging POST (issue 18). Scoped by the event's own
    tenant and episode, as the ORM's tenant manager would scope it."""
    table = CareEvent._meta.db_table
    scope = "tenant_id = %s AND episode_id = %s AND phase = %s AND status = %s"
    same: list[Any] = [event.tenant_id, event.episode_id, event.phase, str(EventStatus.ACTIVE)]
    sql = (
        f"SELECT COUNT(*), (SELECT id FROM {table} WHERE {scope} AND "  # noqa: S608 (no user input in names)
        "(occurred_at > %s OR (occurred_at = %s AND id > %s)) ORDER BY occurred_at, id LIMIT 1) "
        f"FROM {table} WHERE {scope}"
    )
    with connection.cursor() as cur:
        at = connection.ops.adapt_datetimefield_value(event.occurred_at)  # SQLite (the demo) stores UTC text
        cur.execute(sql, [*same, at, at, event.pk, *same])
        count, next_pk = cur.fetchone()
    return count, next_pk


def _usage(events: QuerySet[CareEvent]) -> dict[int, int]:
    rows = events.values("event_type_id").annotate(n=Count("pk")).order_by().values_list("event_type_id", "n")
    return dict(rows)


# The usage counts of the care list in Django's cache (Redis): her own per professional, her organisation's
# per organisation, each {"day", "stamp", "counts"} (the day they were read; the moment the row was made,
# which tells apart a recreated database). Dropped when an event of hers or of the organisation is saved
# or deleted (usage_changed, at once and again after the commit); after her own logging POST the view
# stores her counts plus the new event (usage_logged), so her next page needs no count. Kept at most
# USAGE_CACHE_SECONDS, so events written without signals (bulk loads, a concurrent write lost in a race)
# count within that time.
USAGE_CACHE_SECONDS = 300
# Part of every key; the test suite sets one of its own per run (its databases are made again with the same
# ids and, under a stopped clock, the same creation moments).
USAGE_KEY_SALT = ""


def _own_key(tenant_id: int, professional_id: int) -> str:
    return f"care-usage{USAGE_KEY_SALT}:{tenant_id}:p{professional_id}"


def _org_key(tenant_id: int, organisation_id: int) -> str:
    return f"care-usage{USAGE_KEY_SALT}:{tenant_id}:o{organisation_id}"


def usage_changed(sender: object, instance: CareEvent, **kwargs: object) -> None:
    """post_save/post_delete of a care event: the counts it is part of are read again. Dropped now (later
    reads in this transaction) and after the commit (a read between the two kept the old rows)."""
    keys = [
        _own_key(instance.tenant_id, instance.professional_id),
        _org_key(instance.tenant_id, instance.organisation_id),
    ]

    def drop() -> None:
        try:
            cache.delete_many(keys)
        except Exception:  # the cache is down: nothing is served from it either
            logger.warning("care-list usage cache not reachable; not dropped", exc_info=True)

    drop()
    transaction.on_commit(drop)


def _cached(key: str, day: date, stamp: float) -> dict[int, int] | None:
    try:
        entry = cache.get(key)
    except Exception:
        logger.warning("care-list usage cache not reachable; reading the database", exc_info=True)
        return None
    if entry and entry.get("day") == day and entry.get("stamp") == stamp:
        return dict(entry["counts"])
    return None


def _store(key: str, day: date, stamp: float, counts: dict[int, int]) -> None:
    try:
        cache.set(key, {"day": day, "stamp": stamp, "counts": counts}, USAGE_CACHE_SECONDS)
    except Exception:
        logger.warning("care-list usage cache not reachable; not stored", exc_info=True)


def _usage_counts(
    professional: Professional, since: datetime, day: date
) -> tuple[dict[int, int], dict[int, int]]:
    """Her own use and, when she has none, her organisation's; from the cache or read (and stored)."""
    tenant_id = professional.tenant_id
    own_key, own_stamp = _own_key(tenant_id, professional.pk), professional.created_at.timestamp()
    own = _cached(own_key, day, own_stamp)
    recent = CareEvent.objects.filter(status=EventStatus.ACTIVE, occurred_at__gte=since)
    if own is None:
        own = _usage(recent.filter(professional=professional))
        _store(own_key, day, own_stamp, own)
    if own:
        return own, {}
    org_key = _org_key(tenant_id, professional.organisation_id)
    org_stamp = professional.organisation.created_at.timestamp()
    org = _cached(org_key, day, org_stamp)
    if org is None:
        org = _usage(recent.filter(organisation_id=professional.organisation_id))
        _store(org_key, day, org_stamp, org)
    return own, org


def usage_logged(
    *, professional: Professional, event_types: list[EventType], event: CareEvent, now: datetime
) -> None:
    """After her logging POST committed `event`: her counts as event_types_for read them in this request
    (`own_counts` of its list) plus the new event, stored for her next request. Only for an active event of hers in the period.
    A write of another of her events committed between that read and now is left out until the entry
    expires (USAGE_CACHE_SECONDS): a ranking, not a figure anyone is billed on."""
    if event.professional_id != professional.pk or event.status != EventStatus.ACTIVE:
        return
    if event.occurred_at < now - timedelta(days=CARE_LIST_USAGE_DAYS):
        return
    if not isinstance(event_types, CareList):
        return
    counts = dict(event_types.own_counts)  # every entry's, inactive ones too
    counts[event.event_type_id] = counts.get(event.event_type_id, 0) + 1
    day = timezone.localdate(now)
    _store(
        _own_key(professional.tenant_id, professional.pk), day, professional.created_at.timestamp(), counts
    )


def _catalogue_key(tenant_id: int) -> str:
    return f"care-catalogue{USAGE_KEY_SALT}:{tenant_id}"


def catalogue_changed(sender: object, instance: EventType, **kwargs: object) -> None:
    """post_save/post_delete of a catalogue entry: its IGO's entries are read again (catalogue_drop)."""
    catalogue_drop(instance.tenant_id)


def catalogue_drop(tenant_id: int) -> None:
    """The IGO's cached catalogue entries dropped, now and after the commit, as usage_changed does; also
    after catalogue_seed's bulk insert, which sends no signal."""
    key = _catalogue_key(tenant_id)

    def drop() -> None:
        try:
            cache.delete(key)
        except Exception:  # the cache is down: nothing is served from it either
            logger.warning("care catalogue cache not reachable; not dropped", exc_info=True)

    drop()
    transaction.on_commit(drop)


def _catalogue(tenant_id: int) -> list[EventType]:
    """The IGO's active catalogue entries, from Django's cache (Redis) or read and stored: the logging form
    is drawn on every episode page and after every logging POST, its entries change a few times a year. Every
    save or delete of an entry drops them (catalogue_changed); kept at most USAGE_CACHE_SECONDS, so an entry
    changed without signals (a migration's update) counts within that time. Each call gets its own copies."""
    key = _catalogue_key(tenant_id)
    try:
        entries = cache.get(key)
    except Exception:
        logger.warning("care catalogue cache not reachable; reading the database", exc_info=True)
        entries = None
    if entries is not None:
        return list(entries)
    entries = list(EventType.unscoped.filter(tenant_id=tenant_id, is_active=True).order_by("pk"))
    try:
        cache.set(key, entries, USAGE_CACHE_SECONDS)
    except Exception:
        logger.warning("care catalogue cache not reachable; not stored", exc_info=True)
    return entries


def event_types_for(
    *, professional: Professional | None, phase: str = "", now: datetime | None = None
) -> list[EventType]:
    """The catalogue entries this professional's discipline may log, in the order the logging form offers
    them (care_list_order): the entries of `phase` (the episode's phase now) first, then those allowed in
    every phase, then the other phases; within each, the most used first. Each entry carries `own_uses`,
    how often she logged it in CARE_LIST_USAGE_DAYS, and `org_uses`, how often her organisation did.

    One query for the entries; the usage counts come from the cache (_usage_counts) or, after her
    organisation logged, from her own use by the professional index (a few ms on the care-logging bench
    data). Her organisation's use is read only when she has logged nothing in the period (new to the IGO):
    counted per entry in the same query, or over the organisation's events, it cost 20-60 ms on the bench
    data, on every episode page and every logging POST. The period starts CARE_LIST_USAGE_DAYS before the
    moment the day's figures were read (cached for at most USAGE_CACHE_SECONDS)."""
    if professional is None:
        return []
    now = now or timezone.now()
    since = now - timedelta(days=CARE_LIST_USAGE_DAYS)
    types = [t for t in _catalogue(professional.tenant_id) if professional.discipline in t.disciplines]
    own, org = _usage_counts(professional, since, timezone.localdate(now))
    for t in types:
        t.own_uses = own.get(t.pk, 0)  # type: ignore[attr-defined]
        t.org_uses = org.get(t.pk, 0)  # type: ignore[attr-defined]
    ordered = CareList(care_list_order(types, phase=phase))
    ordered.own_counts = own
    return ordered


class CareList(list[EventType]):
    """event_types_for's entries in order; `own_counts` her use of every entry (usage_logged)."""

    own_counts: dict[int, int]


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


# Without a recorded end of kraamzorg, a client stays on the day list this many days from the birth (the
# maternity period is 8 days, 10 when extended; a few more for care that was logged late).
DAY_LIST_DAYS = 14


def my_clients_today(*, user: User, today: date | None = None) -> list[Episode]:
    """The maternity carer's day list: every active episode in its maternity period (from the birth until
    the end of kraamzorg) whose maternity-care organisation is the user's, or for which her organisation
    logged care. Each episode carries `birth_on`, `maternity_day` (the day of the birth is day 1),
    `kraamzorg_hours` (logged) and `indication_reached`, and the counts `children`, `stillborn` and `died`
    (children recorded, stillborn, died after the birth: None when none)."""
    today = today or timezone.localdate()
    professional = Professional.objects.filter(user=user, is_active=True).first()
    if professional is None:
        return []
    organisation_id = professional.organisation_id
    cared = CareEvent.objects.filter(
        episode=OuterRef("pk"), organisation_id=organisation_id, status=EventStatus.ACTIVE
    )
    first_birth = Birth.objects.filter(episode=OuterRef("pk")).order_by("born_at").values("born_at")[:1]
    births = Birth.objects.filter(episode=OuterRef("pk")).order_by().values("episode")
    horizon = timezone.make_aware(datetime.combine(today - timedelta(days=DAY_LIST_DAYS), time.min))
    episodes: list[Episode] = list(
        Episode.objects.select_related("client")
        .prefetch_related("kraamzorg_indications")
        .annotate(
            first_born_at=Subquery(first_birth),
            # What the carer must know before she rings the bell (the card's badges), and no more: how many
            # children, and whether a child was stillborn or has died since.
            children=Subquery(births.annotate(n=Count("pk")).values("n")),
            stillborn=Subquery(
                births.filter(outcome=BirthOutcome.STILLBORN).annotate(n=Count("pk")).values("n")
            ),
            died=Subquery(births.filter(neonatal_death_on__isnull=False).annotate(n=Count("pk")).values("n")),
        )
        .filter(status=EpisodeStatus.ACTIVE)
        .filter(Q(kraamzorg_organisation_id=organisation_id) | Exists(cared))
        .filter(Q(first_born_at__isnull=False) | Q(placenta_plus_2h_at__isnull=False))
        .filter(
            Q(kraamzorg_ended_on__gte=today)
            | Q(
                kraamzorg_ended_on__isnull=True,
                postnatal_ended_on__isnull=True,
                placenta_plus_2h_at__gte=horizon,
            )
            | Q(
                kraamzorg_ended_on__isnull=True,
                postnatal_ended_on__isnull=True,
                placenta_plus_2h_at__isnull=True,
                first_born_at__gte=horizon,
            )
        )
    )
    hours = kraamzorg_hours_by_episode(episode_ids=[e.pk for e in episodes])
    for episode in episodes:
        born = getattr(episode, "first_born_at", None) or episode.placenta_at or episode.placenta_plus_2h_at
        episode.birth_on = timezone.localdate(born)  # type: ignore[attr-defined]
        episode.maternity_day = (today - episode.birth_on).days + 1  # type: ignore[attr-defined]
        logged = hours.get(episode.pk, Decimal("0"))
        episode.kraamzorg_hours = logged  # type: ignore[attr-defined]
        indicated = episode.kraamzorg_indicated_hours
        episode.indication_reached = indicated is not None and 0 < indicated <= logged  # type: ignore[attr-defined]
    # The newest mothers first: the first days need the most care.
    episodes.sort(key=lambda e: (e.maternity_day, e.client.family_name))  # type: ignore[attr-defined]
    return episodes


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


def severe_morbidity_codes(episode: Episode) -> list[str]:
    """The LEMMoN criteria of the outcomes form: the codes met, ["none"] for none, [] when not recorded."""
    if episode.severe_morbidity is None:
        return []
    return list(episode.severe_morbidity) or [LEMMON_NONE]


def severe_morbidity_labels(episode: Episode) -> list[str]:
    """The LEMMoN criteria she met, in words, for the outcomes card (empty: none met, or not recorded)."""
    return [str(LemmonCriterion(c).label) for c in episode.severe_morbidity or []]
