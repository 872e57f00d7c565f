"""A demo installation: two IGOs, insurers, and a user for every role. Safe to run more than once."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from billing import batches
from billing import services as billing_services
from billing.models import (
    BatchLine,
    BatchReturn,
    BatchStatus,
    ClaimBatch,
    ClaimLine,
    Contract,
    ReturnSource,
    ReturnStatus,
)
from igo import services as igo_services
from igo.models import Insurer, InsurerApiToken, InsurerMembership, Membership, Role, Tenant, User
from igo.tenancy import tenant_scope
from pregnancies import services
from pregnancies.catalogue import catalogue_seed
from pregnancies.models import Client, Episode, EventType
from providers.models import Discipline, MemberOrganisation, OrganisationKind, Professional

DEMO_PASSWORD = "demo-igo-2026"  # noqa: S105 - printed demo login, never used in production

TENANTS = [
    ("igo-rijnmond", "IGO Rijnmond Geboortezorg", "53000011"),
    ("igo-brabant-oost", "Geboortezorg Brabant-Oost", "53000022"),
]
# UZOVI codes are reference data; these are the public codes of four large insurers.
ZK, VGZ, MENZIS, CZ = "3311", "7095", "3332", "9664"
INSURERS = [(ZK, "Zilveren Kruis"), (VGZ, "VGZ"), (MENZIS, "Menzis"), (CZ, "CZ")]
PEOPLE = {
    "igo-rijnmond": [
        ("admin@rijnmond.demo", "Anke de Vries", Role.IGO_ADMIN),
        ("finance@rijnmond.demo", "Bram Jansen", Role.IGO_FINANCE),
        ("verloskundige@rijnmond.demo", "Carla Bakker", Role.MIDWIFE),
        ("gynaecoloog@rijnmond.demo", "Dirk Visser", Role.GYNAECOLOGIST),
        ("kraamzorg@rijnmond.demo", "Eva Smit", Role.MATERNITY_CARER),
    ],
    "igo-brabant-oost": [
        ("admin@brabant.demo", "Femke van Dijk", Role.IGO_ADMIN),
        ("finance@brabant.demo", "Gert Mulder", Role.IGO_FINANCE),
        ("verloskundige@brabant.demo", "Hanna de Boer", Role.MIDWIFE),
        ("gynaecoloog@brabant.demo", "Ivo Peters", Role.GYNAECOLOGIST),
        ("kraamzorg@brabant.demo", "Joke Hendriks", Role.MATERNITY_CARER),
    ],
}
INSURER_USERS = [
    ("declaraties@zk.demo", "Karin Zilver", ZK),
    ("declaraties@vgz.demo", "Lucas Groen", VGZ),
]
OPERATOR = ("operator@platform.demo", "Maarten Beheer")
# One person who works in both IGOs: shows the switcher.
SHARED = ("verloskundige.regio@demo.nl", "Nora Willems", Role.MIDWIFE)


ORGS = {
    "igo-rijnmond": [
        ("Verloskundigenpraktijk De Maas", OrganisationKind.MIDWIFERY_PRACTICE, "02000101"),
        ("Maasziekenhuis, afdeling verloskunde", OrganisationKind.HOSPITAL, "06000102"),
        ("Kraamzorg Rijnmond", OrganisationKind.KRAAMZORG, "01000103"),
    ],
    "igo-brabant-oost": [
        ("Verloskundigen Peel en Maas", OrganisationKind.MIDWIFERY_PRACTICE, "02000201"),
        ("Ziekenhuis Oost-Brabant", OrganisationKind.HOSPITAL, "06000202"),
        ("Kraamzorg De Peel", OrganisationKind.KRAAMZORG, "01000203"),
    ],
}
# The demo is made relative to the day it runs, and tells the same story on any day: last month's batches
# (Zilveren Kruis and VGZ) released, this month's (Zilveren Kruis and CZ) drafts. A claim line belongs to the
# month it was made in (billing.batches: created before the next month's midnight), and the seed dates the
# lines of care that ended before this month back to last month, as the run every 15 minutes would have made
# them (`_date_history_lines`). So this month's drafts must come from care that surely ends this month, even
# at 00:30 on the 1st: an episode that ends today. Care whose month depends on the day (a birth two or ten
# days ago) is insured with Zilveren Kruis only, which has a batch in both months.
# Demo clients: given names, family name, date of birth, BSN (passes the eleven-test), insurer (UZOVI), weeks
# pregnant today (41: gave birth two days ago, in kraamzorg now).
CLIENTS = [
    ("Sanne", "de Jong", date(1993, 3, 14), "111222333", CZ, 12),
    ("Lotte", "Bos", date(1990, 11, 2), "123456782", VGZ, 24),
    ("Fatima", "El Amrani", date(1996, 6, 30), "100000009", MENZIS, 36),
    ("Emma", "Vermeulen", date(1988, 1, 21), "100000010", ZK, 41),
]
# Pregnancies after the birth, for the claim batches: given names, family name, date of birth, BSN (passes
# the eleven-test), insurer (UZOVI), and when the birth was: a positive number is days before the first of
# this month, a negative one days before today. Care ends six weeks after the birth: with 50+ days before
# the first it ended last month or before (last month's batches); Roos gave birth ten days ago and is in
# kraamzorg; Julia's six weeks end today, so her postnatal phase is claimed in this month's batch.
HISTORY = [
    ("Anouk", "Visser", date(1991, 5, 3), "203456786", ZK, 75),
    ("Iris", "Smit", date(1994, 8, 19), "304567899", ZK, 66),
    ("Noor", "Dekker", date(1989, 2, 7), "405678915", ZK, 58),
    ("Femke", "Mulder", date(1992, 12, 1), "506789123", VGZ, 50),
    ("Roos", "Hendriks", date(1995, 4, 25), "607891233", ZK, -10),
    ("Julia", "Meijer", date(1990, 7, 9), "708912345", ZK, -42),
]
POSTNATAL_DAYS = 42
# A client transferred out of the region today, at 30 weeks: the contract bills the prenatal phase in full
# (its partial rule for a transfer), ending today, so CZ has a line in this month's batch on any day.
TRANSFERRED = ("Yara", "Koster", date(1997, 9, 12), "809123459", CZ, 30)
DEMO_KEY_NAME = "Demo-koppeling"


def _user(email: str, name: str, **extra: Any) -> User:
    user, created = User.objects.get_or_create(email=email, defaults={"full_name": name, **extra})
    if created:
        user.set_password(DEMO_PASSWORD)
        user.save()
    return user


class Command(BaseCommand):
    help = "Create demo IGOs, insurers and users for every role, and print the logins."

    @transaction.atomic
    def handle(self, *args: Any, **options: Any) -> None:
        tenants = {}
        for slug, name, agb in TENANTS:
            tenants[slug], _ = Tenant.objects.get_or_create(
                slug=slug, defaults={"name": name, "agb_code": agb}
            )
        insurers = {}
        for code, name in INSURERS:
            insurers[code], _ = Insurer.objects.get_or_create(uzovi_code=code, defaults={"name": name})
        rows: list[tuple[str, str, str]] = []
        for slug, people in PEOPLE.items():
            for email, name, role in people:
                Membership.unscoped.get_or_create(tenant=tenants[slug], user=_user(email, name), role=role)
                rows.append((email, str(role.label), tenants[slug].name))
        shared = _user(SHARED[0], SHARED[1])
        for tenant in tenants.values():
            Membership.unscoped.get_or_create(tenant=tenant, user=shared, role=SHARED[2])
        rows.append((SHARED[0], str(Role(SHARED[2]).label), " + ".join(t.name for t in tenants.values())))
        for email, name, code in INSURER_USERS:
            InsurerMembership.objects.get_or_create(user=_user(email, name), insurer=insurers[code])
            rows.append((email, "Insurer", insurers[code].name))
        _user(OPERATOR[0], OPERATOR[1], is_staff=True, is_superuser=True)
        rows.append((OPERATOR[0], "Platform operator", "—"))

        zk_user = User.objects.get(email=INSURER_USERS[0][0])
        # One moment for the whole run: every date of the story is relative to it, so that a run that takes
        # a few seconds tells one story even when it starts just before midnight.
        now = timezone.now()
        batch_rows: list[str] = []
        for n, (slug, tenant) in enumerate(tenants.items()):
            staff: dict[str, User] = {role: User.objects.get(email=email) for email, _n, role in PEOPLE[slug]}
            seed_care(tenant, staff, shared, insurers, now=now)
            seed_history(tenant, staff, insurers, now=now)
            seed_transferred(tenant, staff, insurers, now=now)
            seed_billing(tenant, staff[Role.IGO_FINANCE], insurers, now=now)
            seed_quality(tenant, staff, insurers, now=now)
            batch_rows += seed_batches(
                tenant,
                staff[Role.IGO_FINANCE],
                answer_as=zk_user if n == 0 else None,
                insurer=insurers[ZK],
                now=now,
            )
        key, key_note = seed_insurer_key(zk_user, insurers[ZK])

        out = self.stdout
        out.write(self.style.SUCCESS(f"Demo data ready. Open {settings.SITE_URL}/ and sign in with:"))
        width = max(len(r[0]) for r in rows)
        for email, label, where in rows:
            out.write(f"  {email.ljust(width)}  {label:<18} {where}")
        out.write(f"  password for every demo user: {DEMO_PASSWORD}")
        out.write(
            "  Administrators, finance, insurer users and the operator set up two-factor authentication (TOTP)\n"
            "  at their first sign-in; any authenticator app works."
        )
        out.write("Claim batches:")
        for row in batch_rows:
            out.write(f"  {row}")
        out.write(f"Insurer API key of {INSURER_USERS[0][0]} ({insurers[ZK].name}): {key or key_note}")
        if key:
            out.write(
                "  This is a DEMO key, printed for trying the insurer API (Authorization: Bearer <key>) on this\n"
                "  demo installation only; anyone who reads this output can use it. Revoke it under API keys in\n"
                "  the insurer portal."
            )


DEMO_TARIFFS = {  # per insurer: (prenatal, natal, postnatal) in euros; demo figures around the NZa average
    ZK: ("1210.00", "905.00", "1480.00"),
    VGZ: ("1195.00", "920.00", "1465.00"),
    MENZIS: ("1230.00", "890.00", "1500.00"),
    CZ: ("1205.00", "910.00", "1490.00"),
}


def seed_billing(tenant: Tenant, admin: User, insurers: dict[str, Insurer], *, now: datetime) -> None:
    """Contracts with every insurer and this year's split rule, then a billing run (once per tenant)."""
    today = timezone.localdate(now)
    with tenant_scope(tenant):
        if Contract.objects.exists():
            return
        year = today.year
        for code, insurer in insurers.items():
            pre, nat, post = (Decimal(x) for x in DEMO_TARIFFS[code])
            billing_services.contract_create(
                tenant=tenant,
                actor=admin,
                insurer=insurer,
                name=f"{insurer.name} {year - 1}–{year}",
                valid_from=date(year - 1, 1, 1),
                overhead_pct=Decimal("4.50"),
                reserve_pct=Decimal("1.50"),
                tariffs={
                    "prenatal": ("DEMO-PRE", pre),
                    "natal": ("DEMO-NAT", nat),
                    "postnatal": ("DEMO-POST", post),
                },
                partial_rules=[
                    {
                        "end_reason": "miscarriage",
                        "before_week": 16,
                        "phases": ["prenatal"],
                        "percentage": 50,
                    },
                    {"end_reason": "transferred_out", "phases": ["prenatal"], "percentage": 100},
                ],
            )
        orgs = {o.kind: o for o in MemberOrganisation.objects.all()}
        types = {t.code: t.pk for t in EventType.objects.all()}
        practice, hospital, kraam = (
            orgs[OrganisationKind.MIDWIFERY_PRACTICE],
            orgs[OrganisationKind.HOSPITAL],
            orgs[OrganisationKind.KRAAMZORG],
        )
        for rule_year in (year - 1, year):
            billing_services.split_rule_create(
                tenant=tenant,
                actor=admin,
                year=rule_year,
                note="Demo verdeelmodel",
                phases={
                    "prenatal": {"method": "care", "minimums": {kraam.pk: 5}},
                    "natal": {"method": "fixed", "shares": {practice.pk: 55, hospital.pk: 35, kraam.pk: 10}},
                    "postnatal": {"method": "care", "minimums": {practice.pk: 15}},
                },
                rates={
                    types[c]: Decimal(r)
                    for c, r in [
                        ("INTAKE", "80"),
                        ("PRE_CHECK", "45"),
                        ("ECHO_TERM", "90"),
                        ("ECHO_NT", "90"),
                        ("ECHO_SEO", "130"),
                        ("ECHO_GROWTH", "90"),
                        ("REFERRAL", "150"),
                        ("KZ_INTAKE", "60"),
                        ("POST_VISIT", "55"),
                        ("CHECK_6W", "60"),
                        ("KZ_HOURS", "38"),
                        ("HOSP_DAY", "400"),
                    ]
                },
            )
        billing_services.billing_run(tenant=tenant, today=today)


def seed_care(
    tenant: Tenant, users: dict[str, User], shared: User, insurers: dict[str, Insurer], *, now: datetime
) -> None:
    """Member organisations, professionals, and a few clients with logged care (once per tenant)."""
    catalogue_seed(tenant=tenant)
    orgs = {}
    for name, kind, agb in ORGS[tenant.slug]:
        orgs[kind], _ = MemberOrganisation.unscoped.get_or_create(
            tenant=tenant,
            agb_code=agb,
            defaults={"name": name, "kind": kind, "member_from": date(2023, 1, 1)},
        )
    profs = {}
    for role, discipline, kind, big in [
        (Role.MIDWIFE, Discipline.MIDWIFE, OrganisationKind.MIDWIFERY_PRACTICE, "19000000101"),
        (Role.GYNAECOLOGIST, Discipline.GYNAECOLOGIST, OrganisationKind.HOSPITAL, "19000000102"),
        (Role.MATERNITY_CARER, Discipline.MATERNITY_CARER, OrganisationKind.KRAAMZORG, ""),
    ]:
        user = users[role]
        profs[role], _ = Professional.unscoped.get_or_create(
            tenant=tenant,
            user=user,
            defaults={
                "full_name": user.full_name,
                "discipline": discipline,
                "organisation": orgs[kind],
                "big_number": big,
            },
        )
    Professional.unscoped.get_or_create(
        tenant=tenant,
        user=shared,
        defaults={
            "full_name": shared.full_name,
            "discipline": Discipline.MIDWIFE,
            "organisation": orgs[OrganisationKind.MIDWIFERY_PRACTICE],
            "big_number": "19000000199",
        },
    )
    if Client.unscoped.filter(tenant=tenant).exists():
        return
    midwife, carer = users[Role.MIDWIFE], users[Role.MATERNITY_CARER]
    today = timezone.localdate(now)
    with tenant_scope(tenant):
        types = {t.code: t for t in EventType.objects.all()}
        for i, (given, family, born, bsn, uzovi, weeks) in enumerate(CLIENTS):
            intake = today - timedelta(weeks=weeks - 8)
            client = services.client_create(
                tenant=tenant,
                actor=midwife,
                family_name=family,
                given_names=given,
                date_of_birth=born,
                bsn=bsn,
                postcode=f"{3011 + i} AB",
                insurer=insurers[uzovi],
                policy_number=f"{tenant.pk}{i:08d}",
                insured_from=intake,
            )
            episode = services.episode_create(
                tenant=tenant,
                actor=midwife,
                client=client,
                intake_date=intake,
                due_date=intake + timedelta(days=280 - 8 * 7),
                coordinating_professional=profs[Role.MIDWIFE],
            )
            moment = timezone.make_aware(datetime.combine(intake, datetime.min.time())) + timedelta(hours=10)
            services.care_event_log(
                actor=midwife, episode=episode, event_type=types["INTAKE"], occurred_at=moment
            )
            for week in range(10, weeks, 4):
                services.care_event_log(
                    actor=midwife,
                    episode=episode,
                    event_type=types["PRE_CHECK"],
                    occurred_at=moment + timedelta(weeks=week - 8),
                )
            if weeks >= 41:  # Emma gave birth two days ago: kraamzorg is running
                labour = now - timedelta(days=2, hours=8)
                services.episode_set_key_dates(
                    episode=episode,
                    actor=midwife,
                    labour_started_at=labour,
                    placenta_plus_2h_at=labour + timedelta(hours=7),
                )
                services.birth_record(
                    episode=episode,
                    actor=midwife,
                    child_number=1,
                    born_at=labour + timedelta(hours=4),
                    outcome="live",
                    place="home",
                    mode="spontaneous",
                    weight_grams=3450,
                )
                services.care_event_log(
                    actor=midwife,
                    episode=episode,
                    event_type=types["DELIV_HOME"],
                    occurred_at=labour + timedelta(hours=4),
                )
                services.care_event_log(
                    actor=carer,
                    episode=episode,
                    event_type=types["PARTUS_ASSIST"],
                    occurred_at=labour + timedelta(hours=3),
                    quantity=Decimal("3"),
                )
                for day in (1, 2):
                    services.care_event_log(
                        actor=carer,
                        episode=episode,
                        event_type=types["KZ_HOURS"],
                        occurred_at=labour + timedelta(days=day),
                        quantity=Decimal("6"),
                    )


def _care_logger(types: dict[str, EventType]) -> Callable[..., None]:
    """log(episode, actor, event code, moment, quantity="1"): care logged as the professional would."""

    def log(episode: Episode, actor: User, code: str, at: datetime, quantity: str = "1") -> None:
        services.care_event_log(
            actor=actor, episode=episode, event_type=types[code], occurred_at=at, quantity=Decimal(quantity)
        )

    return log


def seed_history(
    tenant: Tenant, users: dict[str, User], insurers: dict[str, Insurer], *, now: datetime
) -> None:
    """Pregnancies after the birth (each once per tenant, so that a demo made by an older seed gets the ones
    added since), so that the claim batches have lines in two months."""
    midwife, carer = users[Role.MIDWIFE], users[Role.MATERNITY_CARER]
    today = timezone.localdate(now)
    this_month = today.replace(day=1)
    seeded = set(Client.unscoped.filter(tenant=tenant).values_list("bsn", flat=True))
    with tenant_scope(tenant):
        log = _care_logger({t.code: t for t in EventType.objects.all()})
        for i, (given, family, born, bsn, uzovi, days) in enumerate(HISTORY):
            if bsn in seeded:
                continue
            birth_day = this_month - timedelta(days=days) if days > 0 else today + timedelta(days=days)
            intake = birth_day - timedelta(weeks=32)  # at 8 weeks, a birth at 40 weeks
            client = services.client_create(
                tenant=tenant,
                actor=midwife,
                family_name=family,
                given_names=given,
                date_of_birth=born,
                bsn=bsn,
                postcode=f"{3031 + i} CD",
                insurer=insurers[uzovi],
                policy_number=f"{tenant.pk}9{i:07d}",
                insured_from=intake - timedelta(days=365),
            )
            episode = services.episode_create(
                tenant=tenant,
                actor=midwife,
                client=client,
                intake_date=intake,
                due_date=birth_day,
                coordinating_professional=Professional.objects.get(user=midwife),
            )
            start = timezone.make_aware(datetime.combine(intake, time(10)))
            log(episode, midwife, "INTAKE", start)
            log(episode, midwife, "ECHO_SEO", start + timedelta(weeks=12))
            for week in range(4, 32, 4):
                log(episode, midwife, "PRE_CHECK", start + timedelta(weeks=week))
            labour = timezone.make_aware(datetime.combine(birth_day, time(3, 30)))
            services.episode_set_key_dates(
                episode=episode,
                actor=midwife,
                labour_started_at=labour,
                placenta_plus_2h_at=labour + timedelta(hours=7),
            )
            log(episode, carer, "PARTUS_ASSIST", labour + timedelta(hours=3), "3")
            log(episode, midwife, "DELIV_HOME", labour + timedelta(hours=4))
            services.birth_record(
                episode=episode,
                actor=midwife,
                child_number=1,
                born_at=labour + timedelta(hours=4),
                outcome="live",
                place="clinical" if i == 2 else "home",
                mode="caesarean" if i == 2 else "spontaneous",
                weight_grams=2380 if i == 3 else 3200 + 90 * i,  # one low birth weight for the dashboard
            )
            for day in range(1, 8):
                log(episode, carer, "KZ_HOURS", labour + timedelta(days=day, hours=6), "6")
            log(episode, midwife, "POST_VISIT", labour + timedelta(days=2, hours=8))
            care_ends = birth_day + timedelta(days=POSTNATAL_DAYS)
            if care_ends > today:  # still in postnatal care
                continue
            log(episode, midwife, "CHECK_6W", labour + timedelta(days=POSTNATAL_DAYS - 1, hours=8))
            services.episode_set_key_dates(
                episode=episode,
                actor=midwife,
                kraamzorg_ended_on=birth_day + timedelta(days=8),
                postnatal_ended_on=care_ends,
            )
            services.episode_end(episode=episode, actor=midwife, end_date=care_ends, end_reason="completed")


def seed_transferred(
    tenant: Tenant, users: dict[str, User], insurers: dict[str, Insurer], *, now: datetime
) -> None:
    """The pregnancy transferred out of the region today (once per tenant): care logged until this week,
    and the episode ended today, so its claim is made today whatever the time."""
    given, family, born, bsn, uzovi, weeks = TRANSFERRED
    if Client.unscoped.filter(tenant=tenant, bsn=bsn).exists():
        return
    midwife = users[Role.MIDWIFE]
    today = timezone.localdate(now)
    intake = today - timedelta(weeks=weeks - 8)
    with tenant_scope(tenant):
        log = _care_logger({t.code: t for t in EventType.objects.all()})
        client = services.client_create(
            tenant=tenant,
            actor=midwife,
            family_name=family,
            given_names=given,
            date_of_birth=born,
            bsn=bsn,
            postcode="3051 EF",
            insurer=insurers[uzovi],
            policy_number=f"{tenant.pk}80000000",
            insured_from=intake - timedelta(days=365),
        )
        episode = services.episode_create(
            tenant=tenant,
            actor=midwife,
            client=client,
            intake_date=intake,
            due_date=intake + timedelta(weeks=32),
            coordinating_professional=Professional.objects.get(user=midwife),
        )
        start = timezone.make_aware(datetime.combine(intake, time(10)))
        log(episode, midwife, "INTAKE", start)
        log(episode, midwife, "ECHO_SEO", start + timedelta(weeks=12))
        for week in range(4, weeks - 8, 4):
            log(episode, midwife, "PRE_CHECK", start + timedelta(weeks=week))
        # The last check, before the hand-over: at 10:00 three days ago (this week, and surely in the past).
        last_check = timezone.make_aware(datetime.combine(today - timedelta(days=3), time(10)))
        log(episode, midwife, "PRE_CHECK", last_check)
        services.episode_end(episode=episode, actor=midwife, end_date=today, end_reason="transferred_out")


def seed_quality(
    tenant: Tenant, users: dict[str, User], insurers: dict[str, Insurer], *, now: datetime
) -> None:
    """Outcomes and questionnaires of the completed pregnancies, quality agreements with Zilveren Kruis
    for this year, and the indicators computed (all once per tenant; the refresh is safe to repeat)."""
    from billing import quality_claims
    from billing.models import QualityAgreement
    from quality import services as quality_services
    from quality.models import ExperienceResponse

    midwife, admin = users[Role.MIDWIFE], users[Role.IGO_ADMIN]
    today = timezone.localdate(now)
    with tenant_scope(tenant):
        history = Episode.objects.filter(client__bsn__in=[h[3] for h in HISTORY]).order_by("intake_date")
        for i, episode in enumerate(history):
            if episode.blood_loss_ml is None and episode.labour_started_at is not None:
                services.episode_set_outcomes(
                    episode=episode,
                    actor=midwife,
                    blood_loss_ml=(1150 if i == 1 else 300 + 60 * i),  # one severe haemorrhage
                    kraamzorg_indicated_hours=49,
                )
            ended = episode.postnatal_ended_on
            if (
                ended
                and ended + timedelta(days=3) <= today
                and not ExperienceResponse.objects.filter(episode=episode).exists()
            ):
                quality_services.experience_record(
                    episode=episode,
                    actor=admin,
                    answered_on=ended + timedelta(days=3),
                    overall=9 - i % 2,
                    informed=5 - i % 2,
                    same_team=4,
                    recommend=9,
                )
        contract = Contract.objects.filter(insurer=insurers[ZK]).order_by("-valid_from").first()
        if contract is not None and not QualityAgreement.objects.filter(year=today.year).exists():
            for indicator, target, bonus, malus in (
                ("caesarean", Decimal("15.0"), Decimal("1.00"), Decimal("1.00")),
                ("continuity", Decimal("70.0"), Decimal("0.50"), Decimal("0")),
            ):
                quality_claims.agreement_create(
                    contract=contract,
                    actor=users[Role.IGO_FINANCE],
                    indicator=indicator,
                    year=today.year,
                    target=target,
                    bonus_pct=bonus,
                    malus_pct=malus,
                )
        quality_services.indicators_refresh(tenant=tenant, full=True)


def _date_history_lines(tenant: Tenant, this_month: date) -> None:
    """The billing run of this demo makes every claim line today. In a real IGO the run every 15 minutes
    made each line soon after its phase ended, so the lines of care that ended before this month belong to
    last month's batch. Date those lines (not yet in a batch) to the day after their phase ended, as the
    run would have; an unscoped update, as it touches only the demo tenant's own rows."""
    first = timezone.make_aware(datetime.combine(this_month, time.min))
    lines = ClaimLine.unscoped.filter(
        tenant=tenant, batch_line__isnull=True, created_at__gte=first, service_end__lt=this_month
    )
    for line in lines:
        made = timezone.make_aware(datetime.combine(line.service_end + timedelta(days=1), time(9)))
        ClaimLine.unscoped.filter(pk=line.pk).update(created_at=min(made, first - timedelta(hours=1)))


def seed_batches(
    tenant: Tenant, finance: User, *, answer_as: User | None, insurer: Insurer, now: datetime
) -> list[str]:
    """Last month's batches (released) and this month's (drafts, for review); when `answer_as` is given,
    that insurer user answers last month's batch of `insurer`: every line accepted but one, rejected with
    code 0101, which puts a rejection in the IGO's work queue. Safe to repeat: batch_create returns the
    existing batch of a month, a released batch is not released again, a batch is answered once."""
    today = timezone.localdate(now)
    this_month = today.replace(day=1)
    previous = (this_month - timedelta(days=1)).replace(day=1)
    with tenant_scope(tenant):
        billing_services.billing_run(tenant=tenant, today=today)  # bills history added after an earlier seed
        _date_history_lines(tenant, this_month)
        batches.batches_create_month(tenant=tenant, period=previous, actor=finance, today=today)
        batches.batches_create_month(tenant=tenant, period=this_month, actor=finance, today=today)
        for draft in ClaimBatch.objects.filter(period__lt=this_month, status=BatchStatus.DRAFT):
            batches.batch_release(batch=draft, actor=finance)
        answered = ClaimBatch.objects.filter(
            insurer=insurer, period=previous, status=BatchStatus.RELEASED
        ).first()
        if (
            answer_as is not None
            and answered is not None
            and not BatchReturn.objects.filter(batch=answered).exists()
        ):
            rows = list(BatchLine.objects.filter(batch=answered).order_by("line_no"))
            if len(rows) >= 2:
                entries = [batches.ReturnEntry(r.number, ReturnStatus.ACCEPTED) for r in rows[:-1]]
                entries.append(
                    batches.ReturnEntry(
                        rows[-1].number,
                        ReturnStatus.REJECTED,
                        "0101",
                        "BSN niet gevonden in de verzekerdenadministratie.",
                    )
                )
                batches.batch_return_record(
                    batch=answered, entries=entries, user=answer_as, source=ReturnSource.PORTAL
                )
        summary = []
        for batch in ClaimBatch.objects.select_related("insurer").order_by("period", "number"):
            answers = BatchReturn.objects.filter(batch=batch)
            answered_text = "".join(
                f", answered: {a.accepted} accepted, {a.rejected} rejected" for a in answers
            )
            summary.append(
                f"{tenant.name}: batch {batch.number}, {batch.insurer.name}, {batch.period:%m-%Y}, "
                f"{batch.line_count} lines, {batch.get_status_display()}{answered_text}"
            )
        return summary


def seed_insurer_key(user: User, insurer: Insurer) -> tuple[str | None, str]:
    """One demo API key for the insurer user: (the key, None) when this run made it. Only its hash is
    stored, so later runs keep it (no second key) and can only say when it was made."""
    existing = (
        InsurerApiToken.objects.filter(insurer=insurer, created_by=user, name=DEMO_KEY_NAME)
        .order_by("-created_at")
        .first()
    )
    if existing is not None and existing.is_usable():
        return None, (
            f"the demo key made on {timezone.localtime(existing.created_at):%d-%m-%Y} (prefix "
            f"{existing.prefix}) was printed then and is not stored; make another in the insurer portal"
        )
    _token, key = igo_services.insurer_token_create(user=user, insurer=insurer, name=DEMO_KEY_NAME, days=90)
    return key, ""
