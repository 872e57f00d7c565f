"""A demo installation: two IGOs, insurers, and a user for every role. Safe to run more than once."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from billing import services as billing_services
from billing.models import Contract
from igo.models import Insurer, InsurerMembership, Membership, Role, Tenant, User
from igo.tenancy import tenant_scope
from pregnancies import services
from pregnancies.catalogue import catalogue_seed
from pregnancies.models import Client, EventType
from providers.models import Discipline, MemberOrganisation, OrganisationKind, Professional

DEMO_PASSWORD = "demo-igo-2026"  # noqa: S105 - printed demo login, never used in production

TENANTS = [
    ("igo-rijnmond", "IGO Rijnmond Geboortezorg", "53000011"),
    ("igo-brabant-oost", "Geboortezorg Brabant-Oost", "53000022"),
]
# UZOVI codes are reference data; these are the public codes of four large insurers.
INSURERS = [("3311", "Zilveren Kruis"), ("7095", "VGZ"), ("3332", "Menzis"), ("9664", "CZ")]
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
    ("declaraties@zk.demo", "Karin Zilver", "3311"),
    ("declaraties@vgz.demo", "Lucas Groen", "7095"),
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
# Demo clients: given names, family name, date of birth, BSN (passes the eleven-test), weeks pregnant today
CLIENTS = [
    ("Sanne", "de Jong", date(1993, 3, 14), "111222333", 12),
    ("Lotte", "Bos", date(1990, 11, 2), "123456782", 24),
    ("Fatima", "El Amrani", date(1996, 6, 30), "100000009", 36),
    ("Emma", "Vermeulen", date(1988, 1, 21), "100000010", 41),
]


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

        for slug, tenant in tenants.items():
            staff: dict[str, User] = {role: User.objects.get(email=email) for email, _n, role in PEOPLE[slug]}
            seed_care(tenant, staff, shared, insurers)
            seed_billing(tenant, staff[Role.IGO_FINANCE], insurers)

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


DEMO_TARIFFS = {  # per insurer: (prenatal, natal, postnatal) in euros; demo figures around the NZa average
    "3311": ("1210.00", "905.00", "1480.00"),
    "7095": ("1195.00", "920.00", "1465.00"),
    "3332": ("1230.00", "890.00", "1500.00"),
    "9664": ("1205.00", "910.00", "1490.00"),
}


def seed_billing(tenant: Tenant, admin: User, insurers: dict[str, Insurer]) -> None:
    """Contracts with every insurer and this year's split rule, then a billing run (once per tenant)."""
    with tenant_scope(tenant):
        if Contract.objects.exists():
            return
        year = timezone.localdate().year
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
        billing_services.billing_run(tenant=tenant)


def seed_care(tenant: Tenant, users: dict[str, User], shared: User, insurers: dict[str, Insurer]) -> None:
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
    today = timezone.localdate()
    now = timezone.now()
    with tenant_scope(tenant):
        types = {t.code: t for t in EventType.objects.all()}
        for i, (given, family, born, bsn, weeks) in enumerate(CLIENTS):
            intake = today - timedelta(weeks=weeks - 8)
            client = services.client_create(
                tenant=tenant,
                actor=midwife,
                family_name=family,
                given_names=given,
                date_of_birth=born,
                bsn=bsn,
                postcode=f"{3011 + i} AB",
                insurer=list(insurers.values())[i % len(insurers)],
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
