"""The national-year dataset of bench/national.py: generator and bulk loader (PostgreSQL COPY).

A year of ten IGOs ending at the end of last month: intakes spread over the year and the nine months before
it, so that on any day there are pregnancies in every stage; realistic end reasons; insurer changes on
1 January; ~35 care events per episode with a long tail; births and line transfers for the quality
indicators. Every episode is stored as it stood at the end of last month (the "snapshot"): a story that goes
on after it is cut there (a pregnancy due next month is still prenatal and active).

The small set-up (organisations, professionals, contracts, split rules) goes through the ORM and the billing
services; the big tables (clients, insurances, episodes, line transfers, births, care events) are written
with COPY from tuples, the care events by two forked processes.
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import random
import time
import traceback
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from datetime import time as dtime
from decimal import Decimal
from typing import Any, NamedTuple

from bench.billing_run import BillingPlan
from bench.care_logging import aware, between, bsn_generate, event_codes, pick_professional, windows
from bench.common import (
    FAMILY,
    GIVEN,
    INSURER_WEIGHTS,
    ORG_LAYOUT,
    BulkInsert,
    contract_create,
    insurers_get,
    maxrss_kb,
    members_create,
    shares_draw,
    split_rules_create,
    team_draw,
    tenant_sizes,
    vacuum_analyze,
)

SLUG_PREFIX = "bench-national-"
EVENTS_PER_EPISODE = 35
# End reasons of registered pregnancies (shares of all episodes); the rest give birth. Miscarriage ~12%
# (mostly before 16 weeks), termination ~2.5%, moving away / transfer out of the region ~3.5%.
ENDINGS = [
    ("miscarriage", 0.12),
    ("termination", 0.025),
    ("moved_away", 0.02),
    ("transferred_out", 0.015),
    ("death", 0.0001),
]
SWITCH_SHARE = 0.06  # clients who change insurer on 1 January
# Per insurer: tariffs (prenatal, natal, postnatal) and whether it bills a termination before 24 weeks at
# 75% of the prenatal tariff (the bench's other rules for an early ending: bench.common.partial_rules). The
# split rule itself is per IGO and year (billing.SplitRule has no insurer): "split rules per insurer" is
# expressed by these contracts. The IGO's overhead and reserve are its own, in its split rules: those of the
# first contract when they still sat on the contracts.
CONTRACT_TERMS = [
    (("1205.00", "895.00", "1495.00"), True),
    (("1190.00", "880.00", "1480.00"), False),
    (("1235.00", "910.00", "1540.00"), True),
    (("1220.00", "900.00", "1510.00"), False),
]
IGO_OVERHEAD, IGO_RESERVE = Decimal("5.00"), Decimal("2.00")
TERMINATION_BY_24_WEEKS = [
    {"end_reason": "termination", "phase": "prenatal", "until_week": 24, "percentage": 75},
    {"end_reason": "termination", "phase": "prenatal", "from_week": 24, "percentage": 100},
]
# A larger IGO has more staff: (episodes per year per unit, at least 1 unit) scales common.STAFF_BY_KIND.
STAFF_UNIT_EPISODES = 4000


class Team(NamedTuple):
    pk: int
    organisation_id: int
    user_id: int


@dataclass
class NationalPlan(BillingPlan):
    client: int = 0  # client id (assigned before COPY)
    episode: int = 0  # episode id
    tenant: int = 0
    born_at: datetime | None = None
    mode: str = ""
    preterm: bool = False
    changed_at: datetime | None = None


# --- the year's stories -------------------------------------------------------------------------


def plan_story(rng: random.Random, intake: date, snapshot: datetime, last: date) -> NationalPlan:
    """One pregnancy from its intake, cut at the snapshot (the end of last month)."""
    from django.utils import timezone

    g_in = rng.randint(6 * 7, 12 * 7) if rng.random() < 0.93 else rng.randint(12 * 7, 24 * 7)
    plan = NationalPlan(intake=intake, gestational_age_at_intake=g_in)
    ending = shares_draw(rng, ENDINGS, "birth")
    if ending != "birth":
        if ending == "miscarriage":  # ~80% before 16 weeks
            g_end = rng.randint(7 * 7, 16 * 7 - 1) if rng.random() < 0.8 else rng.randint(16 * 7, 22 * 7)
        elif ending == "termination":
            g_end = rng.randint(7 * 7, 13 * 7) if rng.random() < 0.85 else rng.randint(13 * 7, 23 * 7)
        else:
            g_end = rng.randint(10 * 7, 39 * 7)
        g_end = max(g_end, g_in + rng.randint(3, 21))
        end = intake + timedelta(days=g_end - g_in)
        plan.kind = ending
        if end <= last:
            plan.end_date, plan.end_reason = end, ending
            plan.weight = 0.55 * min(1.0, (g_end - g_in) / (280 - g_in))
            plan.changed_at = aware(end, dtime(rng.randint(9, 17), rng.randint(0, 59)))
        else:  # still pregnant at the snapshot
            _prenatal_now(plan, rng, snapshot, last)
        return plan
    if rng.random() < 0.06:  # preterm
        plan.preterm, g_birth = True, rng.randint(26 * 7, 37 * 7 - 1)
    else:
        g_birth = rng.randint(37 * 7, 41 * 7 + 6)
    g_birth = max(g_birth, g_in + 14)
    labour = aware(intake + timedelta(days=g_birth - g_in), dtime(rng.randint(0, 23), rng.randint(0, 59)))
    placenta_2h = labour + timedelta(hours=rng.randint(4, 22), minutes=rng.randint(0, 59))
    plan.kind = "completed"
    if placenta_2h >= snapshot:  # not yet in labour at the snapshot
        _prenatal_now(plan, rng, snapshot, last)
        return plan
    plan.labour, plan.placenta_2h = labour, placenta_2h
    plan.twins = rng.random() < 0.015
    plan.mode = rng.choices(["spontaneous", "assisted", "caesarean"], [75, 9, 16])[0]
    if plan.mode == "caesarean" or plan.preterm:
        plan.birth_place = "clinical"
    else:
        plan.birth_place = rng.choices(["home", "birth_centre", "polyclinic", "clinical"], [13, 10, 30, 47])[
            0
        ]
    plan.born_at = placenta_2h - timedelta(hours=2, minutes=rng.randint(5, 50))
    if plan.born_at <= labour:
        plan.born_at = labour + (placenta_2h - labour) / 2
    if plan.birth_place in {"polyclinic", "clinical"}:
        plan.admitted = labour + timedelta(hours=1)
        discharged = placenta_2h + timedelta(hours=rng.choice([3, 6, 26, 50, 98]))
        plan.discharged = discharged if discharged < snapshot else None
    birth_day = timezone.localdate(placenta_2h)
    if birth_day + timedelta(days=8) <= last:
        plan.kraamzorg_end = birth_day + timedelta(days=8)
    if birth_day + timedelta(days=42) <= last:
        plan.postnatal_end = plan.end_date = birth_day + timedelta(days=42)
        plan.end_reason = "completed"
        plan.changed_at = aware(plan.end_date, dtime(rng.randint(9, 17), rng.randint(0, 59)))
        post = 1.0
    else:
        post = (last - birth_day).days / 42
        plan.changed_at = snapshot - timedelta(hours=rng.randint(1, 72))
        plan.kind = "in postnatal care"
    plan.weight = 0.6 + 0.4 * post
    if rng.random() < 0.22:
        plan.second_line_at = between(rng, aware(intake, dtime(9)), labour)
    return plan


def _prenatal_now(plan: NationalPlan, rng: random.Random, snapshot: datetime, last: date) -> None:
    """Still pregnant at the snapshot: only the care up to now, the last contact in the last weeks."""
    g_now = plan.gestational_age_at_intake + (last - plan.intake).days
    plan.kind = "active"
    plan.weight = max(0.03, 0.55 * min(1.0, (g_now - plan.gestational_age_at_intake) / 240))
    plan.changed_at = snapshot - timedelta(hours=rng.randint(1, 24 * 20))
    if plan.changed_at < aware(plan.intake, dtime(10)):
        plan.changed_at = aware(plan.intake, dtime(10))
    if rng.random() < 0.15:
        plan.second_line_at = between(rng, aware(plan.intake, dtime(9)), snapshot - timedelta(hours=1))


def plan_year(
    n: int, rng: random.Random, year_start: date, last: date, snapshot: datetime
) -> list[NationalPlan]:
    """n pregnancies in care at some moment of the year: intakes from 9.5 months before it to its end."""
    first_intake = year_start - timedelta(days=290)
    span = (last - first_intake).days
    plans: list[NationalPlan] = []
    while len(plans) < n:
        intake = first_intake + timedelta(days=rng.randint(0, span - 1))
        plan = plan_story(rng, intake, snapshot, last)
        if plan.end_date is not None and plan.end_date < year_start:
            continue  # ended before the year: not part of it
        plans.append(plan)
    return plans


def allocate_long_tail(plans: Sequence[NationalPlan], total: int, rng: random.Random) -> None:
    """Spread `total` events: lognormal around the plan's weight, 4% complicated cases at ~3x (a tail of
    100+ events, a few hundred at most); at least one event (the intake) each."""
    for plan in plans:
        complicated = 3.0 if rng.random() < 0.04 else 1.0
        plan.weight *= rng.lognormvariate(0, 0.45) * complicated
    scale = total / sum(p.weight for p in plans)
    for plan in plans:
        # A birth has at least the delivery, a postnatal visit and some prenatal care (every phase has
        # care to divide by); any episode at least its intake.
        plan.n_events = max(8 if plan.placenta_2h else 1, round(plan.weight * scale))


# --- the care events as tuples -----------------------------------------------------------------

EVENT_COLUMNS = (
    "tenant_id", "episode_id", "event_type_id", "occurred_at", "quantity", "phase", "professional_id",
    "organisation_id", "location", "note", "status", "change_reason", "voided_at", "voided_by_id",
    "created_by_id", "created_at",
)  # fmt: skip
LOCATIONS = ["", "", "thuis", "praktijk"]
NOTES = ["", "", "", "", "", "", "", "", "Bloeddruk gecontroleerd.", "Cliënte voelt zich goed."]
ONE = Decimal(1)


class TypeInfo(NamedTuple):
    pk: int
    phase: str
    disciplines: list[str]


def event_rows(
    plan: NationalPlan, types: dict[str, TypeInfo], rng: random.Random, snapshot: datetime
) -> list[tuple[Any, ...]]:
    """The care events of one episode as COPY rows (as care_logging.episode_events, without model
    instances): each in its phase, by a team member whose discipline may log the type, kraamzorg hours
    within the 80-hour maximum, ~1% voided."""
    rows: list[tuple[Any, ...]] = []
    spans = windows(plan, snapshot)
    by_phase: dict[str, list[str]] = {}
    for phase, code in event_codes(plan, rng):
        by_phase.setdefault(phase, []).append(code)
    hours = Decimal(0)
    tenant = plan.tenant
    episode = plan.episode
    for phase, codes in by_phase.items():
        start, end = spans[phase]
        moments = sorted(between(rng, start, end) for _ in codes)
        for code, moment in zip(codes, moments, strict=True):
            quantity = ONE
            if code in ("KZ_HOURS", "PARTUS_ASSIST"):
                quantity = Decimal(rng.randint(4, 24)) / 4
                if hours + quantity > 80:
                    code, quantity = ("POST_VISIT" if phase == "postnatal" else "REFERRAL"), ONE
                else:
                    hours += quantity
            et = types[code]
            prof = pick_professional(plan, et.disciplines, rng)
            created = min(moment + timedelta(minutes=rng.randint(5, 240)), snapshot)
            if rng.random() < 0.01 and plan.n_events > 3:  # never the only care of a short episode
                rows.append(
                    (tenant, episode, et.pk, moment, quantity, phase, prof.pk, prof.organisation_id,
                     rng.choice(LOCATIONS), rng.choice(NOTES), "voided", "Dubbel ingevoerd",
                     min(moment + timedelta(hours=1), snapshot), prof.user_id, prof.user_id, created)
                )  # fmt: skip
            else:
                rows.append(
                    (tenant, episode, et.pk, moment, quantity, phase, prof.pk, prof.organisation_id,
                     rng.choice(LOCATIONS), rng.choice(NOTES), "active", "", None, None, prof.user_id, created)
                )  # fmt: skip
    return rows


# --- COPY --------------------------------------------------------------------------------------


@dataclass
class CopyFigures:
    rows: Counter[str]
    seconds: Counter[str]  # wall time per table: building the rows and COPY together


def copy_rows(table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> int:
    """COPY the rows into the table on Django's connection (inside the caller's transaction).

    A NOT NULL column the rows leave out gets its model field's default: Django keeps defaults in Python,
    not in the database, so a field added later (e.g. the Kernset fields of the episode) would otherwise
    break the load."""
    from django.db import connection

    fill = _defaults_left_out(table, columns)
    names = [*columns, *fill]
    extra = tuple(fill.values())
    n = 0
    sql = f"COPY {table} ({', '.join(names)}) FROM STDIN"
    with connection.cursor() as cur, cur.cursor.copy(sql) as copy:
        for row in rows:
            copy.write_row((*row, *extra) if extra else row)
            n += 1
    return n


def _defaults_left_out(table: str, columns: Sequence[str]) -> dict[str, Any]:
    from django.apps import apps

    model = next((m for m in apps.get_models() if m._meta.db_table == table), None)
    if model is None:
        return {}
    given = set(columns)
    return {
        f.column: f.get_default()
        for f in model._meta.concrete_fields
        if f.column not in given
        and not f.null
        and not f.primary_key
        and (f.has_default() or f.empty_strings_allowed)
    }


def _events_child(
    plans: list[NationalPlan],
    types: dict[int, dict[str, TypeInfo]],
    seed: int,
    snapshot: datetime,
    results: Any,
) -> None:
    from django.db import DatabaseError, connection, connections, transaction

    connections.close_all()
    try:
        rng = random.Random(seed)
        started = time.perf_counter()
        build = 0.0
        n = 0
        with transaction.atomic():
            # A bulk load: the foreign keys are checked once, set-based, after the load (fk_verify) instead
            # of one trigger call per row and key (7 per event). Needs a superuser; otherwise per row.
            replica = False
            with contextlib.suppress(DatabaseError), transaction.atomic():
                connection.cursor().execute("SET LOCAL session_replication_role = replica")
                replica = True
            sql = f"COPY pregnancies_careevent ({', '.join(EVENT_COLUMNS)}) FROM STDIN"
            with connection.cursor() as cur, cur.cursor.copy(sql) as copy:
                for plan in plans:
                    b0 = time.perf_counter()
                    rows = event_rows(plan, types[plan.tenant], rng, snapshot)
                    build += time.perf_counter() - b0
                    for row in rows:
                        copy.write_row(row)
                    n += len(rows)
            copied = time.perf_counter() - started
        results.put(("ok", (n, time.perf_counter() - started, build, copied, maxrss_kb(), replica)))
    except BaseException:
        results.put(("error", traceback.format_exc()))
    finally:
        connections.close_all()


def copy_events_parallel(
    plans: list[NationalPlan],
    types: dict[int, dict[str, TypeInfo]],
    seed: int,
    snapshot: datetime,
    workers: int,
) -> list[tuple[Any, ...]]:
    """Generate and COPY the care events in `workers` forked processes (episodes dealt round-robin by
    size, so the processes get the same amount of work); each commits its own transaction."""
    from django.db import connections

    connections.close_all()
    ctx = mp.get_context("fork")
    results = ctx.Queue()
    order = sorted(plans, key=lambda p: -p.n_events)
    parts = [order[w::workers] for w in range(workers)]
    procs = [
        ctx.Process(target=_events_child, args=(part, types, seed + w, snapshot, results))
        for w, part in enumerate(parts)
    ]
    for proc in procs:
        proc.start()
    out = []
    for _ in procs:
        kind, value = results.get()
        if kind == "error":
            for proc in procs:
                proc.kill()
            raise RuntimeError(f"event loader failed:\n{value}")
        out.append(value)
    for proc in procs:
        proc.join()
    return out


def fk_verify(table: str) -> dict[str, int]:
    """Rows of the table whose foreign keys point nowhere, per key (each one anti-join)."""
    from django.db import connection

    out = {}
    with connection.cursor() as cur:
        cur.execute(
            """SELECT a.attname, cl.relname, fa.attname FROM pg_constraint c
               JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1]
               JOIN pg_class cl ON cl.oid = c.confrelid
               JOIN pg_attribute fa ON fa.attrelid = c.confrelid AND fa.attnum = c.confkey[1]
               WHERE c.contype = 'f' AND c.conrelid = %s::regclass""",
            [table],
        )
        for column, parent, key in cur.fetchall():
            cur.execute(
                f"SELECT count(*) FROM {table} x WHERE x.{column} IS NOT NULL AND NOT EXISTS "  # noqa: S608
                f"(SELECT 1 FROM {parent} p WHERE p.{key} = x.{column})"
            )
            out[column] = cur.fetchone()[0]
    return out


def _set_sequences(tables: Iterable[str]) -> None:
    from django.db import connection

    with connection.cursor() as cur:
        for table in tables:
            cur.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "  # noqa: S608 - our table names
                f"coalesce((SELECT max(id) FROM {table}), 1))"
            )


def _next_id(table: str) -> int:
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute(f"SELECT coalesce(max(id), 0) + 1 FROM {table}")  # noqa: S608
        return int(cur.fetchone()[0])


# --- the load -----------------------------------------------------------------------------------


def load(*, episodes: int, tenants: int, seed: int, snapshot_day: date, workers: int = 2) -> dict[str, Any]:
    """Generate and store the national year. snapshot_day: the first day of this month (the year ends the
    day before). Returns figures: rows and seconds per table, the kinds of episodes, peak memory."""
    from django.db import transaction

    from igo.models import Tenant
    from igo.tenancy import tenant_scope
    from pregnancies.catalogue import catalogue_seed
    from pregnancies.models import EventType

    rng = random.Random(seed)
    last = snapshot_day - timedelta(days=1)
    year_start = date(last.year - 1, last.month, 1) + timedelta(days=32)
    year_start = year_start.replace(day=1)
    snapshot = aware(snapshot_day)
    jan1 = date(last.year, 1, 1) if last.month < 12 else date(last.year + 1, 1, 1)
    if not year_start < jan1 <= last:
        jan1 = date(last.year, 1, 1)
    rows: Counter[str] = Counter()
    seconds: dict[str, float] = defaultdict(float)
    t0 = time.perf_counter()

    # 1. Stories, sizes, events per episode.
    plans = plan_year(episodes, rng, year_start, last, snapshot)
    allocate_long_tail(plans, episodes * EVENTS_PER_EPISODE, rng)
    sizes = tenant_sizes(episodes, tenants, rng)
    seconds["planning (Python)"] = time.perf_counter() - t0

    # 2. Set-up per IGO with the ORM and the billing services (small).
    t1 = time.perf_counter()
    bulk = BulkInsert(batch_size=None)  # small: one INSERT per table
    with transaction.atomic():
        insurers = insurers_get()
        setups: list[dict[str, Any]] = []
        for t in range(1, tenants + 1):
            tenant = Tenant.objects.create(  # one finance user per IGO makes and releases: no four eyes
                name=f"Nationale IGO {t:02d}",
                slug=f"{SLUG_PREFIX}{t:02d}",
                agb_code=f"5397{t:04d}",
                batch_four_eyes=False,
            )
            catalogue_seed(tenant=tenant)
            types = {
                et.code: TypeInfo(et.pk, et.phase, list(et.disciplines))
                for et in EventType.unscoped.filter(tenant=tenant)
            }
            layout = ORG_LAYOUT[rng.randint(3, 6)]
            members = members_create(
                bulk,
                rng,
                tenant,
                layout,
                name_suffix=f" ({t:02d})",
                agb_infix=f"97{t:02d}",
                member_from=date(2020, 1, 1),
                units=max(1, round(sizes[t - 1] / STAFF_UNIT_EPISODES)),
                email=f"{{d}}-{t:02d}-{{i:04d}}@bench-national.invalid",
                agb=f"{{org}}{t:02d}{{i:04d}}",
                big=f"18{t:02d}{{i:07d}}",
                finance_email=f"finance-{t:02d}@bench-national.invalid",
            )
            staff: dict[tuple[int, str], list[Team]] = defaultdict(list)
            for prof in members.professionals:
                staff[(prof.organisation_id, prof.discipline)].append(
                    Team(prof.pk, prof.organisation_id, prof.user_id or 0)
                )
            with tenant_scope(tenant):
                for k, insurer in enumerate(insurers):
                    (pre, nat, post), termination = CONTRACT_TERMS[k]
                    contract_create(
                        tenant=tenant,
                        actor=members.finance,
                        insurer=insurer,
                        valid_from=date(year_start.year - 1, 1, 1),
                        tariffs=(Decimal(pre), Decimal(nat), Decimal(post)),
                        more_partial_rules=TERMINATION_BY_24_WEEKS if termination else [],
                    )
                split_rules_create(
                    tenant=tenant,
                    members=members,
                    years=range(year_start.year - 1, last.year + 1),
                    types=types,
                    overhead=IGO_OVERHEAD,
                    reserve=IGO_RESERVE,
                )
            setups.append(
                {
                    "tenant": tenant.pk,
                    "types": types,
                    "practices": [o.pk for o in members.practices],
                    "hospital": members.hospital.pk,
                    "kraamzorg": members.kraamzorg.pk,
                    "staff": staff,
                    "gynaecologists": [m for (o, d), ms in staff.items() if d == "gynaecologist" for m in ms],
                }
            )
    seconds["set-up (ORM, services)"] = time.perf_counter() - t1

    # 3. Team, tenant and ids per episode.
    rng.shuffle(plans)
    client_id, episode_id = _next_id("pregnancies_client"), _next_id("pregnancies_episode")
    i = 0
    for setup, size in zip(setups, sizes, strict=True):
        staff = setup["staff"]
        for plan in plans[i : i + size]:
            plan.tenant = setup["tenant"]
            plan.team = team_draw(
                rng,
                staff,
                practices=setup["practices"],
                hospital=setup["hospital"],
                kraamzorg=setup["kraamzorg"],
                gynaecologists=setup["gynaecologists"],
            )
            plan.client, plan.episode = client_id, episode_id
            client_id += 1
            episode_id += 1
        i += size

    # 4. The big tables with COPY (one transaction), then the care events in two processes.
    used_bsn: set[str] = set()
    kinds = Counter(p.kind for p in plans)
    with transaction.atomic():
        tick = time.perf_counter()
        rows["clients"] = copy_rows(
            "pregnancies_client",
            ("id", "tenant_id", "family_name", "given_names", "date_of_birth", "bsn", "postcode", "address", "city",
             "phone", "gp_name", "created_at"),
            (
                (
                    p.client, p.tenant, rng.choice(FAMILY), rng.choice(GIVEN),
                    p.intake - timedelta(days=rng.randint(18 * 365, 44 * 365)), bsn_generate(rng, used_bsn),
                    f"{1000 + p.client % 8900:04d}{rng.choice('ABCDEFGHJK')}{rng.choice('ABCDEFGHJK')}",
                    "", "", "", "", aware(p.intake, dtime(9)),
                )
                for p in plans
            ),
        )  # fmt: skip
        seconds["clients"] = time.perf_counter() - tick

        tick = time.perf_counter()
        insurance: list[tuple[Any, ...]] = []
        switched = 0
        for p in plans:
            insurer = rng.choices(insurers, INSURER_WEIGHTS)[0]
            policy = f"{rng.randint(10**8, 10**9 - 1)}"
            since = min(p.intake, jan1) - timedelta(days=rng.randint(30, 3000))
            if rng.random() < SWITCH_SHARE:  # a new insurer from 1 January
                switched += 1
                insurance.append((p.tenant, p.client, insurer.pk, policy, since, jan1 - timedelta(days=1)))
                insurer = rng.choice([x for x in insurers if x != insurer])
                policy, since = f"{rng.randint(10**8, 10**9 - 1)}", jan1
            insurance.append((p.tenant, p.client, insurer.pk, policy, since, None))
        rows["insurances"] = copy_rows(
            "pregnancies_clientinsurance",
            ("tenant_id", "client_id", "insurer_id", "policy_number", "valid_from", "valid_until"),
            insurance,
        )
        seconds["insurances"] = time.perf_counter() - tick
        del insurance

        tick = time.perf_counter()
        rows["episodes"] = copy_rows(
            "pregnancies_episode",
            (
                "id", "tenant_id", "client_id", "intake_date", "due_date", "gestational_age_at_intake", "parity",
                "gravida", "dating_method", "coordinating_professional_id", "status", "end_date", "end_reason", "labour_started_at",
                "placenta_plus_2h_at", "hospital_admitted_at", "hospital_discharged_at", "kraamzorg_ended_on",
                "postnatal_ended_on", "blood_loss_ml", "kraamzorg_indicated_hours", "created_at", "changed_at",
            ),
            (
                (
                    p.episode, p.tenant, p.client, p.intake,
                    p.intake + timedelta(days=280 - p.gestational_age_at_intake), p.gestational_age_at_intake,
                    (parity := rng.choices([0, 1, 2, 3, 4], [42, 35, 15, 5, 3])[0]), parity + 1, "due_date",
                    p.team["midwife"][0].pk,
                    "ended" if p.end_date else "active", p.end_date, p.end_reason, p.labour, p.placenta_2h,
                    p.admitted, p.discharged, p.kraamzorg_end, p.postnatal_end,
                    (int(rng.lognormvariate(5.9, 0.45)) if p.placenta_2h else None),
                    (49 if p.placenta_2h and rng.random() < 0.7 else (45 if p.placenta_2h else None)),
                    aware(p.intake, dtime(9)), p.changed_at,
                )
                for p in plans
            ),
        )  # fmt: skip
        seconds["episodes"] = time.perf_counter() - tick

        tick = time.perf_counter()

        def transfers() -> Iterable[tuple[Any, ...]]:
            for p in plans:
                user = p.team["midwife"][0].user_id
                yield (p.tenant, p.episode, "first", aware(p.intake, dtime(9)), "", user)
                if p.second_line_at is not None:
                    yield (p.tenant, p.episode, "second", p.second_line_at, "Medische indicatie", user)

        rows["line transfers"] = copy_rows(
            "pregnancies_linetransfer",
            ("tenant_id", "episode_id", "line", "effective_at", "reason", "created_by_id"),
            transfers(),
        )
        seconds["line transfers"] = time.perf_counter() - tick

        tick = time.perf_counter()

        def births() -> Iterable[tuple[Any, ...]]:
            for p in plans:
                if p.born_at is None:
                    continue
                for child in range(1, 3 if p.twins else 2):
                    mean = 2300 if p.preterm else (2500 if p.twins else 3450)
                    weight = max(450, min(6000, int(rng.gauss(mean, 480))))
                    stillborn = rng.random() < 0.004
                    yield (
                        p.tenant, p.episode, child, p.born_at + timedelta(minutes=12 * (child - 1)),
                        "stillborn" if stillborn else "live", p.birth_place, p.mode, weight,
                        (not stillborn) and rng.random() < (0.45 if p.preterm else 0.015), None,
                    )  # fmt: skip

        rows["births"] = copy_rows(
            "pregnancies_birth",
            ("tenant_id", "episode_id", "child_number", "born_at", "outcome", "place", "mode", "weight_grams",
             "nicu_admission", "neonatal_death_on"),
            births(),
        )  # fmt: skip
        seconds["births"] = time.perf_counter() - tick
        _set_sequences(["pregnancies_client", "pregnancies_episode"])

    types_by_tenant = {s["tenant"]: s["types"] for s in setups}
    tick = time.perf_counter()
    children = copy_events_parallel(plans, types_by_tenant, seed, snapshot, workers)
    seconds["care events"] = time.perf_counter() - tick
    rows["care events"] = sum(c[0] for c in children)
    fk: dict[str, int] = {}
    if any(c[5] for c in children):
        tick = time.perf_counter()
        fk = fk_verify("pregnancies_careevent")
        seconds["care events: foreign keys checked"] = time.perf_counter() - tick
        if any(fk.values()):
            raise RuntimeError(f"care events with dangling foreign keys: {fk}")
    load_s = time.perf_counter() - t0

    tick = time.perf_counter()
    vacuum_analyze()
    analyze_s = time.perf_counter() - tick
    return {
        "rows": dict(rows),
        "seconds": dict(seconds),
        "load_s": load_s,
        "analyze_s": analyze_s,
        "kinds": dict(kinds),
        "switched": switched,
        "sizes": sizes,
        "event_children": children,
        "fk_checked": fk,
        "maxrss_kb": maxrss_kb(),
        "year": (year_start.isoformat(), last.isoformat()),
    }


__all__ = ["SLUG_PREFIX", "load"]
