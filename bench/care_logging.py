"""Benchmark of care logging: the episode timeline page and the logging POST, on PostgreSQL.

Issue requirement: with 3,000 episodes and 120,000 events in one tenant on PostgreSQL, the episode
timeline and the logging POST answer in well under 100 ms at the median, with a number of SQL
queries that does not grow with the number of events.

This script prints figures; it does not assert timings. It uses its own database (default
`igo_bench`), creates it when missing, migrates it, loads the data once and reuses it afterwards.

    .venv/bin/python bench/care_logging.py            # load if needed, then measure
    .venv/bin/python bench/care_logging.py --fresh    # drop and recreate the benchmark database first

See bench/README.md for the options and the latest figures.
"""

from __future__ import annotations

if not __package__:  # run as `python bench/care_logging.py`: the project root is not on sys.path yet
    import common  # noqa: F401

import argparse
import random
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from datetime import time as dtime
from decimal import Decimal
from typing import Any

from bench.common import (
    FAMILY,
    GIVEN,
    ORGANISATIONS,
    BulkInsert,
    argument_parser,
    database_prepare,
    database_url,
    environment,
    insurers_get,
    percentile,
    signed_in,
    vacuum_analyze,
)

DEFAULT_DATABASE_URL = "postgres://root@127.0.0.1:5432/igo_bench"

TENANT_SLUG = "bench-igo"
TENANT_NAME = "Benchmark IGO"
TENANT_AGB = "53990001"

# The benchmark marks the events it logs through the POST with this location, so it can remove them.
BENCH_LOCATION = "bench-post"


# --- command line and database ---------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argument_parser(__doc__)
    parser.add_argument("--requests", "-n", type=int, default=200, help="requests per scenario (200)")
    parser.add_argument("--episodes", type=int, default=3000, help="episodes to generate (3000)")
    parser.add_argument("--events", type=int, default=120_000, help="care events to generate (120000)")
    parser.add_argument("--seed", type=int, default=20261123, help="random seed for data and requests")
    parser.add_argument(
        "--show-queries", action="store_true", help="print the SQL of one GET and one POST (profiling)"
    )
    return parser.parse_args(argv)


# --- data generation ---------------------------------------------------------------------------

# discipline, role, organisation index, how many
STAFF = [
    ("midwife", "midwife", 0, 6),
    ("midwife", "midwife", 1, 5),
    ("midwife", "midwife", 2, 5),
    ("clinical_midwife", "midwife", 3, 2),
    ("gynaecologist", "gynaecologist", 3, 3),
    ("gynaecologist", "gynaecologist", 4, 3),
    ("maternity_carer", "maternity_carer", 5, 16),
]
BIG = {"midwife", "clinical_midwife", "gynaecologist"}


def bsn_generate(rng: random.Random, used: set[str]) -> str:
    """A random BSN that passes the eleven-test: 9*d1 + 8*d2 + ... + 2*d8 - d9 is divisible by 11."""
    while True:
        digits = [rng.randint(1, 9)] + [rng.randint(0, 9) for _ in range(7)]
        check = sum(d * w for d, w in zip(digits, range(9, 1, -1), strict=True)) % 11
        if check == 10:  # no single check digit fits: draw again
            continue
        bsn = "".join(map(str, digits)) + str(check)
        if bsn not in used:
            used.add(bsn)
            return bsn


@dataclass
class Plan:
    """One episode's story before it is stored."""

    intake: date
    gestational_age_at_intake: int
    labour: datetime | None = None
    placenta_2h: datetime | None = None
    admitted: datetime | None = None
    discharged: datetime | None = None
    kraamzorg_end: date | None = None
    postnatal_end: date | None = None
    end_date: date | None = None
    end_reason: str = ""
    birth_place: str = "home"
    twins: bool = False
    second_line_at: datetime | None = None
    weight: float = 1.0
    n_events: int = 0
    team: dict[str, Any] = field(default_factory=dict)

    def as_episode(self, *, tenant: Any, client: Any, parity: int, coordinator: Any) -> Any:
        """The Episode of this story (not saved): its key dates, ended when the story ends."""
        from pregnancies.models import Episode  # after django.setup()

        return Episode(
            tenant=tenant,
            client=client,
            intake_date=self.intake,
            due_date=self.intake + timedelta(days=280 - self.gestational_age_at_intake),
            gestational_age_at_intake=self.gestational_age_at_intake,
            parity=parity,
            coordinating_professional=coordinator,
            status="ended" if self.end_date else "active",
            end_date=self.end_date,
            end_reason=self.end_reason,
            labour_started_at=self.labour,
            placenta_plus_2h_at=self.placenta_2h,
            hospital_admitted_at=self.admitted,
            hospital_discharged_at=self.discharged,
            kraamzorg_ended_on=self.kraamzorg_end,
            postnatal_ended_on=self.postnatal_end,
        )


def aware(day: date, at: dtime = dtime.min) -> datetime:
    from django.utils import timezone

    # In UTC: adding a timedelta to a zoneinfo datetime is wall-clock arithmetic (off by an hour over DST).
    return timezone.make_aware(datetime.combine(day, at)).astimezone(UTC)


def between(rng: random.Random, start: datetime, end: datetime) -> datetime:
    if end <= start:
        return start
    return start + (end - start) * rng.random()


def plan_episode(rng: random.Random, now: datetime, today: date) -> Plan:
    """Key dates: about 75% have given birth (labour and placenta + 2 h in the past)."""
    from django.utils import timezone

    g_in = rng.randint(6 * 7, 12 * 7)
    draw = rng.random()
    if draw < 0.23:  # still pregnant
        g_now = rng.randint(g_in + 2, 41 * 7)
        plan = Plan(intake=today - timedelta(days=g_now - g_in), gestational_age_at_intake=g_in)
        progress = (g_now - g_in) / (280 - g_in)
        plan.weight = max(0.1, min(1.0, progress))
        return plan
    if draw < 0.25:  # miscarriage: ended in the prenatal phase
        plan = Plan(intake=today - timedelta(days=rng.randint(30, 330)), gestational_age_at_intake=g_in)
        plan.end_date = min(plan.intake + timedelta(days=rng.randint(7, 60)), today - timedelta(days=1))
        plan.end_reason = "miscarriage"
        plan.weight = 0.25
        return plan
    g_birth = rng.randint(37 * 7, 42 * 7)
    labour = now - timedelta(days=rng.randint(1, 330), hours=rng.randint(2, 20), minutes=rng.randint(0, 59))
    intake = timezone.localdate(labour - timedelta(days=g_birth - g_in))
    plan = Plan(intake=intake, gestational_age_at_intake=g_in, labour=labour)
    plan.placenta_2h = labour + timedelta(hours=rng.randint(4, 22), minutes=rng.randint(0, 59))
    plan.birth_place = rng.choices(["home", "birth_centre", "polyclinic", "clinical"], [15, 10, 35, 40])[0]
    plan.twins = rng.random() < 0.015
    if plan.birth_place in {"polyclinic", "clinical"}:
        plan.admitted = labour + timedelta(hours=1)
        discharge = plan.placenta_2h + timedelta(hours=rng.choice([3, 6, 26, 50]))
        plan.discharged = discharge if discharge < now else None
    birth_day = timezone.localdate(plan.placenta_2h)
    if birth_day + timedelta(days=8) <= today:
        plan.kraamzorg_end = birth_day + timedelta(days=8)
    if birth_day + timedelta(days=42) <= today:
        plan.postnatal_end = birth_day + timedelta(days=42)
        plan.end_date = plan.postnatal_end
        plan.end_reason = "completed"
    if rng.random() < 0.2:
        plan.second_line_at = between(rng, aware(intake, dtime(9)), labour)
    return plan


def allocate(plans: list[Plan], total: int, rng: random.Random) -> None:
    """Spread `total` events over the episodes: about 40 each, with a long tail of 100+."""
    for plan in plans:
        complex_case = 3.2 if rng.random() < 0.04 else 1.0
        plan.weight *= rng.lognormvariate(0, 0.4) * complex_case
    scale = total / sum(p.weight for p in plans)
    for plan in plans:
        plan.n_events = max(1, round(plan.weight * scale))
    diff = total - sum(p.n_events for p in plans)
    while diff != 0:
        plan = rng.choice(plans)
        if diff > 0:
            plan.n_events += 1
            diff -= 1
        elif plan.n_events > 2:
            plan.n_events -= 1
            diff += 1


PRENATAL_FIRST = ["INTAKE", "ECHO_TERM", "ECHO_SEO", "KZ_INTAKE"]
PRENATAL_MORE = (["PRE_CHECK", "ECHO_GROWTH", "REFERRAL", "ECHO_NT"], [76, 14, 8, 2])
DELIVERY = {
    "home": "DELIV_HOME",
    "birth_centre": "DELIV_CENTRE",
    "polyclinic": "DELIV_POLI",
    "clinical": "DELIV_CLIN",
}
NOTES = ["", "", "", "", "", "", "", "", "Bloeddruk gecontroleerd.", "Cliënte voelt zich goed."]


def event_codes(plan: Plan, rng: random.Random) -> list[tuple[str, str]]:
    """(phase, event-type code) for the episode's events, in time order within each phase."""
    n = plan.n_events
    if plan.labour is None or n <= 1:
        n_pre, n_nat, n_post = n, 0, 0
    else:
        n_nat = 1 if n < 8 else (2 if n < 60 else 3)
        n_post = round((n - n_nat) * rng.uniform(0.3, 0.5)) if plan.placenta_2h else 0
        n_pre = n - n_nat - n_post
    pre = PRENATAL_FIRST[:n_pre] + rng.choices(*PRENATAL_MORE, k=max(0, n_pre - len(PRENATAL_FIRST)))
    nat = [DELIVERY[plan.birth_place]] + ["PARTUS_ASSIST"] * (n_nat - 1)
    post: list[str] = []
    if n_post:
        fixed = ["POST_VISIT"] + (["CHECK_6W"] if plan.postnatal_end else [])
        hosp = ["HOSP_DAY"] if plan.admitted else []
        post = fixed[:n_post]
        more = (["KZ_HOURS", "POST_VISIT", *hosp], [70, 25] + [5] * len(hosp))
        post += rng.choices(*more, k=n_post - len(post))
    return (
        [("prenatal", c) for c in pre]
        + [("natal", c) for c in nat[:n_nat]]
        + [("postnatal", c) for c in post]
    )


def windows(plan: Plan, now: datetime) -> dict[str, tuple[datetime, datetime]]:
    """The time span of each phase in which events of this episode may lie."""
    latest = now - timedelta(minutes=15)
    if plan.end_date and plan.labour is None:
        latest = min(latest, aware(plan.end_date, dtime(17)))
    spans = {"prenatal": (aware(plan.intake, dtime(8)), latest if plan.labour is None else plan.labour)}
    if plan.labour and plan.placenta_2h:
        spans["prenatal"] = (spans["prenatal"][0], plan.labour - timedelta(minutes=30))
        spans["natal"] = (plan.labour + timedelta(minutes=5), plan.placenta_2h - timedelta(minutes=5))
        post_end = latest if plan.postnatal_end is None else min(latest, aware(plan.postnatal_end, dtime(17)))
        spans["postnatal"] = (plan.placenta_2h + timedelta(minutes=10), post_end)
    return spans


def episode_events(
    *, tenant: Any, episode: Any, plan: Any, types: dict[str, Any], rng: random.Random, now: Any
) -> list[Any]:
    """The care events of one generated episode: each in its phase, by a professional whose discipline
    may log the type, kraamzorg hours within the 80-hour maximum (LIP), about 1% voided."""
    from pregnancies.models import CareEvent  # after django.setup()

    events: list[Any] = []
    spans = windows(plan, now)
    by_phase: dict[str, list[str]] = {}
    for phase, code in event_codes(plan, rng):
        by_phase.setdefault(phase, []).append(code)
    kraamzorg_hours = Decimal("0")  # stays within the 80-hour maximum (LIP)
    for phase, codes in by_phase.items():
        start, end = spans[phase]
        moments = sorted(between(rng, start, end) for _ in codes)
        for code, moment in zip(codes, moments, strict=True):
            quantity = Decimal("1")
            if code in ("KZ_HOURS", "PARTUS_ASSIST"):
                quantity = Decimal(rng.randint(4, 24)) / 4
                if kraamzorg_hours + quantity > 80:
                    code, quantity = (
                        ("POST_VISIT" if phase == "postnatal" else "REFERRAL"),
                        Decimal(1),
                    )
                else:
                    kraamzorg_hours += quantity
            event_type = types[code]
            if episode.phase_at(moment) != phase or event_type.phase not in ("", phase):
                raise RuntimeError(f"generator bug: {code} at {moment} is not in {phase}")
            prof = pick_professional(plan, event_type.disciplines, rng)
            voided = rng.random() < 0.01
            events.append(
                CareEvent(
                    tenant=tenant,
                    episode_id=episode.pk,
                    event_type_id=event_type.pk,
                    occurred_at=moment,
                    quantity=quantity,
                    phase=phase,
                    professional_id=prof.pk,
                    organisation_id=prof.organisation_id,
                    location=rng.choice(["", "", "thuis", "praktijk"]),
                    note=rng.choice(NOTES),
                    status="voided" if voided else "active",
                    change_reason="Dubbel ingevoerd" if voided else "",
                    voided_at=min(moment + timedelta(hours=1), now) if voided else None,
                    voided_by_id=prof.user_id if voided else None,
                    created_by_id=prof.user_id,
                    created_at=min(moment + timedelta(minutes=rng.randint(5, 240)), now),
                )
            )
    return events


def load(args: argparse.Namespace) -> dict[str, float]:
    """Generate the tenant and its data with bulk_create, in one transaction."""
    from django.contrib.auth.hashers import make_password
    from django.db import transaction
    from django.utils import timezone

    from igo.models import Membership, Tenant, User
    from igo.validators import bsn_is_valid
    from pregnancies.catalogue import catalogue_seed
    from pregnancies.models import (
        AccessLogEntry,
        Birth,
        CareEvent,
        Client,
        ClientInsurance,
        Episode,
        EventType,
        LineTransfer,
    )
    from providers.models import MemberOrganisation, Professional

    rng = random.Random(args.seed)
    now = timezone.now()
    today = timezone.localdate()
    bulk = BulkInsert()
    counts, insert_s = bulk.rows, bulk.seconds

    started = time.perf_counter()
    with transaction.atomic():
        tenant = Tenant.objects.create(name=TENANT_NAME, slug=TENANT_SLUG, agb_code=TENANT_AGB)
        counts["EventType"] = catalogue_seed(tenant=tenant)
        types = {t.code: t for t in EventType.unscoped.filter(tenant=tenant)}
        insurers = insurers_get()
        orgs = bulk(
            MemberOrganisation,
            [
                MemberOrganisation(
                    tenant=tenant, name=name, kind=kind, agb_code=agb, member_from=date(2020, 1, 1)
                )
                for name, kind, agb in ORGANISATIONS
            ],
        )

        # Professionals, each with a user account and a membership of the matching role.
        unusable = make_password(None)
        people: list[tuple[str, str, int, str]] = []
        for discipline, role, org_index, how_many in STAFF:
            for _ in range(how_many):
                people.append((discipline, role, org_index, f"{rng.choice(GIVEN)} {rng.choice(FAMILY)}"))
        users = bulk(
            User,
            [
                User(email=f"{d.replace('_', '-')}-{i:02d}@bench.invalid", full_name=name, password=unusable)
                for i, (d, _r, _o, name) in enumerate(people)
            ],
        )
        bulk(
            Membership,
            [Membership(tenant=tenant, user=u, role=p[1]) for u, p in zip(users, people, strict=True)],
        )
        profs = bulk(
            Professional,
            [
                Professional(
                    tenant=tenant,
                    full_name=name,
                    discipline=discipline,
                    agb_code=f"{ORGANISATIONS[org_index][2][:2]}98{i:04d}",
                    big_number=f"19{i:09d}" if discipline in BIG else "",
                    organisation=orgs[org_index],
                    user=user,
                )
                for i, ((discipline, _r, org_index, name), user) in enumerate(zip(people, users, strict=True))
            ],
        )
        by_discipline: dict[str, list[Any]] = {}
        for prof in profs:
            by_discipline.setdefault(prof.discipline, []).append(prof)

        # Clients with insurance, one episode each.
        plans = [plan_episode(rng, now, today) for _ in range(args.episodes)]
        allocate(plans, args.events, rng)
        used: set[str] = set()
        clients = []
        for i, plan in enumerate(plans):
            age = rng.randint(18 * 365, 44 * 365)
            clients.append(
                Client(
                    tenant=tenant,
                    family_name=rng.choice(FAMILY),
                    given_names=rng.choice(GIVEN),
                    date_of_birth=plan.intake - timedelta(days=age),
                    bsn=bsn_generate(rng, used),
                    postcode=f"{3000 + i % 200:04d}{rng.choice('ABCDEFGHJK')}{rng.choice('ABCDEFGHJK')}",
                )
            )
        if not all(bsn_is_valid(c.bsn) for c in clients):
            raise RuntimeError("the BSN generator made a number that fails the eleven-test")
        clients = bulk(Client, clients)
        bulk(
            ClientInsurance,
            [
                ClientInsurance(
                    tenant=tenant,
                    client=c,
                    insurer=rng.choice(insurers),
                    policy_number=f"{rng.randint(10**8, 10**9 - 1)}",
                    valid_from=p.intake - timedelta(days=rng.randint(30, 2000)),
                )
                for c, p in zip(clients, plans, strict=True)
            ],
        )
        episodes = []
        for client, plan in zip(clients, plans, strict=True):
            midwives = by_discipline["midwife"]
            plan.team = {
                "midwife": rng.choice(midwives),
                "clinical_midwife": rng.choice(by_discipline["clinical_midwife"]),
                "gynaecologist": rng.choice(by_discipline["gynaecologist"]),
                "maternity_carer": rng.sample(by_discipline["maternity_carer"], 2),
            }
            episodes.append(
                plan.as_episode(
                    tenant=tenant,
                    client=client,
                    parity=rng.choices([0, 1, 2, 3, 4], [42, 35, 15, 5, 3])[0],
                    coordinator=plan.team["midwife"],
                )
            )
        episodes = bulk(Episode, episodes)

        transfers, births = [], []
        for episode, plan in zip(episodes, plans, strict=True):
            coordinator = plan.team["midwife"].user_id
            transfers.append(
                LineTransfer(
                    tenant=tenant,
                    episode=episode,
                    line="first",
                    effective_at=aware(plan.intake),
                    reason="Bij intake",
                    created_by_id=coordinator,
                )
            )
            if plan.second_line_at:
                transfers.append(
                    LineTransfer(
                        tenant=tenant,
                        episode=episode,
                        line="second",
                        effective_at=plan.second_line_at,
                        reason="Medische indicatie",
                        created_by_id=coordinator,
                    )
                )
            if plan.labour and plan.placenta_2h:
                born = plan.placenta_2h - timedelta(hours=2, minutes=20)
                for child in range(1, 3 if plan.twins else 2):
                    births.append(
                        Birth(
                            tenant=tenant,
                            episode=episode,
                            child_number=child,
                            born_at=born + timedelta(minutes=12 * (child - 1)),
                            place=plan.birth_place,
                            mode=rng.choices(["spontaneous", "assisted", "caesarean"], [75, 10, 15])[0],
                            weight_grams=rng.randint(2400, 4400),
                        )
                    )
        bulk(LineTransfer, transfers)
        bulk(Birth, births)

        # Care events, in correct phases, by a professional whose discipline may log the type.
        events: list[Any] = []
        for episode, plan in zip(episodes, plans, strict=True):
            events.extend(
                episode_events(tenant=tenant, episode=episode, plan=plan, types=types, rng=rng, now=now)
            )
        events = bulk(CareEvent, events)
        # NEN 7513: every logged event left a 'create' entry in the access log.
        client_of = {e.pk: e.client_id for e in episodes}
        code_by_id = {t.pk: code for code, t in types.items()}
        bulk(
            AccessLogEntry,
            [
                AccessLogEntry(
                    tenant=tenant,
                    at=ev.created_at,
                    user_id=ev.created_by_id,
                    client_id=client_of[ev.episode_id],
                    action="create",
                    object_type="careevent",
                    object_id=str(ev.pk),
                    detail=code_by_id[ev.event_type_id],
                )
                for ev in events
            ],
        )
    load_s = time.perf_counter() - started
    analyze_started = time.perf_counter()
    vacuum_analyze()
    rows = sum(counts.values())
    slowest = sorted(insert_s.items(), key=lambda kv: -kv[1])[:3]
    print(
        f"  INSERTs {sum(insert_s.values()):.1f} s ("
        + ", ".join(f"{name} {counts[name]:,} rows {sec:.1f} s" for name, sec in slowest)
        + f"); building the rows in Python {load_s - sum(insert_s.values()):.1f} s"
    )
    return {"load_s": load_s, "rows": rows, "analyze_s": time.perf_counter() - analyze_started}


def pick_professional(plan: Plan, disciplines: list[str], rng: random.Random) -> Any:
    """Someone of the episode's team whose discipline may log this type (midwife first)."""
    for discipline in ("midwife", "gynaecologist", "clinical_midwife", "maternity_carer"):
        if discipline in disciplines:
            member = plan.team[discipline]
            if discipline == "midwife" and plan.second_line_at and "gynaecologist" in disciplines:
                member = plan.team["gynaecologist"] if rng.random() < 0.5 else member
            return rng.choice(member) if isinstance(member, list) else member
    raise RuntimeError(f"no team member may log a type for {disciplines}")


# --- measurement -------------------------------------------------------------------------------


@dataclass
class Result:
    name: str
    times_ms: list[float]
    statuses: dict[int, int]
    queries: list[tuple[str, int]] = field(default_factory=list)

    def row(self) -> str:
        t = self.times_ms
        q = " / ".join(f"{v}" for _label, v in self.queries) or "-"
        codes = ", ".join(f"{k}×{v}" for k, v in sorted(self.statuses.items()))
        return (
            f"{self.name:<38} {len(t):>5} {percentile(t, 50):>8.1f} {percentile(t, 95):>8.1f} "
            f"{percentile(t, 99):>8.1f} {max(t):>8.1f}   {q:<12} {codes}"
        )


def timed(
    n: int, request: Callable[[int], Any], expect: int, after: Callable[[], Any] | None = None
) -> tuple[list[float], dict[int, int]]:
    """Time n requests; `after` runs between requests, outside the measured time."""
    times: list[float] = []
    statuses: dict[int, int] = {}
    for i in range(n):
        started = time.perf_counter()
        response = request(i)
        times.append((time.perf_counter() - started) * 1000)
        if after is not None:
            after()
        statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
        if response.status_code != expect and statuses[response.status_code] == 1:
            print(f"  ! unexpected status {response.status_code}: {response.content[:600]!r}")
    return times, statuses


def count_queries(request: Callable[[], Any], *, show: str = "") -> int:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as ctx:
        request()
    if show:
        print(f"\n  SQL of {show}: {len(ctx.captured_queries)} queries")
        for i, q in enumerate(ctx.captured_queries, 1):
            sql = " ".join(q["sql"].split())
            print(f"  {i:>2}. {q['time']:>6}s  {sql[:230]}{'…' if len(sql) > 230 else ''}")
    return len(ctx.captured_queries)


def closest(counts: dict[int, int], target: int, among: Iterable[int] | None = None) -> tuple[int, int]:
    pool = list(among) if among is not None else list(counts)
    pk = min(pool, key=lambda k: (abs(counts[k] - target), k))
    return pk, counts[pk]


def post_targets(today: date) -> list[tuple[int, date]]:
    """(pk, intake date) of the episodes of the tenant in scope that a POST may log a prenatal check in:
    active, not yet in labour, intake before yesterday."""
    from pregnancies.models import Episode

    return list(
        Episode.objects.filter(
            status="active", labour_started_at__isnull=True, intake_date__lt=today - timedelta(days=1)
        ).values_list("pk", "intake_date")
    )


def posted_events_delete(tenant: Any) -> int:
    """Remove the events the benchmark logged through the POST (marked by their location); returns how many."""
    from igo.tenancy import tenant_scope
    from pregnancies.models import CareEvent

    with tenant_scope(tenant):
        return CareEvent.objects.filter(location=BENCH_LOCATION, submission_key__isnull=False).delete()[0]


def measure(args: argparse.Namespace) -> list[Result]:
    from django.db.models import Count, Q
    from django.test import Client as HttpClient
    from django.utils import timezone

    from igo.models import Tenant
    from igo.tenancy import tenant_scope
    from pregnancies.models import Episode, EventType
    from providers.models import Professional

    rng = random.Random(args.seed + 1)
    n = args.requests
    tenant = Tenant.objects.get(slug=TENANT_SLUG)
    removed = 0

    def cleanup() -> None:
        """Remove the events the POSTs logged, so every scenario sees the generated data."""
        nonlocal removed
        removed += posted_events_delete(tenant)

    cleanup()  # left over by an interrupted run
    removed = 0
    with tenant_scope(tenant):
        midwife = (
            Professional.objects.select_related("user", "organisation")
            .filter(discipline="midwife", user__isnull=False, is_active=True)
            .order_by("pk")
            .first()
        )
        assert midwife is not None
        pre_check = EventType.objects.get(code="PRE_CHECK")
        active_events = dict(
            Episode.objects.annotate(n=Count("events", filter=Q(events__status="active"))).values_list(
                "pk", "n"
            )
        )
        today = timezone.localdate()
        prenatal = post_targets(today)
    intake_of = dict(prenatal)
    episode_ids = sorted(active_events)
    small, small_n = closest(active_events, 10)
    large, large_n = closest(active_events, 100)
    biggest = max(episode_ids, key=lambda k: active_events[k])
    post_small, post_small_n = closest(active_events, 10, intake_of)
    post_large, post_large_n = closest(active_events, 100, intake_of)
    print(f"Signed in as {midwife.full_name} ({midwife.discipline}, {midwife.organisation.name})")
    print(
        f"Timeline episodes: #{small} with {small_n} events, #{large} with {large_n}, "
        f"largest #{biggest} with {active_events[biggest]}"
    )
    print(
        f"POST episodes (prenatal, {len(prenatal)} candidates): #{post_small} with {post_small_n} events, "
        f"#{post_large} with {post_large_n}"
    )

    http = HttpClient()  # host 'testserver', CSRF checks off, as in the test suite
    signed_in(http, midwife.user)
    base = f"/t/{tenant.slug}/episodes"

    def get(pk: int) -> Any:
        return http.get(f"{base}/{pk}/")

    def post(pk: int, *, htmx: bool) -> Any:
        day = intake_of[pk] + timedelta(days=rng.randint(0, (today - intake_of[pk]).days - 1))
        moment = datetime.combine(day, dtime(rng.randint(8, 17), rng.randint(0, 59)))
        data = {
            "event_type": str(pre_check.pk),
            "occurred_at": moment.strftime("%Y-%m-%dT%H:%M"),
            "quantity": "1",
            "location": BENCH_LOCATION,
            "note": "",
            "submission_key": str(uuid.uuid4()),
        }
        headers = {"HX-Request": "true"} if htmx else {}
        response = http.post(f"{base}/{pk}/events/", data, headers=headers)
        http.cookies.pop("messages", None)  # the page the browser follows to would show and clear them
        return response

    results: list[Result] = []
    for i in range(10):  # warm up: templates, translations, URL resolver, connection
        get(rng.choice(episode_ids))
        post(rng.choice(prenatal)[0], htmx=bool(i % 2))
    cleanup()

    print(f"\nMeasuring, {n} requests per scenario …")
    times, statuses = timed(n, lambda i: get(rng.choice(episode_ids)), 200)
    r = Result("GET timeline (random episodes)", times, statuses)
    r.queries = [
        (f"{small_n} ev", count_queries(lambda: get(small))),
        (f"{large_n} ev", count_queries(lambda: get(large))),
    ]
    results.append(r)
    sample = rng.sample(episode_ids, 30)
    spread = {count_queries(lambda pk=pk: get(pk)) for pk in sample}
    print(
        f"  GET query counts over 30 random episodes ({min(active_events[k] for k in sample)}–"
        f"{max(active_events[k] for k in sample)} events): {sorted(spread)}"
    )
    for label, pk, count in [
        ("~10", small, small_n),
        ("~100", large, large_n),
        ("largest", biggest, active_events[biggest]),
    ]:
        rows = get(pk).content.count(b'data-testid="event-row"')
        if rows != count:
            print(f"  ! episode #{pk}: the timeline shows {rows} rows, expected {count}")
        times, statuses = timed(max(20, n // 4), lambda i, pk=pk: get(pk), 200)
        results.append(
            Result(
                f"GET timeline, {label} ({count} events)",
                times,
                statuses,
                [(f"{count} ev", count_queries(lambda pk=pk: get(pk)))],
            )
        )

    for htmx, expect, label in [(False, 302, "POST log 302"), (True, 201, "POST log htmx 201")]:
        times, statuses = timed(n, lambda i, htmx=htmx: post(rng.choice(prenatal)[0], htmx=htmx), expect)
        r = Result(f"{label} (random episodes)", times, statuses)
        for pk, count in [(post_small, post_small_n), (post_large, post_large_n)]:
            r.queries.append((f"{count} ev", count_queries(lambda htmx=htmx, pk=pk: post(pk, htmx=htmx))))
            cleanup()
        results.append(r)
        for size, pk, count in [("~10", post_small, post_small_n), ("~100", post_large, post_large_n)]:
            # The logged event is removed after each request, so the episode keeps its size.
            times, statuses = timed(
                max(20, n // 4), lambda i, htmx=htmx, pk=pk: post(pk, htmx=htmx), expect, after=cleanup
            )
            results.append(Result(f"{label}, {size} ({count} events)", times, statuses))
        cleanup()

    if args.show_queries:
        count_queries(lambda: get(large), show=f"GET timeline #{large} ({large_n} events)")
        count_queries(lambda: post(post_large, htmx=False), show=f"POST #{post_large} (non-htmx)")
        count_queries(lambda: post(post_large, htmx=True), show=f"POST #{post_large} (htmx)")
        cleanup()
    print(f"Removed the {removed} events the POST scenarios logged (their access-log entries stay).")
    return results


# --- report ------------------------------------------------------------------------------------


def row_counts() -> dict[str, int]:
    from igo.models import Membership, Tenant, User
    from pregnancies.models import AccessLogEntry, Birth, CareEvent, Client, Episode, EventType
    from providers.models import MemberOrganisation, Professional

    tenant = Tenant.objects.get(slug=TENANT_SLUG)
    t = {"tenant": tenant}
    return {
        "member organisations": MemberOrganisation.unscoped.filter(**t).count(),
        "professionals": Professional.unscoped.filter(**t).count(),
        "users (memberships)": User.objects.filter(memberships__tenant=tenant).distinct().count(),
        "memberships": Membership.unscoped.filter(**t).count(),
        "event types": EventType.unscoped.filter(**t).count(),
        "clients": Client.unscoped.filter(**t).count(),
        "episodes": Episode.unscoped.filter(**t).count(),
        "births": Birth.unscoped.filter(**t).count(),
        "care events": CareEvent.unscoped.filter(**t).count(),
        "care events (active)": CareEvent.unscoped.filter(status="active", **t).count(),
        "access log entries": AccessLogEntry.unscoped.filter(**t).count(),
    }


def event_distribution() -> str:
    from django.db.models import Count

    from pregnancies.models import CareEvent

    per = sorted(
        CareEvent.unscoped.filter(tenant__slug=TENANT_SLUG)
        .values("episode_id")
        .annotate(n=Count("id"))
        .values_list("n", flat=True)
    )
    over_100 = sum(1 for v in per if v >= 100)
    return (
        f"events per episode: min {per[0]}, median {percentile(per, 50):.0f}, p90 {percentile(per, 90):.0f}, "
        f"p99 {percentile(per, 99):.0f}, max {per[-1]}; {over_100} episodes with 100+"
    )


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    url = database_url(
        "DATABASE_URL",
        DEFAULT_DATABASE_URL,
        script="bench/care_logging.py",
        why="the benchmark writes 250,000+ rows and --fresh drops the database",
    )
    database_prepare(url, fresh=args.fresh)
    from igo.models import Tenant

    load_figures: dict[str, float] = {}
    if Tenant.objects.filter(slug=TENANT_SLUG).exists():
        print("Benchmark data found: generation skipped (use --fresh to rebuild).")
    else:
        print(f"Generating {args.episodes:,} episodes and {args.events:,} care events …")
        load_figures = load(args)
        print(
            f"Loaded {load_figures['rows']:,.0f} rows in {load_figures['load_s']:.1f} s "
            f"({load_figures['rows'] / load_figures['load_s']:,.0f} rows/s); "
            f"VACUUM ANALYZE {load_figures['analyze_s']:.1f} s"
        )
    env = environment(url)
    counts = row_counts()
    print("\n" + "\n".join(f"{k:<16} {v}" for k, v in env.items()))
    print("Rows in the benchmark tenant: " + ", ".join(f"{k} {v:,}" for k, v in counts.items()))
    print(event_distribution())

    results = measure(args)

    print("\n=== Care logging benchmark " + "=" * 78)
    print(f"{'scenario':<38} {'n':>5} {'median':>8} {'p95':>8} {'p99':>8} {'max':>8}   queries      status")
    print(f"{'':<38} {'':>5} {'ms':>8} {'ms':>8} {'ms':>8} {'ms':>8}   (per episode size)")
    for result in results:
        print(result.row())
    print("-" * 105)
    for k, v in env.items():
        print(f"{k}: {v}")
    print(
        f"Data: {counts['episodes']:,} episodes, {counts['care events']:,} care events, "
        f"{counts['clients']:,} clients, {counts['professionals']} professionals"
    )
    if load_figures:
        print(
            f"Load: {load_figures['rows']:,.0f} rows in {load_figures['load_s']:.1f} s "
            f"({load_figures['rows'] / load_figures['load_s']:,.0f} rows/s)"
        )
    constant = all(len({v for _label, v in r.queries}) == 1 for r in results if len(r.queries) > 1)
    print(f"Query count independent of the number of events: {'yes' if constant else 'NO'}")


if __name__ == "__main__":
    main()
