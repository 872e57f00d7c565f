"""The demo's clients and their care (the pregnancies app): pregnancies in every stage with care logged as the
professionals would, pregnancies after the birth for the claim batches, and one transferred out of the region.

The demo is made relative to the day it runs, and tells the same story on any day: last month's batches
(Zilveren Kruis and VGZ) released, this month's (Zilveren Kruis and CZ) drafts. A claim line belongs to the
month it was made in (billing.services.batches: created before the next month's midnight), and the seed
dates the lines of care that ended before this month back to last month, as the run every 15 minutes would
have made them (`_date_history_lines`). So this month's drafts must come from care that surely ends this
month, even at 00:30 on the 1st: an episode that ends today. Care whose month depends on the day (a birth
two or ten days ago) is insured with Zilveren Kruis only, which has a batch in both months.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, time, timedelta
from decimal import Decimal

from django.utils import timezone

from demo.people import CZ, MENZIS, VGZ, ZK
from igo.models import Insurer, Role, Tenant, User
from igo.tenancy import tenant_scope
from pregnancies import services
from pregnancies.delivery import Child, Clinical, delivery_record
from pregnancies.models import Client, Episode, EventType
from providers.models import Professional

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
# The Kernset Geboortezorg side of each HISTORY delivery, so that the quality pages show real values: parity,
# previous caesareans, presentation, onset of labour, perineum, Apgar at 1 and 5 minutes, and the hours of
# a re-indication of kraamzorg after the birth (None: the intake indication of 49 hours stays in force).
# Noor's labour began at home; she was transferred to the hospital and delivered by caesarean (second line,
# clinical), so her record holds no contradiction. Robson groups: Anouk 1, Iris 2, Noor 1, Femke 3, Roos 1,
# Julia 3.
HISTORY_KERNSET = [
    (0, "cephalic", "spontaneous", "second", (8, 9), None),
    (0, "cephalic", "induced", "third", (7, 9), 56),
    (0, "cephalic", "spontaneous", "", (5, 6), None),
    (1, "cephalic", "spontaneous", "intact", (9, 10), None),
    (0, "cephalic", "spontaneous", "first", (9, 10), None),
    (1, "cephalic", "spontaneous", "episiotomy", (8, 9), 40),
]
INTAKE_INDICATION_HOURS = 49
# A client transferred out of the region today, at 30 weeks: the contract bills the prenatal phase in full
# (its partial rule for a transfer), ending today, so CZ has a line in this month's batch on any day.
TRANSFERRED = ("Yara", "Koster", date(1997, 9, 12), "809123459", CZ, 30)


def _pregnancy(
    tenant: Tenant,
    midwife: User,
    coordinator: Professional,
    person: tuple[str, str, date, str],
    insurer: Insurer,
    *,
    postcode: str,
    policy_number: str,
    insured_from: date,
    intake: date,
    due: date,
    parity: int = 0,
) -> Episode:
    """A client (given names, family name, date of birth, BSN) taken in by the midwife: one open episode."""
    given, family, born, bsn = person
    client = services.client_create(
        tenant=tenant,
        actor=midwife,
        family_name=family,
        given_names=given,
        date_of_birth=born,
        bsn=bsn,
        postcode=postcode,
        insurer=insurer,
        policy_number=policy_number,
        insured_from=insured_from,
    )
    return services.episode_create(
        tenant=tenant,
        actor=midwife,
        client=client,
        intake_date=intake,
        due_date=due,
        coordinating_professional=coordinator,
        parity=parity,
        gravida=parity + 1,
    )


def seed_clients(
    tenant: Tenant,
    users: dict[str, User],
    insurers: dict[str, Insurer],
    profs: dict[str, Professional],
    *,
    now: datetime,
) -> None:
    """A few clients with logged care, one of them in kraamzorg after a birth two days ago (once per tenant)."""
    if Client.unscoped.filter(tenant=tenant).exists():
        return
    midwife, carer = users[Role.MIDWIFE], users[Role.MATERNITY_CARER]
    today = timezone.localdate(now)
    with tenant_scope(tenant):
        types = {t.code: t for t in EventType.objects.all()}
        for i, (given, family, born, bsn, uzovi, weeks) in enumerate(CLIENTS):
            intake = today - timedelta(weeks=weeks - 8)
            episode = _pregnancy(
                tenant,
                midwife,
                profs[Role.MIDWIFE],
                (given, family, born, bsn),
                insurers[uzovi],
                postcode=f"{3011 + i} AB",
                policy_number=f"{tenant.pk}{i:08d}",
                insured_from=intake,
                intake=intake,
                due=intake + timedelta(days=280 - 8 * 7),
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
                # Recorded as a midwife does it (issue 17): one delivery, which logs the home delivery too.
                delivery_record(
                    episode=episode,
                    actor=midwife,
                    labour_started_at=labour,
                    children=[
                        Child(
                            born_at=labour + timedelta(hours=4),
                            sex="female",
                            weight_grams=3450,
                            apgar_1=9,
                            apgar_5=10,
                        )
                    ],
                    placenta_at=labour + timedelta(hours=5),
                    place="home",
                    line="first",
                    clinical=Clinical(presentation="cephalic", labour_onset="spontaneous", perineum="intact"),
                    now=now,
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
            episode = _pregnancy(
                tenant,
                midwife,
                Professional.objects.get(user=midwife),
                (given, family, born, bsn),
                insurers[uzovi],
                postcode=f"{3031 + i} CD",
                policy_number=f"{tenant.pk}9{i:07d}",
                insured_from=intake - timedelta(days=365),
                intake=intake,
                due=birth_day,
                parity=HISTORY_KERNSET[i][0],
            )
            start = timezone.make_aware(datetime.combine(intake, time(10)))
            log(episode, midwife, "INTAKE", start)
            log(episode, midwife, "ECHO_SEO", start + timedelta(weeks=12))
            for week in range(4, 32, 4):
                log(episode, midwife, "PRE_CHECK", start + timedelta(weeks=week))
            labour = timezone.make_aware(datetime.combine(birth_day, time(3, 30)))
            parity, presentation, onset, perineum, (apgar_1, apgar_5), reindication = HISTORY_KERNSET[i]
            # The LIP's intake indication of kraamzorg hours, at 34 weeks.
            services.kraamzorg_indication_record(
                episode=episode,
                actor=midwife,
                hours=INTAKE_INDICATION_HOURS,
                indicated_on=intake + timedelta(weeks=26),
                today=today,
            )
            caesarean = i == 2
            if caesarean:  # labour at home stalled: to the hospital two hours in
                services.line_transfer(
                    episode=episode,
                    actor=midwife,
                    line="second",
                    effective_at=labour + timedelta(hours=2),
                    reason="Niet vorderende ontsluiting",
                )
            # Recorded as a midwife (or, for the caesarean in hospital, the gynaecologist) does it: one
            # delivery, which logs the delivery event too.
            delivery_record(
                episode=episode,
                actor=users[Role.GYNAECOLOGIST] if caesarean else midwife,
                labour_started_at=labour,
                children=[
                    Child(
                        born_at=labour + timedelta(hours=4),
                        mode="caesarean" if caesarean else "spontaneous",
                        sex="male" if i % 2 else "female",  # the Kernset field SGA needs (issue 20)
                        weight_grams=2380 if i == 3 else 3200 + 90 * i,  # one low birth weight
                        apgar_1=apgar_1,
                        apgar_5=apgar_5,
                    )
                ],
                placenta_at=labour + timedelta(hours=5),
                place="clinical" if caesarean else "home",
                line="second" if caesarean else "first",
                clinical=Clinical(
                    presentation=presentation,
                    labour_onset=onset,
                    previous_caesareans=0 if parity else None,
                    perineum=perineum,
                ),
                now=now,
            )
            log(episode, carer, "PARTUS_ASSIST", labour + timedelta(hours=3), "3")
            if reindication is not None:  # a re-indication on the third day after the birth
                services.kraamzorg_indication_record(
                    episode=episode,
                    actor=midwife,
                    hours=reindication,
                    indicated_on=min(birth_day + timedelta(days=3), today),
                    today=today,
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
        episode = _pregnancy(
            tenant,
            midwife,
            Professional.objects.get(user=midwife),
            (given, family, born, bsn),
            insurers[uzovi],
            postcode="3051 EF",
            policy_number=f"{tenant.pk}80000000",
            insured_from=intake - timedelta(days=365),
            intake=intake,
            due=intake + timedelta(weeks=32),
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


# The lifecycle (issue 17): Anouk Visser, whose first pregnancy (HISTORY) ended in a birth at term, is
# pregnant again and was taken in today, dated by an ultrasound at 7+2 weeks. Her page shows both
# pregnancies; the new one counts gravida 2, parity 1 from the first. (The interval is short for the story
# to stay clear of the claim batches: a pregnancy in its prenatal phase claims nothing yet.)
SECOND_PREGNANCY_BSN = HISTORY[0][3]


def seed_second_pregnancy(tenant: Tenant, users: dict[str, User], *, now: datetime) -> None:
    """A second pregnancy for a client whose first one ended (once per tenant)."""
    midwife = users[Role.MIDWIFE]
    today = timezone.localdate(now)
    with tenant_scope(tenant):
        client = Client.objects.filter(bsn=SECOND_PREGNANCY_BSN).first()
        if client is None or Episode.objects.filter(client=client).count() != 1:
            return
        if Episode.objects.filter(client=client, status="active").exists():
            return
        services.pregnancy_start(
            client=client,
            actor=midwife,
            today=today,
            now=now,
            intake_date=today,
            dating_method="ultrasound",
            ultrasound_on=today,
            ultrasound_gestational_days=7 * 7 + 2,
        )
