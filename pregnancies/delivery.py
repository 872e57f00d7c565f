"""One coherent delivery: the start of active labour, each child's birth, the placenta, the place and the
responsible line, recorded (and corrected) in one transaction. It sets the care-path dates the billing phases
follow (natal from the start of active labour, postnatal from placenta + 2 hours), stores one Birth per child
(twins: one episode, two births) and logs the delivery event of the catalogue for the logging professional."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import formats, timezone
from django.utils.translation import gettext as _

from igo.models import User
from igo.services import audit_record
from pregnancies import services
from pregnancies.models import (
    AccessAction,
    Birth,
    BirthMode,
    BirthOutcome,
    BirthPlace,
    CareEvent,
    ChildSex,
    ClinicalRevision,
    Episode,
    EpisodeStatus,
    EventStatus,
    EventType,
    LabourOnset,
    Line,
    LineTransfer,
    Perineum,
    Presentation,
)
from providers.models import Professional

# The natal phase ends two hours after the placenta (NZa: "placenta + 2 uur").
PLACENTA_TO_POSTNATAL = timedelta(hours=2)
MAX_CHILDREN = 4

# The catalogue entry of the delivery for a place of birth under a responsible line. A clinical birth is
# second-line care; a first-line birth takes place at home, in a birth centre or in hospital without
# medical indication (polyclinic).
DELIVERY_CODES: dict[tuple[str, str], str] = {
    (Line.FIRST, BirthPlace.HOME): "DELIV_HOME",
    (Line.FIRST, BirthPlace.BIRTH_CENTRE): "DELIV_CENTRE",
    (Line.FIRST, BirthPlace.POLYCLINIC): "DELIV_POLI",
    (Line.SECOND, BirthPlace.CLINICAL): "DELIV_CLIN",
}
DELIVERY_EVENT_CODES = frozenset(DELIVERY_CODES.values())


@dataclass(frozen=True)
class Child:
    """One child of a delivery as entered."""

    born_at: datetime | None
    outcome: str = BirthOutcome.LIVE
    mode: str = BirthMode.SPONTANEOUS
    sex: str = ""  # ChildSex; empty: not recorded
    weight_grams: int | None = None
    apgar_1: int | None = None
    apgar_5: int | None = None


@dataclass(frozen=True)
class Clinical:
    """What the quality indicators need of the mother's side of the delivery (Kernset Geboortezorg);
    empty or None: not recorded."""

    presentation: str = ""
    labour_onset: str = ""
    previous_caesareans: int | None = None
    perineum: str = ""


CLINICAL_FIELDS = ("presentation", "labour_onset", "previous_caesareans", "perineum")
APGAR_FIELDS = ("apgar_1", "apgar_5")


@dataclass
class Delivery:
    episode: Episode
    births: list[Birth]
    event: CareEvent | None


def child_field(name: str, number: int) -> str:
    """The name under which a child's field is reported (and entered in the form): born_at_1, mode_2..."""
    return f"{name}_{number}"


def delivery_event(episode: Episode) -> CareEvent | None:
    """The episode's active delivery event, if one was logged."""
    return (
        CareEvent.objects.filter(
            episode=episode, status=EventStatus.ACTIVE, event_type__code__in=DELIVERY_EVENT_CODES
        )
        .select_related("event_type", "professional", "organisation")
        .order_by("-occurred_at", "-pk")
        .first()
    )


def line_at(episode: Episode, moment: datetime) -> str | None:
    line = None
    for transfer in LineTransfer.objects.filter(episode=episode).order_by("effective_at", "pk"):
        if transfer.effective_at <= moment:
            line = transfer.line
    return line


def _snapshot(episode: Episode, births: Sequence[Birth], event: CareEvent | None) -> dict[str, Any]:
    """A delivery's recorded facts: what a correction's `ClinicalRevision` keeps before and after, and whose
    keys name the fields in the audit entry."""

    def iso(moment: datetime | None) -> str | None:
        return timezone.localtime(moment).isoformat() if moment else None

    return {
        "labour_started_at": iso(episode.labour_started_at),
        "placenta_at": iso(episode.placenta_at),
        "placenta_plus_2h_at": iso(episode.placenta_plus_2h_at),
        "place": births[0].place if births else None,
        "line": line_at(episode, episode.labour_started_at) if episode.labour_started_at else None,
        "children": [
            {
                "child": b.child_number,
                "born_at": iso(b.born_at),
                "outcome": b.outcome,
                "mode": b.mode,
                "sex": b.sex,
                "weight_grams": b.weight_grams,
                "apgar_1": b.apgar_1,
                "apgar_5": b.apgar_5,
            }
            for b in births
        ],
        **{name: getattr(episode, name) for name in CLINICAL_FIELDS},
        "event": event.pk if event else None,
        "event_type": event.event_type.code if event else None,
    }


def _validate(
    *,
    episode: Episode,
    labour_started_at: datetime | None,
    children: Sequence[Child],
    placenta_at: datetime | None,
    place: str,
    line: str,
    now: datetime,
    clinical: Clinical,
) -> tuple[dict[str, list[str]], EventType | None]:
    errors: dict[str, list[str]] = {}

    def err(field: str, message: str) -> None:
        errors.setdefault(field, []).append(message)

    if clinical.presentation and clinical.presentation not in Presentation.values:
        err("presentation", _("Choose the presentation."))
    if clinical.labour_onset and clinical.labour_onset not in LabourOnset.values:
        err("labour_onset", _("Choose how labour began."))
    if clinical.perineum and clinical.perineum not in Perineum.values:
        err("perineum", _("Choose the perineal damage."))
    if clinical.previous_caesareans is not None and not 0 <= clinical.previous_caesareans <= 10:
        err("previous_caesareans", _("Enter a number of previous caesareans from 0 to 10."))

    latest = now + services.FUTURE_TOLERANCE
    intake_start = timezone.make_aware(datetime.combine(episode.intake_date, datetime.min.time()))
    if episode.status != EpisodeStatus.ACTIVE:
        err("__all__", _("The episode has ended; a delivery can no longer be recorded in it."))
    if labour_started_at is None:
        err("labour_started_at", _("Enter the start of active labour."))
    elif labour_started_at < intake_start:
        err("labour_started_at", _("This lies before the intake date."))
    elif labour_started_at > latest:
        err("labour_started_at", _("This lies in the future."))
    if not children:
        err(child_field("born_at", 1), _("Enter the time of birth of at least one child."))
    if len(children) > MAX_CHILDREN:
        err("__all__", _("At most %(n)s children can be recorded.") % {"n": MAX_CHILDREN})
    for number, child in enumerate(children, start=1):
        if child.born_at is None:
            err(child_field("born_at", number), _("Enter the time of birth."))
        elif child.born_at > latest:
            err(child_field("born_at", number), _("This lies in the future."))
        elif labour_started_at is not None and child.born_at < labour_started_at:
            err(child_field("born_at", number), _("The birth lies before the start of active labour."))
        elif placenta_at is not None and child.born_at > placenta_at:
            err(child_field("born_at", number), _("The birth lies after the birth of the placenta."))
        previous = children[number - 2].born_at if number > 1 else None
        field = child_field("born_at", number)
        if (
            child.born_at is not None
            and previous is not None
            and child.born_at < previous
            and field not in errors
        ):
            # The children are numbered in the order they were born: Perined's birth order, and what the
            # summary's "first born" reads.
            err(
                field,
                _(
                    "Child %(n)s cannot be born before child %(previous)s (%(when)s): number them in birth order."
                )
                % {
                    "n": number,
                    "previous": number - 1,
                    "when": formats.date_format(timezone.localtime(previous), "d-m-Y H:i"),
                },
            )
        if child.outcome not in BirthOutcome.values:
            err(child_field("outcome", number), _("Choose the outcome."))
        if child.mode not in BirthMode.values:
            err(child_field("mode", number), _("Choose the mode of birth."))
        if child.sex and child.sex not in ChildSex.values:
            err(child_field("sex", number), _("Choose the child's sex: girl, boy or undetermined."))
        if child.weight_grams is not None and not 200 <= child.weight_grams <= 7000:
            err(child_field("weight_grams", number), _("Enter a birth weight between 200 and 7,000 g."))
        for name in APGAR_FIELDS:
            score = getattr(child, name)
            if score is not None and not 0 <= score <= 10:
                err(child_field(name, number), _("An Apgar score lies between 0 and 10."))
    if placenta_at is None:
        err("placenta_at", _("Enter the time the placenta was born."))
    elif placenta_at > latest:
        err("placenta_at", _("This lies in the future."))
    elif labour_started_at is not None and placenta_at <= labour_started_at:
        err("placenta_at", _("This must lie after the start of active labour."))
    event_type = None
    if place not in BirthPlace.values:
        err("place", _("Choose the place of birth."))
    if line not in Line.values:
        err("line", _("Choose the responsible line."))
    if place in BirthPlace.values and line in Line.values:
        code = DELIVERY_CODES.get((line, place))
        if code is None:
            err(
                "line",
                _("A clinical birth is second-line care.")
                if place == BirthPlace.CLINICAL
                else _("A second-line birth takes place in hospital (clinical)."),
            )
        else:
            event_type = EventType.objects.filter(code=code, is_active=True).first()
            if event_type is None:
                err(
                    "place",
                    _("The catalogue has no active entry for this delivery (%(code)s).") % {"code": code},
                )
    return errors, event_type


def _children_births(episode: Episode, children: Sequence[Child], place: str) -> list[Birth]:
    """Birth rows of validated children (every child has its time of birth)."""
    assert all(child.born_at is not None for child in children)
    return [
        Birth(
            tenant_id=episode.tenant_id,
            episode=episode,
            child_number=number,
            born_at=child.born_at,  # type: ignore[misc]  # checked above
            outcome=child.outcome,
            place=place,
            mode=child.mode,
            sex=child.sex,
            weight_grams=child.weight_grams,
            apgar_1=child.apgar_1,
            apgar_5=child.apgar_5,
        )
        for number, child in enumerate(children, start=1)
    ]


def _set_dates(
    *, episode: Episode, actor: User, labour_started_at: datetime, placenta_at: datetime
) -> Episode:
    """The care-path dates through their own service (which refuses dates that put a logged event in a
    phase it does not belong to); its field names are reported as the delivery's."""
    try:
        episode = services.episode_set_key_dates(
            episode=episode,
            actor=actor,
            labour_started_at=labour_started_at,
            placenta_plus_2h_at=placenta_at + PLACENTA_TO_POSTNATAL,
        )
    except ValidationError as exc:
        aliases = {"placenta_plus_2h_at": "placenta_at"}
        raise ValidationError(
            {aliases.get(k, k): v for k, v in exc.message_dict.items()}
            if hasattr(exc, "error_dict")
            else {"__all__": exc.messages}
        ) from None
    Episode.objects.filter(pk=episode.pk).update(placenta_at=placenta_at)
    episode.placenta_at = placenta_at
    return episode


def _set_line(
    *, episode: Episode, actor: User, line: str, labour_started_at: datetime, first_born: datetime
) -> None:
    """The responsible line during the delivery: when the line in effect at the birth is another one,
    responsibility moved at the start of active labour. A transfer during labour recorded before (a line
    transfer between the start of labour and the birth) already gives the line at the birth: nothing is
    added, so the transfer keeps its moment."""
    if line_at(episode, first_born) != line:
        LineTransfer.objects.create(
            tenant_id=episode.tenant_id,
            episode=episode,
            line=line,
            effective_at=labour_started_at,
            reason=str(_("Recorded with the delivery")),
            created_by=actor,
        )


def _set_clinical(episode: Episode, clinical: Clinical) -> None:
    for name in CLINICAL_FIELDS:
        setattr(episode, name, getattr(clinical, name))
    Episode.objects.filter(pk=episode.pk).update(
        **{name: getattr(clinical, name) for name in CLINICAL_FIELDS}
    )


def _check_event(
    *,
    episode: Episode,
    event_type: EventType,
    occurred_at: datetime,
    professional: Professional,
    replacing: CareEvent | None = None,
) -> str:
    try:
        phase, _warnings = services._validate_event(
            episode=episode,
            event_type=event_type,
            occurred_at=occurred_at,
            quantity=Decimal("1"),
            professional=professional,
            organisation=professional.organisation,
            confirm_over_limit=False,
            replacing=replacing,
        )
    except ValidationError as exc:
        # The delivery event follows from the place and line: its problems are reported there.
        aliases = {"event_type": "place", "occurred_at": "__all__", "organisation": "__all__"}
        raise ValidationError(
            {aliases.get(k, k): v for k, v in exc.message_dict.items()}
            if hasattr(exc, "error_dict")
            else {"__all__": exc.messages}
        ) from None
    return phase


@dataclass
class _Prepared:
    """A delivery checked against its episode, which is locked for the rest of the transaction."""

    professional: Professional
    episode: Episode
    errors: dict[str, list[str]]
    event_type: EventType | None


def _prepare(
    *,
    episode: Episode,
    actor: User,
    labour_started_at: datetime | None,
    children: Sequence[Child],
    placenta_at: datetime | None,
    place: str,
    line: str,
    now: datetime,
    clinical: Clinical,
    professional: Professional | None = None,
) -> _Prepared:
    """What recording and correcting share: the caller's right (PermissionDenied with the reason), the
    episode's row lock (two submissions at once make one delivery) and the check of the delivery itself.
    The caller adds its own errors and raises them all at once."""
    professional = (
        services.obstetric_professional_for(actor=actor)
        if professional is None
        else services.obstetric_professional_check(professional)
    )
    episode = Episode.objects.select_for_update().select_related("client").get(pk=episode.pk)
    errors, event_type = _validate(
        episode=episode,
        labour_started_at=labour_started_at,
        children=children,
        placenta_at=placenta_at,
        place=place,
        line=line,
        now=now,
        clinical=clinical,
    )
    return _Prepared(professional=professional, episode=episode, errors=errors, event_type=event_type)


@transaction.atomic
def delivery_record(
    *,
    episode: Episode,
    actor: User,
    labour_started_at: datetime | None,
    children: Sequence[Child],
    placenta_at: datetime | None,
    place: str,
    line: str,
    clinical: Clinical | None = None,
    now: datetime | None = None,
    professional: Professional | None = None,
) -> Delivery:
    """Record the delivery: all of it (dates, births, line, delivery event) or, on any error, none of it.
    Afterwards the natal phase runs from the start of active labour and the postnatal phase from placenta
    + 2 hours. `professional`: who performed it, where the actor is not a professional (a member's system
    sending it by FHIR names its midwife); by default the actor's own professional record."""
    prepared = _prepare(
        episode=episode,
        actor=actor,
        labour_started_at=labour_started_at,
        children=children,
        placenta_at=placenta_at,
        place=place,
        line=line,
        now=now or timezone.now(),
        clinical=clinical or Clinical(),
        professional=professional,
    )
    professional, episode, errors, event_type = (
        prepared.professional,
        prepared.episode,
        prepared.errors,
        prepared.event_type,
    )
    if Birth.objects.filter(episode=episode).exists():
        errors.setdefault("__all__", []).append(
            _("The delivery has already been recorded; correct it instead.")
        )
    if errors:
        raise ValidationError(errors)
    assert labour_started_at is not None and placenta_at is not None and event_type is not None
    episode = _set_dates(
        episode=episode, actor=actor, labour_started_at=labour_started_at, placenta_at=placenta_at
    )
    _set_line(
        episode=episode,
        actor=actor,
        line=line,
        labour_started_at=labour_started_at,
        first_born=min(c.born_at for c in children if c.born_at is not None),
    )
    if clinical is not None:  # None: left as it was (a caller that does not know these fields)
        _set_clinical(episode, clinical)
    births = _children_births(episode, children, place)
    Birth.objects.bulk_create(births)
    first_born = min(c.born_at for c in children if c.born_at is not None)
    # A delivery logged on its own before (the old way) stays the delivery's event when it is the same
    # entry; another entry is a contradiction the user resolves by correcting the delivery.
    event = delivery_event(episode)
    if event is not None and event.event_type_id != event_type.pk:
        raise ValidationError(
            {
                "place": _(
                    "%(type)s was already logged on %(when)s; it does not match this place and line. "
                    "Correct or void that event first."
                )
                % {"type": event.event_type.name, "when": services._fmt(event.occurred_at)}
            }
        )
    if event is None:
        phase = _check_event(
            episode=episode, event_type=event_type, occurred_at=first_born, professional=professional
        )
        event = CareEvent.objects.create(
            tenant_id=episode.tenant_id,
            episode=episode,
            event_type=event_type,
            occurred_at=first_born,
            phase=phase,
            professional=professional,
            organisation=professional.organisation,
            created_by=actor,
        )
    services.touch_episodes(episode.pk)
    # Which facts were recorded, not their values: those are the record itself (access-logged to read).
    audit_record(
        actor=actor,
        action="delivery.record",
        tenant=episode.tenant,
        obj=episode,
        fields=services.changed_fields(None, _snapshot(episode, births, event)),
        event=event.pk,
    )
    services.access_log(
        user=actor, client=episode.client, action=AccessAction.CREATE, obj=episode, detail="delivery"
    )
    return Delivery(episode=episode, births=births, event=event)


@transaction.atomic
def delivery_correct(
    *,
    episode: Episode,
    actor: User,
    reason: str,
    labour_started_at: datetime | None,
    children: Sequence[Child],
    placenta_at: datetime | None,
    place: str,
    line: str,
    clinical: Clinical | None = None,
    now: datetime | None = None,
    professional: Professional | None = None,
) -> Delivery:
    """Correct a recorded delivery. The record's history keeps it before and after, with the reason
    (`ClinicalRevision`; the audit entry names the fields that changed); the delivery event is superseded
    by a corrected one (the original stays, marked as corrected); the phases follow the new dates and the
    billing sweep recomputes the episode."""
    prepared = _prepare(
        episode=episode,
        actor=actor,
        labour_started_at=labour_started_at,
        children=children,
        placenta_at=placenta_at,
        place=place,
        line=line,
        now=now or timezone.now(),
        clinical=clinical or Clinical(),
        professional=professional,
    )
    professional, episode, errors, event_type = (
        prepared.professional,
        prepared.episode,
        prepared.errors,
        prepared.event_type,
    )
    old_births = list(Birth.objects.select_for_update().filter(episode=episode).order_by("child_number"))
    old_event = delivery_event(episode)
    if not old_births:
        errors.setdefault("__all__", []).append(_("No delivery has been recorded yet."))
    if not reason.strip():
        errors.setdefault("change_reason", []).append(_("Give the reason for the correction."))
    if errors:
        raise ValidationError(errors)
    assert labour_started_at is not None and placenta_at is not None and event_type is not None
    before = _snapshot(episode, old_births, old_event)
    # The old delivery event steps aside first, so that the new dates are not refused because of it.
    if old_event is not None:
        old_event.status = EventStatus.SUPERSEDED
        old_event.change_reason = reason.strip()
        old_event.save(update_fields=["status", "change_reason"])
    episode = _set_dates(
        episode=episode, actor=actor, labour_started_at=labour_started_at, placenta_at=placenta_at
    )
    _set_line(
        episode=episode,
        actor=actor,
        line=line,
        labour_started_at=labour_started_at,
        first_born=min(c.born_at for c in children if c.born_at is not None),
    )
    if clinical is not None:  # None: left as it was (a caller that does not know these fields)
        _set_clinical(episode, clinical)
    # Children keep their rows (and what was recorded after the birth: NICU, neonatal death); a child no
    # longer in the delivery is removed, its data kept in the revision (ClinicalRevision.before).
    new_births = _children_births(episode, children, place)
    by_number = {b.child_number: b for b in old_births}
    births: list[Birth] = []
    for new in new_births:
        old = by_number.pop(new.child_number, None)
        if old is None:
            new.save()
            births.append(new)
            continue
        for field in ("born_at", "outcome", "place", "mode", "sex", "weight_grams", *APGAR_FIELDS):
            setattr(old, field, getattr(new, field))
        if old.outcome != BirthOutcome.LIVE:
            old.nicu_admission, old.neonatal_death_on = False, None
        old.save()
        births.append(old)
    Birth.objects.filter(pk__in=[b.pk for b in by_number.values()]).delete()
    first_born = min(c.born_at for c in children if c.born_at is not None)
    # The corrected event is performed by whoever performed the delivery, unless the new entry is not one
    # of theirs (e.g. a home birth corrected to a clinical one): then by the professional correcting it.
    performer = professional
    if old_event is not None and old_event.professional.discipline in event_type.disciplines:
        performer = old_event.professional
    phase = _check_event(
        episode=episode,
        event_type=event_type,
        occurred_at=first_born,
        professional=performer,
        replacing=old_event,
    )
    event = CareEvent.objects.create(
        tenant_id=episode.tenant_id,
        episode=episode,
        event_type=event_type,
        occurred_at=first_born,
        phase=phase,
        professional=performer,
        organisation=performer.organisation if performer is professional else old_event.organisation,  # type: ignore[union-attr]
        supersedes=old_event,
        location=old_event.location if old_event else "",
        note=old_event.note if old_event else "",
        created_by=actor,
    )
    services.touch_episodes(episode.pk)
    # The delivery as it was, the new one and the reason are kept in the record's own history (the episode's
    # history page, access-logged); the audit entry names the fields that changed and that revision.
    _revision_and_audit(
        "delivery.correct",
        episode=episode,
        actor=actor,
        before=before,
        after=_snapshot(episode, births, event),
        reason=reason,
        event=event.pk,
        supersedes=old_event.pk if old_event is not None else None,
    )
    services.access_log(
        user=actor,
        client=episode.client,
        action=AccessAction.UPDATE,
        obj=episode,
        detail="delivery corrected",
    )
    return Delivery(episode=episode, births=births, event=event)


def _revision_and_audit(
    action: str, *, episode: Episode, actor: User, before: Any, after: Any, reason: str, **ids: Any
) -> None:
    """A change of a recorded delivery: the delivery before and after and the reason in the record's own
    history (`ClinicalRevision`), and an audit entry that names the fields that changed and that revision,
    with `ids` (its events), never a value."""
    revision = services.clinical_revision_record(
        episode=episode,
        actor=actor,
        kind=ClinicalRevision.Kind.DELIVERY,
        before=before,
        after=after,
        reason=reason.strip(),
    )
    audit_record(
        actor=actor,
        action=action,
        tenant=episode.tenant,
        obj=episode,
        fields=revision.fields,
        revision=revision.pk,
        **ids,
    )


@transaction.atomic
def delivery_void(*, episode: Episode, actor: User, reason: str) -> Episode:
    """Undo a delivery recorded in error: its event is voided (kept, with the reason), the births are removed
    (their data kept in the record's history, `ClinicalRevision`) and the care-path dates it set are cleared, so the natal and
    postnatal phases are no longer reached and the billing run takes their claims back (a credit where a line
    was sent). Refused while care logged after the birth would lose its phase: void or correct that first.
    Reached by voiding the delivery event (`services.care_event_void`)."""
    episode = Episode.objects.select_for_update().select_related("client").get(pk=episode.pk)
    births = list(Birth.objects.select_for_update().filter(episode=episode).order_by("child_number"))
    event = delivery_event(episode)
    if not births:
        raise ValidationError(_("No delivery has been recorded yet."))
    if not reason.strip():
        raise ValidationError({"change_reason": _("Give the reason for voiding this event.")})
    before = _snapshot(episode, births, event)
    if event is not None:
        event.status = EventStatus.VOIDED
        event.change_reason = reason.strip()
        event.voided_at = timezone.now()
        event.voided_by = actor
        event.save(update_fields=["status", "change_reason", "voided_at", "voided_by"])
    # Refused (and all of this rolled back) when an active event would fall in another phase.
    episode = services.episode_set_key_dates(
        episode=episode,
        actor=actor,
        labour_started_at=None,
        placenta_plus_2h_at=None,
        kraamzorg_ended_on=None,
        postnatal_ended_on=None,
    )
    Episode.objects.filter(pk=episode.pk).update(placenta_at=None)
    episode.placenta_at = None
    Birth.objects.filter(pk__in=[b.pk for b in births]).delete()
    services.touch_episodes(episode.pk)
    # The delivery as it was and the reason are kept in the record's own history (the episode's history page,
    # access-logged); the audit entry names the fields that changed and that revision, no value.
    _revision_and_audit(
        "delivery.void",
        episode=episode,
        actor=actor,
        before=before,
        after=_snapshot(episode, [], event),
        reason=reason,
        event=event.pk if event is not None else None,
    )
    services.access_log(
        user=actor, client=episode.client, action=AccessAction.VOID, obj=episode, detail="delivery"
    )
    return episode
