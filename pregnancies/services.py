"""Writes for clients, episodes and care events. Every write validates completely before it stores
anything, runs in one transaction, and leaves an access-log entry (NEN 7513)."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from enum import Enum
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q, Sum
from django.utils import formats, timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from igo.models import Insurer, Tenant, User
from igo.services import audit_record
from igo.tenancy import current_tenant_or_none
from igo.text import insured_number_check, name_check
from pregnancies import dating, selectors
from pregnancies.models import (
    LEMMON_NONE,
    AccessAction,
    AccessLogEntry,
    Birth,
    BirthOutcome,
    Breastfeeding,
    CareEvent,
    Client,
    ClientInsurance,
    ClinicalRevision,
    DatingMethod,
    EndReason,
    Episode,
    EpisodeStatus,
    EventStatus,
    EventType,
    KraamzorgIndication,
    LemmonCriterion,
    Line,
    LineTransfer,
    Phase,
    Unit,
)
from providers.models import Discipline, MemberOrganisation, OrganisationKind, Professional

TERM_DAYS = 280  # 40 weeks: the due date is intake + (280 - gestational age at intake)
KRAAMZORG_MAX_HOURS = Decimal("80")  # national indication protocol (LIP) maximum
FUTURE_TOLERANCE = timedelta(minutes=10)
PHONE_RE = re.compile(r"\+?[0-9][0-9 -]{5,18}[0-9]")  # 06-12345678, +31 6 1234 5678, 0301234567


def number(value: Decimal | int) -> str:
    """A quantity as the user's language writes it: 80, 12,5 (Dutch) or 12.5 (English), never "8E+1"
    (which is what Decimal.normalize() makes of 80.00)."""
    value = Decimal(value).normalize()
    if value == value.to_integral_value():
        value = value.quantize(Decimal(1))
    return formats.number_format(value)


def _fmt(moment: datetime | date) -> str:
    if isinstance(moment, datetime):
        return formats.date_format(timezone.localtime(moment), "d-m-Y H:i")
    return formats.date_format(moment, "d-m-Y")


# --- access log ------------------------------------------------------------------------------


def access_log(
    *,
    user: User,
    client: Client,
    action: str,
    obj: Any = None,
    detail: str = "",
    on_behalf_of: User | None = None,
) -> AccessLogEntry:
    return AccessLogEntry.objects.create(
        tenant_id=client.tenant_id,
        user=user,
        on_behalf_of=on_behalf_of,
        client=client,
        action=action,
        object_type=obj._meta.model_name if obj is not None else "",
        object_id=str(obj.pk) if obj is not None else "",
        detail=detail[:200],
    )


# Which row a state came from, not a fact of it: a corrected delivery always has a new delivery event.
BOOKKEEPING_KEYS = frozenset({"event", "child"})  # "child": the number, already in the name


def changed_fields(before: Any, after: Any, prefix: str = "") -> list[str]:
    """The names of what differs between two recorded states (dicts, lists of children by number, or plain
    values): `labour_started_at`, `children.2.weight_grams` (a child added or removed: each of her recorded fields). What
    the audit trail keeps of a clinical change: which fields, never their values."""
    if isinstance(before, dict) or isinstance(after, dict):
        old, new = before or {}, after or {}
        names: list[str] = []
        for key in sorted(set(old) | set(new), key=str):
            if key in BOOKKEEPING_KEYS:
                continue
            name = f"{prefix}{key}"
            if key == "children":
                names += _children_changed(old.get(key) or [], new.get(key) or [], f"{name}.")
            elif old.get(key) != new.get(key):
                names.append(name)
        return names
    return [] if before == after else [prefix.rstrip(".") or "value"]


def _children_changed(old: list[dict[str, Any]], new: list[dict[str, Any]], prefix: str) -> list[str]:
    by_number = ({c.get("child"): c for c in old}, {c.get("child"): c for c in new})
    names: list[str] = []
    for number in sorted(set(by_number[0]) | set(by_number[1]), key=str):
        names += changed_fields(by_number[0].get(number), by_number[1].get(number), f"{prefix}{number}.")
    return names


def clinical_revision_record(
    *, episode: Episode, actor: User, kind: str, before: Any, after: Any, reason: str = ""
) -> ClinicalRevision:
    """Keep a clinical change in the client's record (its values and reason: the episode's history page,
    access-logged), for the audit entry to name by id and field names only."""
    return ClinicalRevision.objects.create(
        tenant_id=episode.tenant_id,
        episode=episode,
        kind=kind,
        changed_by=actor,
        reason=reason,
        fields=changed_fields(before, after),
        before=before,
        after=after,
    )


def access_log_many(
    *,
    user: User,
    clients: Iterable[Client | int],
    action: str,
    detail: str = "",
    tenant_id: int | None = None,
) -> int:
    """One entry per distinct client shown (Client rows or client ids), written in one INSERT: a page, an
    API answer or a file with many clients costs one query, not one per client. Returns the number written.

    `tenant_id` is the IGO whose log it is (the data controller): by default the tenant in scope, else the
    client's. Pass it where no tenant is in scope, e.g. an insurer user reading an IGO's batch; clients of
    one call belong to that one IGO.
    """
    scoped = current_tenant_or_none()
    tenant = tenant_id if tenant_id is not None else (scoped.pk if scoped is not None else None)
    seen: dict[int, int] = {}
    for c in clients:
        if isinstance(c, int):
            if tenant is None:
                raise ValueError("access_log_many: client ids need a tenant (tenant_id or a tenant in scope)")
            seen.setdefault(c, tenant)
        elif c.pk is not None:
            seen.setdefault(c.pk, tenant if tenant is not None else c.tenant_id)
    rows = [
        AccessLogEntry(
            tenant_id=owner,
            user=user,
            client_id=pk,
            action=action,
            object_type="client",
            object_id=str(pk),
            detail=detail[:200],
        )
        for pk, owner in seen.items()
    ]
    if rows:
        # `unscoped`: the rows name their tenant; the scoped manager would refuse an insurer's request.
        AccessLogEntry.unscoped.bulk_create(rows)
    return len(rows)


def touch_episodes(*episode_ids: int) -> None:
    """Record that what may be billed for these episodes changed (the billing sweep picks them up)."""
    Episode.objects.filter(pk__in=episode_ids).update(changed_at=timezone.now())


# --- clients and insurance -------------------------------------------------------------------


@transaction.atomic
def client_create(
    *,
    tenant: Tenant,
    actor: User,
    family_name: str,
    given_names: str,
    date_of_birth: date,
    bsn: str,
    postcode: str = "",
    address: str = "",
    city: str = "",
    phone: str = "",
    gp_name: str = "",
    insurer: Insurer,
    policy_number: str,
    insured_from: date,
    today: date | None = None,
) -> Client:
    bsn = (bsn or "").strip()
    client = Client(
        tenant=tenant,
        family_name=family_name.strip(),
        given_names=given_names.strip(),
        date_of_birth=date_of_birth,
        bsn=bsn,
        postcode=(postcode or "").replace(" ", "").upper(),
        address=(address or "").strip(),
        city=(city or "").strip(),
        phone=(phone or "").strip(),
        gp_name=(gp_name or "").strip(),
    )
    errors: dict[str, list[str]] = {}
    try:
        client.full_clean(exclude=["tenant"], validate_unique=False, validate_constraints=False)
    except ValidationError as exc:
        errors.update(exc.message_dict)
    if date_of_birth and date_of_birth > (today or timezone.localdate()):
        errors.setdefault("date_of_birth", []).append(_("The date of birth lies in the future."))
    if client.phone and not PHONE_RE.fullmatch(client.phone):
        errors.setdefault("phone", []).append(
            _("Enter a phone number in digits; a leading +, spaces and hyphens are allowed.")
        )
    if not errors.get("bsn") and Client.unscoped.filter(tenant=tenant, bsn=bsn).exists():
        errors.setdefault("bsn", []).append(_("A client with this BSN is already registered in this IGO."))
    for name, value in (("family_name", family_name), ("given_names", given_names)):
        try:
            name_check(value)
        except ValidationError as exc:
            errors.setdefault(name, []).extend(exc.messages)
    try:
        policy_number = insured_number_check(policy_number)
    except ValidationError as exc:
        errors.setdefault("policy_number", []).extend(exc.messages)
    if errors:
        raise ValidationError(errors)
    try:
        with transaction.atomic():
            client.save()
    except IntegrityError as exc:
        raise ValidationError(
            {"bsn": _("A client with this BSN is already registered in this IGO.")}
        ) from exc
    ClientInsurance.objects.create(
        tenant=tenant,
        client=client,
        insurer=insurer,
        policy_number=policy_number,
        valid_from=insured_from,
    )
    access_log(user=actor, client=client, action=AccessAction.CREATE, obj=client)
    return client


@transaction.atomic
def insurance_change(
    *, client: Client, actor: User, insurer: Insurer, policy_number: str, valid_from: date
) -> ClientInsurance:
    """Record a new insurer from a date; the open insurance before it ends the day before."""
    try:
        policy_number = insured_number_check(policy_number)
    except ValidationError as exc:
        raise ValidationError({"policy_number": exc.messages}) from None
    insurances = list(
        ClientInsurance.objects.select_for_update().filter(client=client).order_by("valid_from")
    )
    if any(i.valid_from >= valid_from for i in insurances):
        raise ValidationError(
            {"valid_from": _("The client already has an insurance from this date or later.")}
        )
    for previous in insurances:
        if previous.valid_until is None or previous.valid_until >= valid_from:
            previous.valid_until = valid_from - timedelta(days=1)
            previous.save(update_fields=["valid_until"])
    new = ClientInsurance.objects.create(
        tenant_id=client.tenant_id,
        client=client,
        insurer=insurer,
        policy_number=policy_number,
        valid_from=valid_from,
    )
    touch_episodes(*Episode.objects.filter(client=client).values_list("pk", flat=True))
    access_log(user=actor, client=client, action=AccessAction.UPDATE, obj=new, detail="insurance")
    # The change in the audit trail too: it moves the claims to another insurer. The insurer and the date, not
    # the policy number (the client's own data stays in her record and the access log).
    audit_record(
        actor=actor,
        action="client.insurance_change",
        tenant=client.tenant,
        obj=new,
        insurer=insurer.uzovi_code,
        valid_from=str(valid_from),
        previous=[str(i.pk) for i in insurances if i.valid_until == valid_from - timedelta(days=1)],
    )
    return new


# --- episodes ------------------------------------------------------------------------------


def derive_gestational_age(*, intake_date: date, due_date: date) -> int:
    return TERM_DAYS - (due_date - intake_date).days


# How a pregnancy is dated, as the intake and a new pregnancy take it; the service decides the due date.
DATING_FIELDS = ("dating_method", "lmp_date", "ultrasound_on", "ultrasound_gestational_days", "due_date")
# A dating ultrasound measures from 6+0 weeks (earlier there is nothing to measure) up to 24+0 (later the
# size of the child no longer tells its age well enough to date the pregnancy by).
ULTRASOUND_DATING_DAYS = (6 * 7, 24 * 7)
# Where an impossible due date is reported: on the field the clinician entered it from.
_DATING_SOURCE = {
    DatingMethod.LMP: "lmp_date",
    DatingMethod.ULTRASOUND: "ultrasound_gestational_days",
    DatingMethod.DUE_DATE: "due_date",
}


def pregnancy_due_date(
    *,
    dating_method: str,
    today: date,
    intake_date: date | None = None,
    due_date: date | None = None,
    lmp_date: date | None = None,
    ultrasound_on: date | None = None,
    ultrasound_gestational_days: int | None = None,
) -> date:
    """The due date from the dating chosen: the last menstrual period (Naegele), an ultrasound (the age it
    measured on its day) or a due date as given. This is the one that counts; a page may show it earlier.
    Raises field-level errors for what is missing or impossible."""
    errors: dict[str, list[str]] = {}
    result: date | None = None
    if dating_method == DatingMethod.LMP:
        if lmp_date is None:
            errors["lmp_date"] = [_("Enter the first day of the last menstrual period.")]
        elif lmp_date > (intake_date or today):
            errors["lmp_date"] = [_("The last menstrual period cannot lie after the intake date.")]
        else:
            result = dating.due_date_from_lmp(lmp_date)
    elif dating_method == DatingMethod.ULTRASOUND:
        low, high = ULTRASOUND_DATING_DAYS
        if ultrasound_on is None:
            errors["ultrasound_on"] = [_("Enter the date of the dating ultrasound.")]
        elif ultrasound_on > today:
            errors["ultrasound_on"] = [_("The ultrasound date lies in the future.")]
        if ultrasound_gestational_days is None:
            errors["ultrasound_gestational_days"] = [_("Enter the gestational age the ultrasound measured.")]
        elif not low <= ultrasound_gestational_days <= high:
            errors["ultrasound_gestational_days"] = [
                _("A dating ultrasound measures between %(low)s and %(high)s weeks of pregnancy.")
                % {"low": dating.gestational_age_label(low), "high": dating.gestational_age_label(high)}
            ]
        if not errors and ultrasound_on is not None and ultrasound_gestational_days is not None:
            result = dating.due_date_from_ultrasound(
                scanned_on=ultrasound_on, gestational_days=ultrasound_gestational_days
            )
    elif dating_method == DatingMethod.DUE_DATE:
        if due_date is None:
            errors["due_date"] = [_("Enter the expected due date.")]
        result = due_date
    else:
        errors["dating_method"] = [_("Choose how the pregnancy is dated.")]
    if errors or result is None:
        raise ValidationError(errors)
    return result


def pregnancy_numbers_check(*, gravida: int | None, parity: int) -> int:
    """Gravida (pregnancies, this one included) and parity (earlier births from 24 weeks); gravida is
    parity + 1 when not given. Returns gravida, or raises field-level errors."""
    gravida = parity + 1 if gravida is None else gravida
    errors: dict[str, list[str]] = {}
    if not 1 <= gravida <= 30:
        errors["gravida"] = [_("Gravida counts the pregnancies, this one included: between 1 and 30.")]
    if not 0 <= parity <= 20:
        errors["parity"] = [_("Parity lies between 0 and 20.")]
    elif not errors and parity >= gravida:
        errors["parity"] = [
            _("Parity (earlier births from 24 weeks) must be lower than gravida (pregnancies with this one).")
        ]
    if errors:
        raise ValidationError(errors)
    return gravida


def _merge(errors: dict[str, list[Any]], exc: ValidationError) -> None:
    for field, messages in (
        exc.error_dict.items() if hasattr(exc, "error_dict") else [("__all__", exc.error_list)]
    ):
        errors.setdefault(field, []).extend(messages)


@transaction.atomic
def episode_create(
    *,
    tenant: Tenant,
    actor: User,
    client: Client,
    intake_date: date,
    due_date: date | None = None,
    dating_method: str = DatingMethod.DUE_DATE,
    lmp_date: date | None = None,
    ultrasound_on: date | None = None,
    ultrasound_gestational_days: int | None = None,
    gestational_age_at_intake: int | None = None,
    gravida: int | None = None,
    parity: int = 0,
    kraamzorg_organisation: MemberOrganisation | None = None,
    coordinating_professional: Professional | None = None,
    line: str = Line.FIRST,
    today: date | None = None,
) -> Episode:
    """A pregnancy episode of a client, dated as chosen (`pregnancy_due_date`), with its first line.
    Refused while she has an active episode (error code `active_episode`, its id in the params)."""
    today = today or timezone.localdate()
    errors: dict[str, list[Any]] = {}

    def err(field: str, message: str) -> None:
        errors.setdefault(field, []).append(message)

    if intake_date > today:
        err("intake_date", _("The intake date lies in the future."))
    try:
        due: date | None = pregnancy_due_date(
            dating_method=dating_method,
            today=today,
            intake_date=intake_date,
            due_date=due_date,
            lmp_date=lmp_date,
            ultrasound_on=ultrasound_on,
            ultrasound_gestational_days=ultrasound_gestational_days,
        )
    except ValidationError as exc:
        _merge(errors, exc)
        due = None
    derived = 0
    if due is not None:
        source = _DATING_SOURCE[DatingMethod(dating_method)]
        derived = derive_gestational_age(intake_date=intake_date, due_date=due)
        if due <= intake_date:
            err(source, _("The due date must lie after the intake date."))
        elif derived < 0:
            err(
                source,
                _(
                    "A due date more than 40 weeks after the intake is impossible (gestational age below zero)."
                ),
            )
        elif derived > 44 * 7:
            err(source, _("This due date means more than 44 weeks of pregnancy at intake."))
    if gestational_age_at_intake is not None and not errors and abs(gestational_age_at_intake - derived) > 14:
        err(
            "gestational_age_at_intake",
            _("Gestational age %(entered)s days does not match the due date (%(derived)s days); check both.")
            % {"entered": gestational_age_at_intake, "derived": derived},
        )
    counted_gravida = parity + 1
    try:
        counted_gravida = pregnancy_numbers_check(gravida=gravida, parity=parity)
    except ValidationError as exc:
        _merge(errors, exc)
    if kraamzorg_organisation is not None and (
        kraamzorg_organisation.tenant_id != tenant.pk
        or kraamzorg_organisation.kind != OrganisationKind.KRAAMZORG
        or (kraamzorg_organisation.member_until and kraamzorg_organisation.member_until < intake_date)
    ):
        err("kraamzorg_organisation", _("Choose one of the IGO's maternity-care organisations."))
    if client.date_of_birth and intake_date <= client.date_of_birth:
        err("intake_date", _("The intake date lies before the client's date of birth."))
    active = Episode.objects.filter(client=client, status=EpisodeStatus.ACTIVE).first()
    if active is not None:
        errors.setdefault("__all__", []).append(
            ValidationError(
                _(
                    "This client already has an active pregnancy (intake %(date)s): end it before starting "
                    "a new one."
                ),
                code="active_episode",
                params={"date": _fmt(active.intake_date), "episode": active.pk},
            )
        )
    if errors or due is None:
        raise ValidationError(errors)
    episode = Episode.objects.create(
        tenant=tenant,
        client=client,
        intake_date=intake_date,
        due_date=due,
        gestational_age_at_intake=gestational_age_at_intake
        if gestational_age_at_intake is not None
        else derived,
        gravida=counted_gravida,
        parity=parity,
        dating_method=dating_method,
        lmp_date=lmp_date if dating_method == DatingMethod.LMP else None,
        ultrasound_on=ultrasound_on if dating_method == DatingMethod.ULTRASOUND else None,
        ultrasound_gestational_days=ultrasound_gestational_days
        if dating_method == DatingMethod.ULTRASOUND
        else None,
        kraamzorg_organisation=kraamzorg_organisation,
        coordinating_professional=coordinating_professional,
    )
    start = timezone.make_aware(datetime.combine(intake_date, datetime.min.time()))
    LineTransfer.objects.create(
        tenant=tenant,
        episode=episode,
        line=line,
        effective_at=start,
        reason=str(_("At intake")),
        created_by=actor,
    )
    access_log(user=actor, client=client, action=AccessAction.CREATE, obj=episode)
    return episode


INTAKE_EVENT_CODE = "INTAKE"  # the catalogue entry the intake logs (pregnancies.catalogue)


def _intake_event_log(*, episode: Episode, actor: User, now: datetime) -> CareEvent | None:
    """The intake's own care event, for the professional who took her in, in the intake's transaction.

    None when the actor is not a linked professional whose discipline logs intakes (the catalogue says
    who), or the IGO retired the entry: the episode stands, and the intake is logged by whoever did it."""
    professional = professional_for(user=actor)
    event_type = EventType.objects.filter(code=INTAKE_EVENT_CODE, is_active=True).first()
    if professional is None or event_type is None or professional.discipline not in event_type.disciplines:
        return None
    local_now = timezone.localtime(now).replace(second=0, microsecond=0)
    # An intake entered on its day is logged at that moment; one entered afterwards at the start of its
    # day, its time being unknown (the first line starts there too).
    occurred_at = (
        local_now
        if local_now.date() == episode.intake_date
        else timezone.make_aware(datetime.combine(episode.intake_date, datetime.min.time()))
    )
    event, _created, _warnings = care_event_log(
        actor=actor,
        episode=episode,
        event_type=event_type,
        occurred_at=occurred_at,
        professional=professional,
    )
    return event


# The episode's fields of an intake or a new pregnancy, as the page and the API pass them on.
PREGNANCY_FIELDS = (
    "intake_date",
    *DATING_FIELDS,
    "gestational_age_at_intake",
    "gravida",
    "parity",
    "line",
    "kraamzorg_organisation",
)
CLIENT_CONTACT_FIELDS = ("address", "postcode", "city", "phone", "gp_name")
INTAKE_FIELDS = (
    "family_name",
    "given_names",
    "date_of_birth",
    "bsn",
    *CLIENT_CONTACT_FIELDS,
    "insurer",
    "policy_number",
    *PREGNANCY_FIELDS,
)


def _episode_at_intake(
    *, client: Client, actor: User, today: date, now: datetime, **pregnancy: Any
) -> Episode:
    """The episode an intake opens, a client's first pregnancy or a later one: the professional who takes
    her in coordinates it, and the intake's care event is logged for her. `pregnancy` holds the dating,
    the counts, the line and the maternity-care organisation (PREGNANCY_FIELDS), as episode_create takes
    them."""
    episode = episode_create(
        tenant=client.tenant,
        actor=actor,
        client=client,
        coordinating_professional=professional_for(user=actor),
        today=today,
        **pregnancy,
    )
    _intake_event_log(episode=episode, actor=actor, now=now)
    return episode


@transaction.atomic
def intake_register(
    *,
    tenant: Tenant,
    actor: User,
    family_name: str,
    given_names: str,
    date_of_birth: date,
    bsn: str,
    insurer: Insurer,
    policy_number: str,
    intake_date: date,
    dating_method: str = DatingMethod.DUE_DATE,
    due_date: date | None = None,
    lmp_date: date | None = None,
    ultrasound_on: date | None = None,
    ultrasound_gestational_days: int | None = None,
    gestational_age_at_intake: int | None = None,
    gravida: int | None = None,
    parity: int = 0,
    line: str = Line.FIRST,
    kraamzorg_organisation: MemberOrganisation | None = None,
    address: str = "",
    postcode: str = "",
    city: str = "",
    phone: str = "",
    gp_name: str = "",
    today: date | None = None,
    now: datetime | None = None,
) -> tuple[Client, Episode]:
    """A new client with her insurance and first episode, and the intake's care event for the professional
    who took her in: all of it, or (on any error) none of it."""
    now = now or timezone.now()
    today = today or timezone.localdate(now)
    client = client_create(
        tenant=tenant,
        actor=actor,
        family_name=family_name,
        given_names=given_names,
        date_of_birth=date_of_birth,
        bsn=bsn,
        address=address,
        postcode=postcode,
        city=city,
        phone=phone,
        gp_name=gp_name,
        insurer=insurer,
        policy_number=policy_number,
        insured_from=intake_date,
        today=today,
    )
    episode = _episode_at_intake(
        client=client,
        actor=actor,
        today=today,
        now=now,
        intake_date=intake_date,
        due_date=due_date,
        dating_method=dating_method,
        lmp_date=lmp_date,
        ultrasound_on=ultrasound_on,
        ultrasound_gestational_days=ultrasound_gestational_days,
        gestational_age_at_intake=gestational_age_at_intake,
        gravida=gravida,
        parity=parity,
        kraamzorg_organisation=kraamzorg_organisation,
        line=line,
    )
    return client, episode


@transaction.atomic
def pregnancy_start(
    *,
    client: Client,
    actor: User,
    today: date,
    now: datetime | None = None,
    intake_date: date,
    dating_method: str = DatingMethod.DUE_DATE,
    due_date: date | None = None,
    lmp_date: date | None = None,
    ultrasound_on: date | None = None,
    ultrasound_gestational_days: int | None = None,
    gestational_age_at_intake: int | None = None,
    gravida: int | None = None,
    parity: int | None = None,
    line: str = Line.FIRST,
    kraamzorg_organisation: MemberOrganisation | None = None,
) -> Episode:
    """A new pregnancy of a client the IGO already knows, with the intake's care event, checked as an
    intake is. Gravida and parity not given are derived from her earlier episodes
    (`selectors.pregnancy_numbers_next`). Refused while she has an active episode."""
    # The client's row is locked, so that two starts at once (a double click, two colleagues) make one.
    client = Client.objects.select_for_update().get(pk=client.pk)
    suggested_gravida, suggested_parity = selectors.pregnancy_numbers_next(client=client)
    return _episode_at_intake(
        client=client,
        actor=actor,
        today=today,
        now=now or timezone.now(),
        intake_date=intake_date,
        due_date=due_date,
        dating_method=dating_method,
        lmp_date=lmp_date,
        ultrasound_on=ultrasound_on,
        ultrasound_gestational_days=ultrasound_gestational_days,
        gestational_age_at_intake=gestational_age_at_intake,
        gravida=suggested_gravida if gravida is None else gravida,
        parity=suggested_parity if parity is None else parity,
        kraamzorg_organisation=kraamzorg_organisation,
        line=line,
    )


KEY_DATE_FIELDS = (
    "labour_started_at",
    "placenta_plus_2h_at",
    "hospital_admitted_at",
    "hospital_discharged_at",
    "kraamzorg_ended_on",
    "postnatal_ended_on",
)


class _Keep(Enum):
    KEEP = "keep"


KEEP = _Keep.KEEP  # "leave this value as it is", where None would clear it


@transaction.atomic
def episode_set_key_dates(
    *,
    episode: Episode,
    actor: User,
    labour_started_at: datetime | _Keep | None = KEEP,
    placenta_plus_2h_at: datetime | _Keep | None = KEEP,
    hospital_admitted_at: datetime | _Keep | None = KEEP,
    hospital_discharged_at: datetime | _Keep | None = KEEP,
    kraamzorg_ended_on: date | _Keep | None = KEEP,
    postnatal_ended_on: date | _Keep | None = KEEP,
) -> Episode:
    """Set the care-path dates (a date left out stays, None clears it). Refused when they contradict each
    other or the events already logged."""
    episode = Episode.objects.select_for_update().get(pk=episode.pk)
    values = {
        "labour_started_at": labour_started_at,
        "placenta_plus_2h_at": placenta_plus_2h_at,
        "hospital_admitted_at": hospital_admitted_at,
        "hospital_discharged_at": hospital_discharged_at,
        "kraamzorg_ended_on": kraamzorg_ended_on,
        "postnatal_ended_on": postnatal_ended_on,
    }
    for key, value in values.items():
        if value is not KEEP:
            setattr(episode, key, value)
    errors: dict[str, list[str]] = {}
    intake_start = timezone.make_aware(datetime.combine(episode.intake_date, datetime.min.time()))
    now = timezone.now() + FUTURE_TOLERANCE
    for key in ("labour_started_at", "placenta_plus_2h_at", "hospital_admitted_at", "hospital_discharged_at"):
        moment = getattr(episode, key)
        if moment is not None and moment < intake_start:
            errors.setdefault(key, []).append(_("This lies before the intake date."))
        # Placenta + 2 hours may lie up to two hours ahead: the placenta itself has been born.
        ahead = timedelta(hours=2) if key == "placenta_plus_2h_at" else timedelta(0)
        if moment is not None and moment > now + ahead:
            errors.setdefault(key, []).append(_("This lies in the future."))
    if episode.placenta_plus_2h_at and not episode.labour_started_at:
        errors.setdefault("labour_started_at", []).append(_("Enter the start of active labour first."))
    if (
        episode.placenta_plus_2h_at
        and episode.labour_started_at
        and episode.placenta_plus_2h_at <= episode.labour_started_at
    ):
        errors.setdefault("placenta_plus_2h_at", []).append(
            _("This must lie after the start of active labour.")
        )
    if episode.hospital_discharged_at and (
        not episode.hospital_admitted_at or episode.hospital_discharged_at < episode.hospital_admitted_at
    ):
        errors.setdefault("hospital_discharged_at", []).append(_("Discharge must lie after admission."))
    for key in ("kraamzorg_ended_on", "postnatal_ended_on"):
        day = getattr(episode, key)
        if day is not None and (
            episode.placenta_plus_2h_at is None or day < timezone.localdate(episode.placenta_plus_2h_at)
        ):
            errors.setdefault(key, []).append(_("This must lie on or after the birth."))
    if episode.kraamzorg_ended_on is not None and "kraamzorg_ended_on" not in errors:
        latest = _latest_kraamzorg_hours(episode)
        if latest is not None and timezone.localdate(latest.occurred_at) > episode.kraamzorg_ended_on:
            errors.setdefault("kraamzorg_ended_on", []).append(
                _(
                    "Kraamzorg hours are logged after this day (the latest on %(when)s): "
                    "correct those hours or choose a later end."
                )
                % {"when": _fmt(latest.occurred_at)}
            )
    if not errors:
        conflicts = [
            ev
            for ev in CareEvent.objects.filter(episode=episode, status=EventStatus.ACTIVE).select_related(
                "event_type"
            )
            if ev.event_type.phase and episode.phase_at(ev.occurred_at) != ev.event_type.phase
        ]
        if conflicts:
            first = conflicts[0]
            errors.setdefault("__all__", []).append(
                ngettext(
                    "%(count)s logged event would fall in another phase: %(type)s on %(when)s. "
                    "Correct that event or the dates.",
                    "%(count)s logged events would fall in another phase, e.g. %(type)s on %(when)s. "
                    "Correct those events or the dates.",
                    len(conflicts),
                )
                % {"count": len(conflicts), "type": first.event_type.name, "when": _fmt(first.occurred_at)}
            )
    if errors:
        raise ValidationError(errors)
    episode.save(update_fields=list(KEY_DATE_FIELDS))
    # Events of a type that is valid in every phase (e.g. a referral) move with the dates.
    moved = [
        ev
        for ev in CareEvent.objects.filter(episode=episode, status=EventStatus.ACTIVE, event_type__phase="")
        if ev.phase != episode.phase_at(ev.occurred_at)
    ]
    for ev in moved:
        ev.phase = episode.phase_at(ev.occurred_at)
    CareEvent.objects.bulk_update(moved, ["phase"])
    touch_episodes(episode.pk)
    access_log(user=actor, client=episode.client, action=AccessAction.UPDATE, obj=episode, detail="key dates")
    return episode


@transaction.atomic
def birth_record(
    *,
    episode: Episode,
    actor: User,
    child_number: int,
    born_at: datetime,
    outcome: str,
    place: str,
    mode: str,
    weight_grams: int | None = None,
) -> Birth:
    obstetric_professional_for(actor=actor)
    errors: dict[str, list[str]] = {}
    intake_start = timezone.make_aware(datetime.combine(episode.intake_date, datetime.min.time()))
    if born_at < intake_start:
        errors.setdefault("born_at", []).append(_("A birth cannot lie before the intake date."))
    if born_at > timezone.now() + FUTURE_TOLERANCE:
        errors.setdefault("born_at", []).append(_("This lies in the future."))
    if episode.labour_started_at and born_at < episode.labour_started_at:
        errors.setdefault("born_at", []).append(_("The birth lies before the start of active labour."))
    if episode.placenta_plus_2h_at and born_at > episode.placenta_plus_2h_at:
        errors.setdefault("born_at", []).append(_("The birth lies after placenta + 2 hours."))
    if Birth.objects.filter(episode=episode, child_number=child_number).exists():
        errors.setdefault("child_number", []).append(_("This child has already been recorded."))
    if errors:
        raise ValidationError(errors)
    birth = Birth(
        tenant_id=episode.tenant_id,
        episode=episode,
        child_number=child_number,
        born_at=born_at,
        outcome=outcome,
        place=place,
        mode=mode,
        weight_grams=weight_grams,
    )
    birth.full_clean(exclude=["tenant", "episode"], validate_constraints=False)
    birth.save()
    touch_episodes(episode.pk)  # the quality sweep recomputes the month of the birth
    access_log(user=actor, client=episode.client, action=AccessAction.CREATE, obj=birth)
    return birth


@transaction.atomic
def episode_set_outcomes(
    *,
    episode: Episode,
    actor: User,
    blood_loss_ml: int | None,
    kraamzorg_indicated_hours: int | None,
    breastfeeding_at_kraamzorg_end: str | None = None,
    severe_morbidity: list[str] | None = None,
) -> Episode:
    """Record the mother's blood loss at delivery, the kraamzorg hours indicated (LIP), breastfeeding at
    the end of kraamzorg (None: left as it was; "": not recorded) and the LEMMoN criteria of severe
    maternal morbidity she met (None: left as it was; []: not recorded; ["none"]: none of them). Hours
    other than those in force are a re-indication dated today (kraamzorg_indication_record); no hours leave
    the indication as it is. A change of the LEMMoN criteria is audited (`episode.severe_morbidity`)."""
    episode = Episode.objects.select_for_update().get(pk=episode.pk)
    errors: dict[str, list[str]] = {}
    delivered = episode.labour_started_at is not None or Birth.objects.filter(episode=episode).exists()
    if blood_loss_ml is not None:
        if not delivered:
            errors.setdefault("blood_loss_ml", []).append(_("Record the delivery first."))
        if not 0 <= blood_loss_ml <= 20000:
            errors.setdefault("blood_loss_ml", []).append(_("Enter a blood loss between 0 and 20,000 ml."))
    if kraamzorg_indicated_hours is not None and not 0 <= kraamzorg_indicated_hours <= 80:
        errors.setdefault("kraamzorg_indicated_hours", []).append(
            _("The national indication protocol allows at most 80 hours.")
        )
    if breastfeeding_at_kraamzorg_end and breastfeeding_at_kraamzorg_end not in Breastfeeding.values:
        errors.setdefault("breastfeeding_at_kraamzorg_end", []).append(_("Choose how she fed her child."))
    morbidity = _severe_morbidity(severe_morbidity, delivered=delivered, errors=errors)
    if errors:
        raise ValidationError(errors)
    if (
        kraamzorg_indicated_hours is not None
        and kraamzorg_indicated_hours != episode.kraamzorg_indicated_hours
    ):
        # Other hours than the indication in force: a re-indication, dated today (a recorded indication
        # is never removed; an empty field leaves it as it is).
        try:
            kraamzorg_indication_record(
                episode=episode,
                actor=actor,
                hours=kraamzorg_indicated_hours,
                indicated_on=max(timezone.localdate(), episode.intake_date),
            )
        except ValidationError as exc:
            raise ValidationError(
                {"kraamzorg_indicated_hours": [m for ms in exc.message_dict.values() for m in ms]}
            ) from exc
        episode.refresh_from_db(fields=["kraamzorg_indicated_hours"])
    episode.blood_loss_ml = blood_loss_ml
    fields = ["blood_loss_ml"]
    if breastfeeding_at_kraamzorg_end is not None:
        episode.breastfeeding_at_kraamzorg_end = breastfeeding_at_kraamzorg_end
        fields.append("breastfeeding_at_kraamzorg_end")
    before = episode.severe_morbidity
    if severe_morbidity is not None:
        episode.severe_morbidity = morbidity
        fields.append("severe_morbidity")
    episode.save(update_fields=fields)
    touch_episodes(episode.pk)
    access_log(user=actor, client=episode.client, action=AccessAction.UPDATE, obj=episode, detail="outcomes")
    if severe_morbidity is not None and morbidity != before:
        # The criteria themselves go to the record's own history, the audit entry names the change only.
        revision = clinical_revision_record(
            episode=episode,
            actor=actor,
            kind=ClinicalRevision.Kind.SEVERE_MORBIDITY,
            before={"severe_morbidity": before},
            after={"severe_morbidity": morbidity},
        )
        audit_record(
            actor=actor,
            action="episode.severe_morbidity",
            tenant=episode.tenant,
            obj=episode,
            fields=revision.fields,
            revision=revision.pk,
        )
    return episode


def _severe_morbidity(
    codes: list[str] | None, *, delivered: bool, errors: dict[str, list[str]]
) -> list[str] | None:
    """The LEMMoN criteria as stored: None (not recorded) for no codes, [] for "none", else the codes
    sorted in the criteria's order. Field errors: an unknown code, "none" beside a criterion, a record
    before the delivery."""
    if not codes:
        return None
    field_errors = errors.setdefault("severe_morbidity", [])
    if not delivered:
        field_errors.append(_("Record the delivery first."))
    unknown = set(codes) - {LEMMON_NONE, *LemmonCriterion.values}
    if unknown:
        field_errors.append(_("Choose the criteria from the list."))
    elif LEMMON_NONE in codes and len(set(codes)) > 1:
        field_errors.append(_('Choose either "none of these" or the criteria she met, not both.'))
    if not field_errors:
        del errors["severe_morbidity"]
    return [c for c in LemmonCriterion.values if c in codes]


@transaction.atomic
def kraamzorg_indication_record(
    *, episode: Episode, actor: User, hours: int | None, indicated_on: date | None, today: date | None = None
) -> KraamzorgIndication:
    """Record a kraamzorg indication (LIP) with its date: the intake indication or a later re-indication.
    Earlier indications stay as they were (the history is what the quality indicator reads: the one in
    force at the end of kraamzorg). The episode's current hours become those of its newest indication.
    Refused with field errors, nothing stored: hours outside 0..80, a date in the future or before the
    intake, an ended episode."""
    today = today or timezone.localdate()
    episode = Episode.objects.select_for_update().select_related("client").get(pk=episode.pk)
    errors: dict[str, list[str]] = {}
    if hours is None or not 0 <= hours <= KRAAMZORG_MAX_HOURS:
        errors["hours"] = [
            _("Enter the hours indicated, from 0 to %(max)s.") % {"max": number(KRAAMZORG_MAX_HOURS)}
        ]
    if indicated_on is None:
        errors["indicated_on"] = [_("Enter the date of the indication.")]
    elif indicated_on > today:
        errors["indicated_on"] = [_("The date of the indication cannot be in the future.")]
    elif indicated_on < episode.intake_date:
        errors["indicated_on"] = [_("The date of the indication cannot be before the intake.")]
    if episode.status != EpisodeStatus.ACTIVE:
        errors.setdefault("hours", []).append(_("This episode has ended."))
    if errors:
        raise ValidationError(errors)
    assert hours is not None and indicated_on is not None
    indication = KraamzorgIndication.objects.create(
        tenant_id=episode.tenant_id, episode=episode, indicated_on=indicated_on, hours=hours, created_by=actor
    )
    newest = KraamzorgIndication.objects.filter(episode=episode).order_by("indicated_on", "pk").last()
    assert newest is not None
    episode.kraamzorg_indicated_hours = newest.hours
    episode.save(update_fields=["kraamzorg_indicated_hours"])
    touch_episodes(episode.pk)  # the hours below the (re-)indication are a quality indicator
    access_log(
        user=actor, client=episode.client, action=AccessAction.UPDATE, obj=episode, detail="indication"
    )
    audit_record(
        actor=actor,
        action="kraamzorg.indication",
        tenant=episode.tenant,
        obj=indication,
        episode_id=episode.pk,
        hours=hours,
        date=indicated_on.isoformat(),
    )
    return indication


def episode_set_kraamzorg_indication(
    *,
    episode: Episode,
    actor: User,
    hours: int | None,
    indicated_on: date | None = None,
    today: date | None = None,
) -> Episode:
    """The day list's entry: an indication (at least 1 hour) dated on the day given, today by default."""
    today = today or timezone.localdate()
    if hours is not None and not 0 < hours <= KRAAMZORG_MAX_HOURS:
        raise ValidationError(
            {
                "hours": _("Enter the hours indicated, from 1 to %(max)s.")
                % {"max": number(KRAAMZORG_MAX_HOURS)}
            }
        )
    indication = kraamzorg_indication_record(
        episode=episode, actor=actor, hours=hours, indicated_on=indicated_on or today, today=today
    )
    return indication.episode


@transaction.atomic
def episode_set_kraamzorg_organisation(
    *,
    episode: Episode,
    actor: User,
    kraamzorg_organisation: MemberOrganisation | None,
    today: date | None = None,
) -> Episode:
    """Choose or change the episode's maternity-care organisation after the intake (None: not chosen yet).
    Only a maternity-care organisation that is a member of the IGO today can be chosen; the day list of its
    carers shows the client from the birth on (selectors.my_clients_today)."""
    today = today or timezone.localdate()
    episode = Episode.objects.select_for_update().get(pk=episode.pk)
    if episode.status != EpisodeStatus.ACTIVE:
        raise ValidationError(
            {
                "kraamzorg_organisation": _(
                    "This pregnancy has ended; its maternity care can no longer be changed."
                )
            }
        )
    chosen = kraamzorg_organisation
    if chosen is not None and (
        chosen.tenant_id != episode.tenant_id
        or chosen.kind != OrganisationKind.KRAAMZORG
        or not chosen.is_member_on(today)
    ):
        raise ValidationError(
            {
                "kraamzorg_organisation": _(
                    "Choose one of the IGO's maternity-care organisations that is a member today."
                )
            }
        )
    before = episode.kraamzorg_organisation_id
    after = chosen.pk if chosen is not None else None
    if before == after:
        return episode
    episode.kraamzorg_organisation = chosen
    episode.save(update_fields=["kraamzorg_organisation"])
    audit_record(
        actor=actor,
        action="episode.kraamzorg_organisation",
        tenant=episode.tenant,
        obj=episode,
        before=before,
        after=after,
    )
    access_log(
        user=actor,
        client=episode.client,
        action=AccessAction.UPDATE,
        obj=episode,
        detail="kraamzorg organisation",
    )
    return episode


@transaction.atomic
def birth_set_outcome(
    *, birth: Birth, actor: User, nicu_admission: bool, neonatal_death_on: date | None
) -> Birth:
    """Record what happened to a child after birth: admission to a NICU, death in the neonatal period."""
    birth = Birth.objects.select_for_update().select_related("episode__client").get(pk=birth.pk)
    errors: dict[str, list[str]] = {}
    if neonatal_death_on is not None:
        born_on = timezone.localdate(birth.born_at)
        if birth.outcome != BirthOutcome.LIVE:
            errors.setdefault("neonatal_death_on", []).append(
                _("Only a live-born child can die after birth.")
            )
        elif neonatal_death_on < born_on:
            errors.setdefault("neonatal_death_on", []).append(_("This lies before the birth."))
        elif neonatal_death_on > born_on + timedelta(days=27):  # the neonatal period: days 0 to 27
            errors.setdefault("neonatal_death_on", []).append(
                _("The neonatal period ends 28 days after birth.")
            )
        if neonatal_death_on > timezone.localdate():
            errors.setdefault("neonatal_death_on", []).append(_("This lies in the future."))
    if nicu_admission and birth.outcome != BirthOutcome.LIVE:
        errors.setdefault("nicu_admission", []).append(_("Only a live-born child can be admitted."))
    if errors:
        raise ValidationError(errors)
    birth.nicu_admission = nicu_admission
    birth.neonatal_death_on = neonatal_death_on
    birth.save(update_fields=["nicu_admission", "neonatal_death_on"])
    touch_episodes(birth.episode_id)
    access_log(
        user=actor, client=birth.episode.client, action=AccessAction.UPDATE, obj=birth, detail="outcome"
    )
    return birth


@transaction.atomic
def line_transfer(
    *, episode: Episode, actor: User, line: str, effective_at: datetime, reason: str
) -> LineTransfer:
    obstetric_professional_for(actor=actor)
    if episode.status != EpisodeStatus.ACTIVE:
        raise ValidationError(_("This pregnancy has ended; a transfer can no longer be recorded."))
    if effective_at > timezone.now() + FUTURE_TOLERANCE:
        raise ValidationError({"effective_at": _("The transfer lies in the future.")})
    if timezone.localdate(effective_at) < episode.intake_date:
        raise ValidationError(
            {
                "effective_at": _("The transfer lies before the intake (%(date)s).")
                % {"date": formats.date_format(episode.intake_date, "d-m-Y")}
            }
        )
    current = LineTransfer.objects.filter(episode=episode).order_by("-effective_at", "-pk").first()
    if current and current.line == line:
        raise ValidationError({"line": _("Responsibility already lies with this line.")})
    if current and effective_at < current.effective_at:
        raise ValidationError({"effective_at": _("A transfer cannot lie before the previous one.")})
    if not reason.strip():
        raise ValidationError({"reason": _("Give the reason for the transfer.")})
    transfer = LineTransfer.objects.create(
        tenant_id=episode.tenant_id,
        episode=episode,
        line=line,
        effective_at=effective_at,
        reason=reason.strip(),
        created_by=actor,
    )
    touch_episodes(episode.pk)  # the line at birth and transfers in labour are quality indicators
    access_log(
        user=actor, client=episode.client, action=AccessAction.UPDATE, obj=transfer, detail=f"line {line}"
    )
    return transfer


@transaction.atomic
def episode_end(*, episode: Episode, actor: User, end_date: date, end_reason: str) -> Episode:
    obstetric_professional_for(actor=actor)
    episode = Episode.objects.select_for_update().get(pk=episode.pk)
    # Ending an ended episode again corrects its end (a reason found wrong months later is billed anew:
    # tests/billing/test_late_facts.py); what it was is kept in the record (ClinicalRevision), never overwritten unseen.
    before = (
        {"end_date": str(episode.end_date), "end_reason": episode.end_reason}
        if episode.status == EpisodeStatus.ENDED
        else None
    )
    errors: dict[str, list[str]] = {}
    if end_reason not in EndReason.values:
        errors.setdefault("end_reason", []).append(_("Choose a reason."))
    elif end_reason in (EndReason.MISCARRIAGE, EndReason.TERMINATION) and episode.births.exists():
        errors.setdefault("end_reason", []).append(
            _(
                "A birth is recorded for this pregnancy, so it cannot end in a miscarriage or a termination; "
                "if the birth record is wrong, correct it first."
            )
        )
    if end_date < episode.intake_date:
        errors.setdefault("end_date", []).append(_("The end lies before the intake date."))
    if end_date > timezone.localdate():
        errors.setdefault("end_date", []).append(_("The end lies in the future."))
    last = (
        CareEvent.objects.filter(episode=episode, status=EventStatus.ACTIVE).order_by("-occurred_at").first()
    )
    if last and timezone.localdate(last.occurred_at) > end_date:
        errors.setdefault("end_date", []).append(
            _("Care was logged after this date (%(when)s).") % {"when": _fmt(last.occurred_at)}
        )
    if errors:
        raise ValidationError(errors)
    episode.status, episode.end_date, episode.end_reason = EpisodeStatus.ENDED, end_date, end_reason
    episode.save(update_fields=["status", "end_date", "end_reason"])
    if before is not None:
        revision = clinical_revision_record(
            episode=episode,
            actor=actor,
            kind=ClinicalRevision.Kind.END,
            before=before,
            after={"end_date": str(end_date), "end_reason": end_reason},
        )
        audit_record(
            actor=actor,
            action="episode.end_correct",
            tenant=episode.tenant,
            obj=episode,
            fields=revision.fields,
            revision=revision.pk,
        )
    touch_episodes(episode.pk)
    access_log(
        user=actor, client=episode.client, action=AccessAction.UPDATE, obj=episode, detail=f"end {end_reason}"
    )
    return episode


# --- catalogue -------------------------------------------------------------------------------


@transaction.atomic
def event_type_create(
    *,
    tenant: Tenant,
    actor: User,
    code: str,
    name_nl: str,
    name_en: str,
    phase: str,
    unit: str,
    disciplines: list[str],
    max_quantity: Decimal,
) -> EventType:
    if EventType.objects.filter(code=code).exists():
        raise ValidationError({"code": _("This code is already in the catalogue.")})
    event_type = EventType.objects.create(
        tenant=tenant,
        code=code,
        name_nl=name_nl,
        name_en=name_en,
        phase=phase,
        unit=unit,
        disciplines=disciplines,
        max_quantity=max_quantity,
    )
    audit_record(actor=actor, action="event_type.create", tenant=tenant, obj=event_type, code=event_type.code)
    return event_type


@transaction.atomic
def event_type_set_active(*, event_type: EventType, actor: User, active: bool) -> EventType:
    """Retire or restore a catalogue entry; logged events keep their type."""
    if event_type.is_active != active:
        event_type.is_active = active
        event_type.save(update_fields=["is_active"])
        audit_record(
            actor=actor,
            action="event_type.activate" if active else "event_type.retire",
            tenant=event_type.tenant,
            obj=event_type,
        )
    return event_type


# --- care events -----------------------------------------------------------------------------


def professional_for(*, user: User) -> Professional | None:
    return Professional.objects.select_related("organisation").filter(user=user, is_active=True).first()


# Who may take the decisions of obstetric responsibility (transfer the line, record or correct a birth,
# end an episode): midwives and gynaecologists, BIG-registered, acting as a professional of the IGO.
OBSTETRIC_DISCIPLINES = frozenset({Discipline.MIDWIFE, Discipline.CLINICAL_MIDWIFE, Discipline.GYNAECOLOGIST})


def obstetric_professional_for(*, actor: User) -> Professional:
    """The actor's active professional record of an obstetric discipline, or PermissionDenied saying why."""
    professional = professional_for(user=actor)
    if professional is None:
        raise PermissionDenied(
            _(
                "Only a midwife or gynaecologist linked to a professional of this IGO may do this; "
                "your account is not linked to one. Ask your IGO administrator."
            )
        )
    if professional.discipline not in OBSTETRIC_DISCIPLINES:
        raise PermissionDenied(
            _("Only a midwife or gynaecologist may do this; your discipline is %(discipline)s.")
            % {"discipline": professional.get_discipline_display().lower()}
        )
    return professional


def obstetric_professional_check(professional: Professional) -> Professional:
    """A professional named by the caller (a member's system names who performed the care), checked as
    `obstetric_professional_for` checks the actor's own: active and of an obstetric discipline."""
    if not professional.is_active or professional.discipline not in OBSTETRIC_DISCIPLINES:
        raise PermissionDenied(
            _("Only an active midwife or gynaecologist can be responsible for a delivery; %(name)s is not.")
            % {"name": professional.full_name}
        )
    return professional


def _validate_event(
    *,
    episode: Episode,
    event_type: EventType,
    occurred_at: datetime,
    quantity: Decimal,
    professional: Professional,
    organisation: MemberOrganisation,
    confirm_over_limit: bool,
    replacing: CareEvent | None = None,
    kraamzorg_logged: Decimal | None = None,
) -> tuple[str, list[str]]:
    """Return the phase and warnings, or raise ValidationError with field-level reasons. The one set of rules
    of a care event, for one (care_event_log, care_event_correct) or many (care_events_log_many): the latter
    passes the kraamzorg hours already logged in the episode (`kraamzorg_logged`), read once for all."""
    errors: dict[str, list[str]] = {}
    warnings: list[str] = []

    def err(field: str, message: str) -> None:
        errors.setdefault(field, []).append(message)

    if not event_type.is_active:
        err("event_type", _("This event type is no longer in use."))
    if professional.discipline not in event_type.disciplines:
        err(
            "event_type",
            _("Your discipline (%(discipline)s) may not log %(type)s.")
            % {"discipline": professional.get_discipline_display().lower(), "type": event_type.name},
        )
    if not professional.is_active:
        err("professional", _("This professional is not active."))
    if quantity is None or quantity <= 0:
        err("quantity", _("The quantity must be more than zero."))
    elif quantity > event_type.max_quantity:
        err(
            "quantity",
            _("At most %(max)s per event; this care is counted per %(unit)s.")
            % {"max": number(event_type.max_quantity), "unit": event_type.get_unit_display()},
        )
    elif event_type.unit == Unit.HOUR and (quantity * 4) != (quantity * 4).to_integral_value():
        err("quantity", _("Hours are logged in quarters (0.25)."))
    elif quantity != quantity.to_integral_value() and event_type.unit != Unit.HOUR:
        err("quantity", _("This event type is counted in whole numbers."))
    local_day = timezone.localdate(occurred_at)
    if occurred_at > timezone.now() + FUTURE_TOLERANCE:
        err("occurred_at", _("Care cannot be logged in the future."))
    if local_day < episode.intake_date:
        err(
            "occurred_at", _("This lies before the intake on %(date)s.") % {"date": _fmt(episode.intake_date)}
        )
    if episode.end_date and local_day > episode.end_date:
        err("occurred_at", _("The episode ended on %(date)s.") % {"date": _fmt(episode.end_date)})
    if episode.postnatal_ended_on and local_day > episode.postnatal_ended_on:
        err(
            "occurred_at", _("Postnatal care ended on %(date)s.") % {"date": _fmt(episode.postnatal_ended_on)}
        )
    if (
        event_type.is_kraamzorg_hours
        and episode.kraamzorg_ended_on
        and local_day > episode.kraamzorg_ended_on
        and "occurred_at" not in errors
    ):
        err(
            "occurred_at",
            _("Kraamzorg ended on %(date)s; hours after that day cannot be logged.")
            % {"date": _fmt(episode.kraamzorg_ended_on)},
        )
    if not organisation.is_member_on(local_day):
        err(
            "organisation",
            _("%(org)s was not a member of the IGO on this date.") % {"org": organisation.name},
        )
    phase = episode.phase_at(occurred_at)
    if event_type.phase and event_type.phase != phase and "occurred_at" not in errors:
        reason = {
            "prenatal": _("active labour started on %(when)s") % {"when": _fmt(episode.labour_started_at)}
            if episode.labour_started_at
            else "",
            "natal": _("this is before the start of active labour")
            if not episode.labour_started_at or occurred_at < episode.labour_started_at
            else _("placenta + 2 hours was at %(when)s") % {"when": _fmt(episode.placenta_plus_2h_at)}
            if episode.placenta_plus_2h_at
            else "",
            "postnatal": _("the natal phase has not ended at this moment")
            if episode.labour_started_at
            else _("no delivery has been recorded yet"),
        }[event_type.phase]
        err(
            "occurred_at",
            _(
                "%(type)s belongs to the %(expected)s phase, but this moment lies in the %(actual)s phase (%(reason)s)."
            )
            % {
                "type": event_type.name,
                "expected": event_type.get_phase_display().lower(),
                "actual": Phase(phase).label.lower(),
                "reason": reason,
            }
            + " "
            + _(
                "The phases follow the delivery: record or correct it under “Delivery” on the pregnancy page."
            ),
        )
    if not errors and event_type.is_kraamzorg_hours:
        logged = (
            kraamzorg_logged if kraamzorg_logged is not None else _kraamzorg_hours(episode, exclude=replacing)
        )
        total = logged + quantity
        if total > KRAAMZORG_MAX_HOURS:
            message = _(
                "With this entry the episode has %(total)s kraamzorg hours, more than the maximum of %(max)s."
            ) % {"total": number(total), "max": number(KRAAMZORG_MAX_HOURS)}
            if not confirm_over_limit:
                err("confirm_over_limit", message + " " + _("Confirm to log it anyway."))
            else:
                warnings.append(message)
        indicated = episode.kraamzorg_indicated_hours
        if indicated and total >= indicated:
            warnings.append(indication_warning(total=total, indicated=indicated))
    if errors:
        raise ValidationError(errors)
    return phase, warnings


def indication_warning(*, total: Decimal, indicated: int) -> str:
    """What a carer reads when the hours logged reach or pass the hours indicated (LIP)."""
    if total > indicated:
        return _(
            "%(total)s kraamzorg hours are logged, more than the %(indicated)s hours indicated: "
            "ask for a re-indication if more care is needed."
        ) % {"total": number(total), "indicated": number(indicated)}
    return _("%(total)s kraamzorg hours are logged: the %(indicated)s hours indicated are reached.") % {
        "total": number(total),
        "indicated": number(indicated),
    }


def _kraamzorg_type_ids() -> list[int]:
    return [t.pk for t in EventType.objects.filter(unit=Unit.HOUR) if t.is_kraamzorg_hours]


def _latest_kraamzorg_hours(episode: Episode) -> CareEvent | None:
    """The episode's latest active kraamzorg-hours entry: the end of kraamzorg may not lie before it."""
    return (
        CareEvent.objects.filter(
            episode=episode, status=EventStatus.ACTIVE, event_type_id__in=_kraamzorg_type_ids()
        )
        .order_by("-occurred_at")
        .first()
    )


def _kraamzorg_hours(episode: Episode, *, exclude: CareEvent | None = None) -> Decimal:
    qs = CareEvent.objects.filter(
        episode=episode, status=EventStatus.ACTIVE, event_type_id__in=_kraamzorg_type_ids()
    )
    if exclude is not None:
        qs = qs.exclude(pk=exclude.pk)
    return qs.aggregate(total=Sum("quantity"))["total"] or Decimal("0")


DUPLICATE_CODE = "duplicate_event"


def _window_events(*, episode: Episode, event_type: EventType, occurred_at: datetime) -> Q:
    window = timedelta(minutes=event_type.duplicate_window_minutes)
    return Q(
        episode=episode,
        event_type=event_type,
        status=EventStatus.ACTIVE,
        occurred_at__gte=occurred_at - window,
        occurred_at__lte=occurred_at + window,
    )


def _nearest(
    candidates: Iterable[CareEvent], *, event_type: EventType, occurred_at: datetime
) -> CareEvent | None:
    """Of active events of `event_type`'s episode, the one within its repeat window nearest `occurred_at`."""
    window = timedelta(minutes=event_type.duplicate_window_minutes)
    return min(
        (
            e
            for e in candidates
            if e.event_type_id == event_type.pk and abs(e.occurred_at - occurred_at) <= window
        ),
        key=lambda e: abs(e.occurred_at - occurred_at),
        default=None,
    )


# What _same_form_or_window reads of each event: enough to tell which is which; the one that matters (the
# first event of a form sent again, the nearest repeat) is read whole afterwards.
_FOUND = ("pk", "submission_key", "episode_id", "event_type_id", "status", "occurred_at")


def _same_form_or_window(
    *,
    episode: Episode,
    event_type: EventType,
    occurred_at: datetime,
    submission_key: uuid.UUID | None,
    window: bool,
) -> tuple[CareEvent | None, CareEvent | None]:
    """The event stored with this submission key (any episode), and, with `window`, the nearest of the
    episode's active events of this entry within its repeat window: one query for both (none when neither is
    asked), and one more to read the event found, when one is."""
    wanted = [Q(submission_key=submission_key)] if submission_key is not None else []
    if window:
        wanted.append(_window_events(episode=episode, event_type=event_type, occurred_at=occurred_at))
    if not wanted:
        return None, None
    either = wanted[0] if len(wanted) == 1 else wanted[0] | wanted[1]
    rows = list(CareEvent.objects.filter(either).values_list(*_FOUND))
    same_form = next((r[0] for r in rows if submission_key is not None and r[1] == submission_key), None)
    if same_form is not None:
        return CareEvent.objects.get(pk=same_form), None
    reach = timedelta(minutes=event_type.duplicate_window_minutes)
    repeats = [
        (abs(at - occurred_at), pk)
        for pk, _key, episode_id, type_id, status, at in rows
        if window
        and episode_id == episode.pk
        and type_id == event_type.pk
        and status == EventStatus.ACTIVE
        and abs(at - occurred_at) <= reach
    ]
    if not repeats:
        return None, None
    nearest = min(repeats)[1]
    return None, CareEvent.objects.select_related("professional", "organisation", "event_type").get(
        pk=nearest
    )


def duplicate_message(earlier: CareEvent) -> str:
    return _(
        "%(type)s was already logged for this client at %(when)s by %(who)s (%(org)s). "
        "Is this another one? Then confirm to log it anyway."
    ) % {
        "type": earlier.event_type.name,
        "when": _fmt(earlier.occurred_at),
        "who": earlier.professional.full_name,
        "org": earlier.organisation.name,
    }


NOTE_MAX_LENGTH = 4000  # a care note is a few sentences; 4,000 characters is two pages


def _check_note(note: str | None) -> None:
    if note is not None and len(note) > NOTE_MAX_LENGTH:
        raise ValidationError(
            {
                "note": _("The note is longer than %(n)s characters; shorten it.")
                % {"n": f"{NOTE_MAX_LENGTH:,}".replace(",", ".")}
            }
        )


def care_event_log(
    *,
    actor: User,
    episode: Episode,
    event_type: EventType,
    occurred_at: datetime,
    quantity: Decimal = Decimal("1"),
    professional: Professional | None = None,
    organisation: MemberOrganisation | None = None,
    location: str = "",
    note: str = "",
    submission_key: uuid.UUID | None = None,
    confirm_over_limit: bool = False,
    confirm_duplicate: bool = False,
) -> tuple[CareEvent, bool, list[str]]:
    """Log one care event. Returns (event, created, warnings); a repeated submission_key returns the first event.

    The same catalogue entry for the episode again within its `duplicate_window_minutes` is refused with a
    `confirm_duplicate` error (code DUPLICATE_CODE) that names the earlier event, unless confirmed."""
    _check_note(note)
    try:
        return _care_event_log_locked(
            actor=actor,
            episode=episode,
            event_type=event_type,
            occurred_at=occurred_at,
            quantity=quantity,
            professional=professional,
            organisation=organisation,
            location=location,
            note=note,
            submission_key=submission_key,
            confirm_over_limit=confirm_over_limit,
            confirm_duplicate=confirm_duplicate,
        )
    except IntegrityError:
        # The same form's key arrived at the same moment for another episode (another lock): the other request
        # stored it. The transaction (or, inside a caller's, its savepoint) is rolled back by now.
        existing = CareEvent.objects.filter(submission_key=submission_key).first() if submission_key else None
        if existing is None:
            raise
        if existing.episode_id != episode.pk:
            raise ValidationError(
                _("This form was already used for another pregnancy; reload the page.")
            ) from None
        return existing, False, []


@transaction.atomic
def _care_event_log_locked(
    *,
    actor: User,
    episode: Episode,
    event_type: EventType,
    occurred_at: datetime,
    quantity: Decimal,
    professional: Professional | None,
    organisation: MemberOrganisation | None,
    location: str,
    note: str,
    submission_key: uuid.UUID | None,
    confirm_over_limit: bool,
    confirm_duplicate: bool,
) -> tuple[CareEvent, bool, list[str]]:
    """care_event_log in its transaction. The episode is locked first, so that concurrent logging cannot pass
    the hour limit or a phase change together, and a form sent twice at once finds its first event; then one
    query reads both an event of the same submission key and the repeat window's events."""
    # Its client read along for the access log, not locked.
    episode = Episode.objects.select_for_update(of=("self",)).select_related("client").get(pk=episode.pk)
    window = not confirm_duplicate and bool(event_type.duplicate_window_minutes)
    existing, earlier = _same_form_or_window(
        episode=episode,
        event_type=event_type,
        occurred_at=occurred_at,
        submission_key=submission_key,
        window=window,
    )
    if existing is not None:
        if existing.episode_id != episode.pk:
            raise ValidationError(_("This form was already used for another pregnancy; reload the page."))
        return existing, False, []
    professional = professional or professional_for(user=actor)
    if professional is None:
        raise ValidationError(
            {
                "professional": _(
                    "Your account is not linked to a professional of this IGO; ask your IGO administrator."
                )
            }
        )
    organisation = organisation or professional.organisation
    phase, warnings = _validate_event(
        episode=episode,
        event_type=event_type,
        occurred_at=occurred_at,
        quantity=quantity,
        professional=professional,
        organisation=organisation,
        confirm_over_limit=confirm_over_limit,
    )
    if earlier is not None:
        raise ValidationError(
            {"confirm_duplicate": ValidationError(duplicate_message(earlier), code=DUPLICATE_CODE)}
        )
    event = CareEvent(
        tenant_id=episode.tenant_id,
        episode=episode,
        event_type=event_type,
        occurred_at=occurred_at,
        quantity=quantity,
        phase=phase,
        professional=professional,
        organisation=organisation,
        location=location.strip(),
        note=note.strip(),
        submission_key=submission_key,
        created_by=actor,
    )
    event.save()  # a key stored meanwhile for another episode: IntegrityError, handled by care_event_log
    touch_episodes(episode.pk)
    access_log(
        user=actor, client=episode.client, action=AccessAction.CREATE, obj=event, detail=event_type.code
    )
    return event, True, warnings


@dataclass(frozen=True)
class NewCareEvent:
    """One event for care_events_log_many: what care_event_log takes for one event (the professional named,
    the organisation the professional's)."""

    episode: Episode
    event_type: EventType
    occurred_at: datetime
    professional: Professional
    quantity: Decimal = Decimal("1")
    location: str = ""
    note: str = ""


class CareEventsRefused(Exception):
    """care_events_log_many stored nothing: the ValidationError of each refused item, by its position."""

    def __init__(self, errors: dict[int, ValidationError]):
        super().__init__(f"{len(errors)} care event(s) refused")
        self.errors = errors


BULK_BATCH = 2000  # rows per INSERT of care_events_log_many


@transaction.atomic
def care_events_log_many(
    *,
    actor: User,
    items: Sequence[NewCareEvent],
    confirm_over_limit: bool = False,
    confirm_duplicate: bool = False,
) -> list[tuple[CareEvent, list[str]]]:
    """Log many care events as care_event_log logs one, in a number of queries that does not grow with the
    number of events: the same rules (`_validate_event`, the repeat window, the note's length), the episodes
    locked (in id order, so two imports cannot deadlock), the events and their access-log entries written
    with bulk_create, and the episodes marked changed for billing once. Items are checked in order, each
    seeing those before it (kraamzorg hours, repeat windows), as consecutive care_event_log calls would.

    All or nothing: if any item is refused, CareEventsRefused lists every refused item and nothing is
    stored. Returns (event, warnings) per item, in order. There is no `submission_key` here: a bulk sender
    tells its events apart by its own identifiers (e.g. fhir_io's FhirResourceLink)."""
    errors: dict[int, ValidationError] = {}
    if not items:
        return []
    episode_ids = sorted({item.episode.pk for item in items})
    episodes = {
        e.pk: e
        for e in Episode.objects.select_for_update(of=("self",))
        .select_related("client")
        .filter(pk__in=episode_ids)
        .order_by("pk")
    }
    hour_types = _kraamzorg_type_ids()
    logged: dict[int, Decimal] = dict(
        CareEvent.objects.filter(
            episode_id__in=episode_ids, status=EventStatus.ACTIVE, event_type_id__in=hour_types
        )
        .values("episode_id")
        .annotate(total=Sum("quantity"))
        .values_list("episode_id", "total")
    )
    earlier: dict[int, list[CareEvent]] = {}  # active events of a catalogue entry with a repeat window
    windowed = {i.event_type.pk: i.event_type.duplicate_window_minutes for i in items}
    windowed = {pk: minutes for pk, minutes in windowed.items() if minutes}
    if windowed and not confirm_duplicate:
        widest = timedelta(minutes=max(windowed.values()))
        moments = [i.occurred_at for i in items]
        for e in CareEvent.objects.filter(
            episode_id__in=episode_ids,
            event_type_id__in=list(windowed),
            status=EventStatus.ACTIVE,
            occurred_at__gte=min(moments) - widest,
            occurred_at__lte=max(moments) + widest,
        ).select_related("professional", "organisation", "event_type"):
            earlier.setdefault(e.episode_id, []).append(e)
    out: list[tuple[CareEvent, list[str]]] = []
    for n, item in enumerate(items):
        episode = episodes[item.episode.pk]
        organisation = item.professional.organisation
        try:
            _check_note(item.note)
            phase, warnings = _validate_event(
                episode=episode,
                event_type=item.event_type,
                occurred_at=item.occurred_at,
                quantity=item.quantity,
                professional=item.professional,
                organisation=organisation,
                confirm_over_limit=confirm_over_limit,
                kraamzorg_logged=logged.get(episode.pk, Decimal("0")),
            )
            if not confirm_duplicate and item.event_type.pk in windowed:
                twin = _nearest(
                    earlier.get(episode.pk, []), event_type=item.event_type, occurred_at=item.occurred_at
                )
                if twin is not None:
                    raise ValidationError(
                        {"confirm_duplicate": ValidationError(duplicate_message(twin), code=DUPLICATE_CODE)}
                    )
        except ValidationError as exc:
            errors[n] = exc
            continue
        if item.event_type.is_kraamzorg_hours:
            logged[episode.pk] = logged.get(episode.pk, Decimal("0")) + item.quantity
        event = CareEvent(
            tenant_id=episode.tenant_id,
            episode=episode,
            event_type=item.event_type,
            occurred_at=item.occurred_at,
            quantity=item.quantity,
            phase=phase,
            professional=item.professional,
            organisation=organisation,
            location=item.location.strip(),
            note=item.note.strip(),
            created_by=actor,
        )
        if item.event_type.pk in windowed:
            earlier.setdefault(episode.pk, []).append(event)
        out.append((event, warnings))
    if errors:
        raise CareEventsRefused(errors)
    CareEvent.objects.bulk_create([e for e, _w in out], batch_size=BULK_BATCH)
    touch_episodes(*episode_ids)
    AccessLogEntry.objects.bulk_create(
        [
            AccessLogEntry(
                tenant_id=e.episode.client.tenant_id,
                user=actor,
                client=e.episode.client,
                action=AccessAction.CREATE,
                object_type=CareEvent._meta.model_name or "careevent",
                object_id=str(e.pk),
                detail=e.event_type.code[:200],
            )
            for e, _w in out
        ],
        batch_size=BULK_BATCH,
    )
    return out


def _check_own(event: CareEvent, actor: User) -> None:
    if event.created_by_id != actor.pk:
        raise ValidationError(_("Only the person who logged an event can correct or void it."))
    if event.status != EventStatus.ACTIVE:
        raise ValidationError(_("This event has already been corrected or voided."))


@transaction.atomic
def care_event_correct(
    *,
    event: CareEvent,
    actor: User,
    reason: str,
    event_type: EventType | None = None,
    occurred_at: datetime | None = None,
    quantity: Decimal | None = None,
    location: str | None = None,
    note: str | None = None,
    confirm_over_limit: bool = False,
) -> tuple[CareEvent, list[str]]:
    """Replace an event by a corrected copy; the original stays, marked as corrected, with the reason.
    A value left out (None) is the event's own."""
    _check_note(note)
    event = (
        CareEvent.objects.select_for_update()
        .select_related("event_type", "professional", "organisation")
        .get(pk=event.pk)
    )
    _check_own(event, actor)
    if _is_recorded_delivery(event):
        # Its type, time and performer follow from the delivery: corrected on their own they would contradict
        # the births and the phase dates.
        raise ValidationError(
            _("This is the event of the recorded delivery: correct the delivery itself under “Delivery”.")
        )
    if not reason.strip():
        raise ValidationError({"change_reason": _("Give the reason for the correction.")})
    episode = Episode.objects.select_for_update().get(pk=event.episode_id)
    event_type = event.event_type if event_type is None else event_type
    occurred_at = event.occurred_at if occurred_at is None else occurred_at
    quantity = event.quantity if quantity is None else quantity
    phase, warnings = _validate_event(
        episode=episode,
        event_type=event_type,
        occurred_at=occurred_at,
        quantity=quantity,
        professional=event.professional,
        organisation=event.organisation,
        confirm_over_limit=confirm_over_limit,
        replacing=event,
    )
    event.status = EventStatus.SUPERSEDED
    event.change_reason = reason.strip()
    event.save(update_fields=["status", "change_reason"])
    new = CareEvent.objects.create(
        tenant_id=event.tenant_id,
        episode=episode,
        phase=phase,
        supersedes=event,
        created_by=actor,
        event_type=event_type,
        occurred_at=occurred_at,
        quantity=quantity,
        professional=event.professional,
        organisation=event.organisation,
        location=event.location if location is None else location,
        note=event.note if note is None else note,
    )
    touch_episodes(episode.pk)
    access_log(
        user=actor, client=episode.client, action=AccessAction.UPDATE, obj=new, detail=f"corrects {event.pk}"
    )
    return new, warnings


def _is_recorded_delivery(event: CareEvent) -> bool:
    """Whether the event is the delivery event of a recorded delivery (with its births and dates)."""
    from pregnancies.delivery import DELIVERY_EVENT_CODES

    return (
        event.event_type.code in DELIVERY_EVENT_CODES
        and Birth.objects.filter(episode_id=event.episode_id).exists()
    )


@transaction.atomic
def care_event_void(*, event: CareEvent, actor: User, reason: str) -> CareEvent:
    """Void an event. Voiding the event of a recorded delivery undoes the delivery (`delivery_void`): a
    birth event gone while its births and phases stay would bill a birth nobody records."""
    event = CareEvent.objects.select_for_update().select_related("event_type").get(pk=event.pk)
    _check_own(event, actor)
    if not reason.strip():
        raise ValidationError({"change_reason": _("Give the reason for voiding this event.")})
    if _is_recorded_delivery(event):
        from pregnancies.delivery import delivery_void

        delivery_void(episode=event.episode, actor=actor, reason=reason)
        event.refresh_from_db()
        return event
    event.status = EventStatus.VOIDED
    event.change_reason = reason.strip()
    event.voided_at = timezone.now()
    event.voided_by = actor
    event.save(update_fields=["status", "change_reason", "voided_at", "voided_by"])
    touch_episodes(event.episode_id)
    access_log(user=actor, client=event.episode.client, action=AccessAction.VOID, obj=event)
    return event
