"""A demo installation: two IGOs, insurers, and a user for every role. Safe to run more than once."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import transaction

from igo.models import Insurer, InsurerMembership, Membership, Role, Tenant, User

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
