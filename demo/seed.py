"""The demo installation: two IGOs, insurers, a user for every role, care in every stage, contracts, claims,
claim batches a month apart, quality figures and an insurer API key. Safe to run more than once: every part
is made once, and a later run adds only what an older demo lacks."""

from __future__ import annotations

from dataclasses import dataclass

from django.utils import timezone

from demo import billing, care, neutrality, people, providers, quality
from demo.people import INSURER_USERS, ZK
from igo.models import Role, User
from pregnancies.catalogue import catalogue_seed


@dataclass
class Demo:
    """What the command prints."""

    logins: list[tuple[str, str, str]]  # (email, role, where)
    batches: list[str]
    payouts: list[str]
    key: str | None  # the insurer API key, when this run made it
    key_note: str  # otherwise: when it was made
    key_insurer: str  # the name of the insurer the key is for


def seed_demo() -> Demo:
    """Seed the demo (the caller holds the transaction)."""
    made = people.seed_people()
    insurers = made.insurers
    zk_user = User.objects.get(email=INSURER_USERS[0][0])
    # One moment for the whole run: every date of the story is relative to it, so that a run that takes
    # a few seconds tells one story even when it starts just before midnight.
    now = timezone.now()
    batch_rows: list[str] = []
    payout_rows: list[str] = []
    for n, (slug, tenant) in enumerate(made.tenants.items()):
        staff = people.staff_of(slug)
        catalogue_seed(tenant=tenant)
        profs = providers.seed_providers(tenant, staff, made.shared)
        care.seed_clients(tenant, staff, insurers, profs, now=now)
        care.seed_history(tenant, staff, insurers, now=now)
        care.seed_transferred(tenant, staff, insurers, now=now)
        care.seed_second_pregnancy(tenant, staff, now=now)
        billing.seed_billing(tenant, staff[Role.IGO_FINANCE], insurers, now=now)
        billing.seed_bank_accounts(tenant, staff[Role.IGO_ADMIN])
        quality.seed_quality(tenant, staff, insurers, now=now)
        neutrality.seed_neutrality(tenant, now=now)
        batch_rows += billing.seed_batches(
            tenant,
            staff[Role.IGO_FINANCE],
            people.controller_of(slug),
            answer_as=zk_user if n == 0 else None,
            insurer=insurers[ZK],
            now=now,
        )
        payout_rows += billing.seed_payouts(
            tenant, staff[Role.IGO_FINANCE], people.controller_of(slug), now=now
        )
    key, key_note = people.seed_insurer_key(zk_user, insurers[ZK])
    return Demo(made.logins, batch_rows, payout_rows, key, key_note, insurers[ZK].name)
