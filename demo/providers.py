"""The demo IGOs' member organisations and professionals (the providers app)."""

from __future__ import annotations

from datetime import date

from igo.models import Role, Tenant, User
from providers.models import Discipline, MemberOrganisation, OrganisationKind, Professional

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


def seed_providers(tenant: Tenant, users: dict[str, User], shared: User) -> dict[str, Professional]:
    """The member organisations and the professionals of the IGO's users (each made once); returns the
    professionals by role."""
    orgs = {}
    for name, kind, agb in ORGS[tenant.slug]:
        orgs[kind], _ = MemberOrganisation.unscoped.get_or_create(
            tenant=tenant,
            agb_code=agb,
            defaults={"name": name, "kind": kind, "member_from": date(2023, 1, 1)},
        )
    profs: dict[str, Professional] = {}
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
    return profs
