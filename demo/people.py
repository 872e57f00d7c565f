"""The demo's IGOs, insurers and people: a user for every role, one midwife who works in both IGOs, insurer
users, the platform operator, and an insurer API key (the igo app)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.utils import timezone

from igo import services as igo_services
from igo.models import Insurer, InsurerApiToken, InsurerMembership, Membership, Role, Tenant, User

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
        ("controller@rijnmond.demo", "Sanne Kok", Role.IGO_FINANCE),
        ("verloskundige@rijnmond.demo", "Carla Bakker", Role.MIDWIFE),
        ("gynaecoloog@rijnmond.demo", "Dirk Visser", Role.GYNAECOLOGIST),
        ("kraamzorg@rijnmond.demo", "Eva Smit", Role.MATERNITY_CARER),
    ],
    "igo-brabant-oost": [
        ("admin@brabant.demo", "Femke van Dijk", Role.IGO_ADMIN),
        ("finance@brabant.demo", "Gert Mulder", Role.IGO_FINANCE),
        ("controller@brabant.demo", "Tom Verhoeven", Role.IGO_FINANCE),
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
DEMO_KEY_NAME = "Demo-koppeling"


@dataclass
class People:
    """What seed_people made or found, for the other seeds and for the command's list of logins."""

    tenants: dict[str, Tenant]  # by slug
    insurers: dict[str, Insurer]  # by UZOVI code
    shared: User  # the midwife who works in both IGOs
    logins: list[tuple[str, str, str]]  # (email, role, where)


def _user(email: str, name: str, **extra: Any) -> User:
    user, created = User.objects.get_or_create(email=email, defaults={"full_name": name, **extra})
    if created:
        user.set_password(DEMO_PASSWORD)
        user.save()
    return user


def seed_people() -> People:
    """The IGOs, the insurers, and every demo user with their memberships (each made once)."""
    tenants = {}
    for slug, name, agb in TENANTS:
        tenants[slug], _ = Tenant.objects.get_or_create(slug=slug, defaults={"name": name, "agb_code": agb})
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
    return People(tenants, insurers, shared, rows)


def staff_of(slug: str) -> dict[str, User]:
    """The users of one IGO by role: the first of each role (the finance employee who prepares; the
    controller, the second finance user who releases payouts, is `controller_of`)."""
    staff: dict[str, User] = {}
    for email, _n, role in PEOPLE[slug]:
        if role not in staff:
            staff[role] = User.objects.get(email=email)
    return staff


def controller_of(slug: str) -> User:
    """The IGO's second finance user: the four eyes that release what the first prepared."""
    finance = [email for email, _n, role in PEOPLE[slug] if role == Role.IGO_FINANCE]
    return User.objects.get(email=finance[1])


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
