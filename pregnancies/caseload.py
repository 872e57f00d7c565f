"""A clinician's caseload: the clients in care with her organisation or assigned to her, with where each
pregnancy stands today and what needs her attention.

Who is in it (active episodes only):
- she is the coordinating care provider, or a colleague of her organisation is;
- her organisation logged (active) care in the episode;
- her organisation is the episode's maternity-care organisation (the maternity carer's clients from intake on).

The care schedule (when the next contact is due) is a simple reading of the KNOV prenatal-check rhythm and
of the postnatal visits; it is a reminder, not a protocol:
- prenatal: every 4 weeks until 28+0, every 2 weeks until 36+0, every week after, counted from the last
  contact (or the intake), at the gestational age of that contact;
- natal (in labour): today;
- postnatal: every day for the first POSTNATAL_DAILY_DAYS days after the birth, then the six-week check on
  day SIX_WEEK_CHECK_DAY; nothing after that check.

Flags:
- contact overdue: the next expected contact lies before today;
- due date passed: after the due date, no birth yet (until DUE_DATE_GRACE_DAYS after it);
- birth not recorded: a delivery was logged (a natal entry counted per item, e.g. "Bevalling thuis") but no
  child is recorded, or DUE_DATE_GRACE_DAYS (42+0 weeks) have passed with no birth and no labour;
- transfer pending: a referral consultation (catalogue code REFERRAL_CODE) was logged in the last
  REFERRAL_OPEN_DAYS days and no line transfer has been recorded since it: the decision on who is responsible
  is still to be written down.

"Last contact" counts only the care of her own kind: an obstetric professional (midwife, clinical midwife,
gynaecologist) counts the contacts of any obstetric professional, whichever member they work for (a check
at the hospital after a referral is a check), and any other discipline only its own (a maternity carer her
hours). The rhythm above is an obstetric schedule: a maternity carer's daily hours say nothing about whether
the midwife has seen her, and counting them hid "Contact overdue" for every client in kraamzorg.

The rows come from one query, whatever the size of the caseload (the figures per episode are subqueries).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from django.db.models import Exists, OuterRef, Q, Subquery
from django.utils import timezone
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from pregnancies.dating import gestational_age_days, gestational_age_label
from pregnancies.models import (
    AccessAction,
    AccessLogEntry,
    Birth,
    CareEvent,
    Client,
    Episode,
    EpisodeStatus,
    EventStatus,
    LineTransfer,
    Phase,
    Unit,
)
from pregnancies.services import OBSTETRIC_DISCIPLINES
from providers.models import Professional

# Prenatal check intervals: (until this gestational age in days, every so many days).
PRENATAL_INTERVALS: tuple[tuple[int, int], ...] = ((28 * 7, 28), (36 * 7, 14))
PRENATAL_INTERVAL_LATE = 7
POSTNATAL_DAILY_DAYS = 10
SIX_WEEK_CHECK_DAY = 42
DUE_DATE_GRACE_DAYS = 14  # 42+0 weeks
REFERRAL_CODE = "REFERRAL"
REFERRAL_OPEN_DAYS = 14
RECENT_LIMIT = 8
RECENT_DAYS = 14
RECENT_WINDOW = 1500


class Flag:
    OVERDUE = "overdue"
    DUE_DATE_PASSED = "due_date_passed"
    BIRTH_NOT_RECORDED = "birth_not_recorded"
    TRANSFER_PENDING = "transfer_pending"


FLAG_LABELS: dict[str, Promise] = {
    Flag.OVERDUE: _("Contact overdue"),
    Flag.DUE_DATE_PASSED: _("Due date passed"),
    Flag.BIRTH_NOT_RECORDED: _("Birth not recorded"),
    Flag.TRANSFER_PENDING: _("Transfer pending"),
}


@dataclass
class CaseloadRow:
    """One client of the caseload as the home shows her."""

    episode: Episode
    phase: str
    gestational_days: int | None
    last_contact: datetime | None
    next_contact: date | None
    assigned_to_me: bool
    flags: list[str] = field(default_factory=list)
    log_type: str = ""  # the catalogue code the home's "log" action preselects
    url: str = ""  # the episode page (set by the view)

    @property
    def episode_id(self) -> int:
        return self.episode.pk

    @property
    def name(self) -> str:
        return f"{self.episode.client.given_names} {self.episode.client.family_name}"

    @property
    def due_date(self) -> date:
        return self.episode.due_date

    @property
    def born_at(self) -> datetime | None:
        """The first child's time of birth: after it the home shows the day of the birth, not the due date."""
        return getattr(self.episode, "first_born_at", None)

    @property
    def client(self) -> Client:
        return self.episode.client

    @property
    def gestational_age(self) -> str:
        return gestational_age_label(self.gestational_days)

    @property
    def flag_labels(self) -> list[tuple[str, str]]:
        return [(f, str(FLAG_LABELS[f])) for f in self.flags]

    @property
    def phase_label(self) -> str:
        return str(Phase(self.phase).label)


def prenatal_interval(gestational_days: int) -> int:
    """Days until the next prenatal check after a contact at this gestational age."""
    for until, every in PRENATAL_INTERVALS:
        if gestational_days < until:
            return every
    return PRENATAL_INTERVAL_LATE


def next_contact(*, phase: str, due_date: date, base: date, born_on: date | None, today: date) -> date | None:
    """The day the care schedule (module docstring) expects the next contact, from the last contact `base`."""
    if phase == Phase.NATAL:
        return today
    if phase == Phase.PRENATAL or born_on is None:
        return base + timedelta(days=prenatal_interval(gestational_age_days(due_date=due_date, on=base)))
    if base >= born_on + timedelta(days=SIX_WEEK_CHECK_DAY):
        return None
    following = max(base, born_on) + timedelta(days=1)
    if following <= born_on + timedelta(days=POSTNATAL_DAILY_DAYS):
        return following
    return born_on + timedelta(days=SIX_WEEK_CHECK_DAY)


def _latest(qs: object, column: str) -> Subquery:
    return Subquery(qs.order_by(f"-{column}").values(column)[:1])  # type: ignore[attr-defined]


def contact_disciplines(professional: Professional) -> frozenset[str]:
    """The disciplines whose care counts as a contact for this professional's schedule (module docstring)."""
    if professional.discipline in OBSTETRIC_DISCIPLINES:
        return OBSTETRIC_DISCIPLINES
    return frozenset({professional.discipline})


def caseload(*, professional: Professional | None, now: datetime) -> list[CaseloadRow]:
    """The professional's caseload on the day of `now` (module docstring), most urgent first: flagged rows,
    then by the next expected contact. Empty for a user without a professional record."""
    if professional is None:
        return []
    today = timezone.localdate(now)
    org = professional.organisation_id
    events = CareEvent.objects.filter(episode=OuterRef("pk"), status=EventStatus.ACTIVE)
    episodes = (
        Episode.objects.filter(status=EpisodeStatus.ACTIVE)
        .filter(
            Q(coordinating_professional=professional)
            | Q(coordinating_professional__organisation_id=org)
            | Q(kraamzorg_organisation_id=org)
            | Exists(events.filter(organisation_id=org))
        )
        .select_related("client")
        .only(
            "id",
            "tenant_id",
            "intake_date",
            "due_date",
            "status",
            "labour_started_at",
            "placenta_plus_2h_at",
            "coordinating_professional_id",
            "client__id",
            "client__tenant_id",
            "client__family_name",
            "client__given_names",
            "client__date_of_birth",
        )
        .annotate(
            last_contact=_latest(
                events.filter(professional__discipline__in=contact_disciplines(professional)), "occurred_at"
            ),
            first_born_at=Subquery(
                Birth.objects.filter(episode=OuterRef("pk")).order_by("born_at").values("born_at")[:1]
            ),
            delivery_logged=Exists(events.filter(event_type__phase=Phase.NATAL, event_type__unit=Unit.ITEM)),
            last_referral_at=_latest(events.filter(event_type__code=REFERRAL_CODE), "occurred_at"),
            last_transfer_at=_latest(LineTransfer.objects.filter(episode=OuterRef("pk")), "effective_at"),
        )
    )
    rows = [_row(e, professional=professional, now=now, today=today) for e in episodes]
    rows.sort(key=lambda r: (not r.flags, r.next_contact or date.max, r.client.family_name, r.episode.pk))
    return rows


def _row(episode: Episode, *, professional: Professional, now: datetime, today: date) -> CaseloadRow:
    phase = episode.phase_at(now)
    last: datetime | None = episode.last_contact  # type: ignore[attr-defined]
    born: datetime | None = episode.first_born_at  # type: ignore[attr-defined]
    birth_moment = born or episode.placenta_plus_2h_at
    born_on = timezone.localdate(birth_moment) if birth_moment else None
    base = max(timezone.localdate(last), episode.intake_date) if last else episode.intake_date
    expected = next_contact(phase=phase, due_date=episode.due_date, base=base, born_on=born_on, today=today)
    flags = []
    if expected is not None and expected < today:
        flags.append(Flag.OVERDUE)
    no_birth = born is None and episode.labour_started_at is None
    delivered_unrecorded = born is None and episode.delivery_logged  # type: ignore[attr-defined]
    long_past_due = no_birth and today > episode.due_date + timedelta(days=DUE_DATE_GRACE_DAYS)
    if delivered_unrecorded or long_past_due:
        flags.append(Flag.BIRTH_NOT_RECORDED)
    elif no_birth and today > episode.due_date:
        flags.append(Flag.DUE_DATE_PASSED)
    referral: datetime | None = episode.last_referral_at  # type: ignore[attr-defined]
    transfer: datetime | None = episode.last_transfer_at  # type: ignore[attr-defined]
    if (
        referral is not None
        and timezone.localdate(referral) >= today - timedelta(days=REFERRAL_OPEN_DAYS)
        and (transfer is None or transfer < referral)
    ):
        flags.append(Flag.TRANSFER_PENDING)
    return CaseloadRow(
        episode=episode,
        phase=phase,
        gestational_days=(
            gestational_age_days(due_date=episode.due_date, on=today) if phase != Phase.POSTNATAL else None
        ),
        last_contact=last,
        next_contact=expected,
        assigned_to_me=episode.coordinating_professional_id == professional.pk,
        flags=flags,
    )


def recent_episodes(*, user_id: int, now: datetime) -> list[Episode]:
    """The episodes whose page the user opened most recently, newest first, at most RECENT_LIMIT: the
    episode views among her own newest RECENT_WINDOW access-log entries of the last RECENT_DAYS days. Two
    queries.

    The log also holds an entry per client for every caseload the home shows (150 a visit): the window
    keeps the read bounded (the (tenant, user, -at) index, then at most RECENT_WINDOW rows) however many
    entries she has, at the price of forgetting episodes opened before her last ten or so home visits."""
    newest = (
        AccessLogEntry.objects.filter(user_id=user_id, at__gte=now - timedelta(days=RECENT_DAYS))
        .order_by("-at")
        .values("pk")[:RECENT_WINDOW]
    )
    views = (
        AccessLogEntry.objects.filter(pk__in=newest, action=AccessAction.VIEW, object_type="episode")
        .order_by("-at")
        .values_list("object_id", flat=True)
    )
    order = list(dict.fromkeys(int(pk) for pk in views if pk.isdecimal()))[:RECENT_LIMIT]
    found = Episode.objects.select_related("client").in_bulk(order)
    return [found[pk] for pk in order if pk in found]
