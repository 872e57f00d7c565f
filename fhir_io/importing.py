"""The FHIR import (issue 21): a member's transaction Bundle becomes care events, all or nothing.

Steps: the body is parsed (JSON) and validated against the FHIR R4 models of fhir.resources (its R4B
package: R4B changed no element this import reads); then every entry is mapped (client by BSN, episode by
the platform's identifier or the client's open episode, professional by AGB, catalogue entry by the IGO's
code mapping); then every care event is written through the pregnancies services, which check phases,
disciplines and dates. Every problem of every step is collected with its place in the Bundle, and one
problem refuses the whole Bundle: nothing is stored.

Each Encounter or Procedure is known by its identifier (system + value) per sending member: the same
content again changes nothing, other content corrects the event (the original stays, superseded), and
`entered-in-error` voids it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

import pydantic
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from fhir.resources.R4B.bundle import Bundle

from fhir_io import outcomes, probing, profiles, systems
from fhir_io.models import CodeMapping, FhirResourceLink, MemberApiKey
from pregnancies import services as care
from pregnancies.models import (
    AccessAction,
    CareEvent,
    Client,
    Episode,
    EpisodeStatus,
    EventStatus,
    EventType,
    Unit,
)
from providers.models import Professional

CARE_TYPES = frozenset({"Encounter", "Procedure"})
KNOWN_TYPES = CARE_TYPES | {"Patient", "Practitioner", "EpisodeOfCare"}
# Births and outcomes (fhir_io.outcomes); Organization and Condition (the pregnancy) are accepted as the
# export writes them, and not stored.
KNOWN_TYPES |= {"Observation", "Organization", "Condition"}
DONE = {"Encounter": "finished", "Procedure": "completed"}
ERROR = "entered-in-error"
STORE_CHUNK = 2000  # care entries stored between two progress reports
IN_BATCH = 5000  # values per `IN (...)` of the lookups

Progress = Callable[[int, int], None]  # (care entries stored, care entries in the Bundle)
IDENTIFIER_MAX = 200  # FhirResourceLink.system and .value


@dataclass
class Issue:
    code: str  # an IssueType of FHIR: structure, invalid, required, value, not-found, code-invalid, ...
    expression: str
    text: str
    severity: str = "error"
    index: int = -1  # the entry's place, to list the problems of the store in Bundle order

    def as_fhir(self) -> dict[str, Any]:
        return {
            "severity": self.severity,
            "code": self.code,
            "diagnostics": self.text,
            "expression": [self.expression],
        }


class Refused(Exception):
    def __init__(self, issues: list[Issue], status: int | None = None):
        super().__init__(f"{len(issues)} problem(s)")
        self.issues = issues
        self.status = status  # the HTTP status when it is not refused_status's (a blocked key: 403)


BLOCKED = 403  # a key blocked for probing BSNs (fhir_io.probing): only an administrator lifts it, not time


def blocked(expression: str = "Bundle") -> Refused:
    """The refusal of a key blocked for probing: one issue, nothing about the entries (which BSNs missed)."""
    return Refused([Issue("forbidden", expression, probing.blocked_text())], status=BLOCKED)


def operation_outcome(issues: list[Issue]) -> dict[str, Any]:
    return {"resourceType": "OperationOutcome", "issue": [i.as_fhir() for i in issues]}


def refused_status(issues: list[Issue]) -> int:
    """The HTTP status of a refusal: 400 for a body that is no Bundle at all, else 422."""
    return 400 if issues and issues[0].code == "structure" else 422


def refused_http(refused: Refused) -> int:
    return refused.status or refused_status(refused.issues)


def care_entries(bundle: Bundle) -> int:
    entries: list[Any] = list(bundle.entry or [])  # resources typed as Resource: read as Any
    return len([e for e in entries if e.resource.get_resource_type() in CARE_TYPES])


def response_bundle(bundle: Bundle, result: Result) -> dict[str, Any]:
    """The transaction-response: one entry per request entry, in order (the FHIR transaction's rule)."""
    entries = [
        result.entries.get(i, {"response": {"status": "200 OK"}}) for i in range(len(bundle.entry or []))
    ]
    return {"resourceType": "Bundle", "type": "transaction-response", "entry": entries}


@dataclass
class Planned:
    """One care resource, mapped."""

    index: int
    resource_type: str
    system: str
    value: str
    voided: bool
    episode: Episode | None = None
    professional: Professional | None = None
    event_type_id: int | None = None
    occurred_at: datetime | None = None
    quantity: Decimal = Decimal("1")
    content_hash: str = ""


@dataclass
class Result:
    created: int = 0
    corrected: int = 0
    voided: int = 0
    unchanged: int = 0
    entries: dict[int, dict[str, Any]] = field(default_factory=dict)  # by entry index


def parse(raw: bytes) -> Bundle:
    """The Bundle, or Refused with each problem of form and FHIR validity."""
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise Refused(
            [Issue("structure", "Bundle", _("The body is not valid JSON: %(error)s") % {"error": exc})]
        ) from exc
    if not isinstance(data, dict) or data.get("resourceType") != "Bundle":
        raise Refused([Issue("structure", "Bundle", _("Send one FHIR Bundle (resourceType Bundle)."))])
    issues: list[Issue] = _nul_issues(data)
    if data.get("type") != "transaction":
        issues.append(Issue("value", "Bundle.type", _("The Bundle must be of type transaction.")))
    entries = data.get("entry")
    if not isinstance(entries, list) or not entries:
        issues.append(Issue("required", "Bundle.entry", _("The Bundle has no entries.")))
        entries = []
    for i, entry in enumerate(entries):
        resource = entry.get("resource") if isinstance(entry, dict) else None
        kind = resource.get("resourceType") if isinstance(resource, dict) else None
        if not isinstance(kind, str) or kind not in KNOWN_TYPES:  # a list or object is no type (was a 500)
            issues.append(
                Issue(
                    "not-supported",
                    f"Bundle.entry[{i}].resource",
                    _(
                        "Resource type %(kind)s is not imported; send Patient, Practitioner, EpisodeOfCare, "
                        "Encounter, Procedure or Observation (Organization and Condition are accepted)."
                    )
                    % {"kind": kind},
                )
            )
    issues.extend(_profile_issues(data, entries))
    if issues:
        raise Refused(issues)
    try:
        return Bundle.model_validate(data)
    except pydantic.ValidationError as exc:
        raise Refused([Issue("invalid", _expression(e["loc"]), str(e["msg"])) for e in exc.errors()]) from exc


def _profile_issues(data: dict[str, Any], entries: list[Any]) -> list[Issue]:
    """A `meta.profile` the import does not accept for the resource's type (fhir_io.profiles)."""
    places: list[tuple[str, Any]] = [("Bundle", data)]
    places += [
        (f"Bundle.entry[{i}].resource", e.get("resource"))
        for i, e in enumerate(entries)
        if isinstance(e, dict)
    ]
    return [
        Issue(
            "not-supported",
            f"{where}.meta.profile[{j}]",
            _("Profile %(url)s is not accepted for %(kind)s; see the accepted profiles in the documentation.")
            % {"url": url[:200], "kind": resource.get("resourceType")},
        )
        for where, resource in places
        for j, url in profiles.unknown(resource)
    ]


def _nul_issues(data: Any) -> list[Issue]:
    """Text with a NUL character, which PostgreSQL cannot store or compare (was a 500); walked without
    recursion, the first few named."""
    issues: list[Issue] = []
    stack: list[tuple[Any, tuple[Any, ...]]] = [(data, ())]
    while stack and len(issues) < 10:
        value, loc = stack.pop()
        if isinstance(value, dict):
            stack.extend((v, (*loc, str(k))) for k, v in value.items() if isinstance(k, str))
            bad_keys = [k for k in value if isinstance(k, str) and "\x00" in k]
        elif isinstance(value, list):
            stack.extend((v, (*loc, i)) for i, v in enumerate(value))
            bad_keys = []
        else:
            bad_keys = []
        if (isinstance(value, str) and "\x00" in value) or bad_keys:
            issues.append(Issue("value", _expression(loc), _("Text may not contain NUL characters.")))
    return issues


def _expression(loc: tuple[Any, ...]) -> str:
    out = "Bundle"
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


def _kind(entry: Any) -> str:
    """An entry's resource type; NDJSON's entries know it without building their resource (fhir_io.ndjson)."""
    return str(getattr(entry, "kind", None) or entry.resource.get_resource_type())


def _identifier(resource: Any, system: str | None = None) -> tuple[str, str] | None:
    for ident in resource.identifier or []:
        if ident.system and ident.value and (system is None or ident.system == system):
            return ident.system, ident.value
    return None


def _row_id(text: str | None) -> int | None:
    """The platform's row id a sender's identifier value names: ASCII digits that fit a database key (else
    no row: "²" or a 30-digit value is an unknown id, not a server error)."""
    if text is None or not (text.isascii() and text.isdigit()) or len(text) > 18:
        return None
    return int(text)


def _ref(reference: Any) -> str | None:
    return reference.reference if reference is not None else None


def import_bundle(
    *,
    bundle: Bundle,
    key: MemberApiKey,
    progress: Progress | None = None,
    source: str = "bundle",
    job: int | None = None,
) -> Result:
    """Map and store the Bundle for the key's member, or raise Refused listing every problem. `progress`
    (the job's) hears how many care entries are stored, after each chunk of STORE_CHUNK. `source` and `job`
    are noted with the BSNs that are no client of the IGO (fhir_io.probing); a key blocked for them is
    refused (403) before anything is read, and so is the import that takes it past the limit."""
    if key.blocked_at is not None:  # a job accepted before its key was blocked
        raise blocked()
    mapper = _Mapper(bundle, key, source=source, job=job)
    planned = mapper.plan()
    if mapper.issues:
        raise Refused(mapper.issues)
    issues: list[Issue] = []
    with transaction.atomic():  # a Refused raised inside rolls back every event written before it
        # The delivery first: its dates open the natal and postnatal phases the care is checked against.
        births = outcomes.store(mapper.deliveries, member=mapper.member, actor=mapper.actor, issues=issues)
        result = _store(
            planned,
            member=mapper.member,
            actor=mapper.actor,
            types=mapper.types,
            issues=issues,
            progress=progress,
        )
        result.entries.update(births)
        if issues:
            raise Refused(sorted(issues, key=lambda i: i.index))
    return result


class _Mapper:
    """Reads the Bundle's entries into the IGO's rows, one resource type after the other, noting every
    problem in `issues` (nothing is written here but the access log of the clients found)."""

    def __init__(self, bundle: Bundle, key: MemberApiKey, *, source: str = "bundle", job: int | None = None):
        self.key, self.source, self.job = key, source, job
        self.misses: set[str] = set()  # BSNs named that are no client of this IGO
        self.member = key.account.organisation
        self.actor = key.account.user
        self.issues: list[Issue] = []
        self.entries: list[Any] = list(bundle.entry or [])  # resources typed as Resource: read as Any
        self.by_url: dict[str, tuple[int, str]] = {}  # the entry's index and resource type
        self.clients: dict[int, Client] = {}  # by the index of the Patient entry
        self.professionals: dict[int, Professional] = {}
        self.episodes: dict[int, Episode] = {}
        self.open_episodes: dict[int, Episode | None] = {}  # by client id
        self.types: dict[int, EventType] = {}
        self.mappings: dict[tuple[str, str], int] = {}
        self.deliveries: list[outcomes.PlannedDelivery] = []

    def problem(self, code: str, at: str, text: str) -> None:
        self.issues.append(Issue(code, at, text))

    def of_kind(self, *kinds: str) -> Iterator[tuple[int, Any, str]]:
        for i, entry in enumerate(self.entries):
            if _kind(entry) in kinds:
                yield i, entry.resource, f"Bundle.entry[{i}].resource"

    def plan(self) -> list[Planned]:
        self.index()
        self.patients()
        self.practitioners()
        if self.clients:  # the BSNs looked up are reads of those clients' records (NEN 7513)
            log_read(actor=self.actor, clients=list(self.clients.values()))
        # The misses, recorded and counted once for the whole import; past the limit the answer says
        # nothing about the entries (not which BSNs missed, nor anything about the clients found).
        if self.misses and probing.misses_record(
            key=self.key, bsns=self.misses, source=self.source, job=self.job
        ):
            raise blocked()
        self.episodes_of_care()
        self.types = {t.pk: t for t in EventType.objects.all()}
        self.mappings = {
            (m.system, m.code): m.event_type_id
            for m in CodeMapping.objects.all().only("system", "code", "event_type_id")
        }
        self.deliveries = outcomes.plan(self)
        return [
            plan
            for i, resource, at in self.of_kind(*CARE_TYPES)
            if not (outcomes.claims(resource) and not self.mapped(resource))
            and (plan := self.care(i, resource, at))
        ]

    def mapped(self, resource: Any) -> bool:
        """Whether a Procedure's code has a catalogue entry (then it is care, also a caesarean)."""
        return any((c.system, c.code) in self.mappings for c in resource.code.coding or [])

    def index(self) -> None:
        """fullUrls for references; identifiers that occur twice."""
        seen: dict[tuple[str, str, str], int] = {}
        for i, entry in enumerate(self.entries):
            resource = entry.resource
            if entry.fullUrl:
                if entry.fullUrl in self.by_url:
                    self.problem("duplicate", f"Bundle.entry[{i}].fullUrl", _("This fullUrl is used twice."))
                self.by_url[entry.fullUrl] = (i, _kind(entry))
            ident = _identifier(resource)
            if ident is None:
                continue
            k = (_kind(entry), *ident)
            if k in seen:
                self.problem(
                    "duplicate",
                    f"Bundle.entry[{i}].resource.identifier",
                    _("The identifier %(system)s|%(value)s is also in entry %(other)s.")
                    % {"system": ident[0], "value": ident[1], "other": seen[k]},
                )
            seen.setdefault(k, i)

    def resolve(self, reference: Any, kind: str, at: str) -> int | None:
        """The index of the entry of `kind` a reference names by its fullUrl."""
        found = self.by_url.get(_ref(reference) or "")
        if found is None or found[1] != kind:
            self.problem(
                "not-found",
                at,
                _("Refer to a %(kind)s entry of this Bundle by its fullUrl.") % {"kind": kind},
            )
            return None
        return found[0]

    def patients(self) -> None:
        found: dict[int, str] = {}
        for i, resource, at in self.of_kind("Patient"):
            bsn = _identifier(resource, systems.BSN)
            if bsn is None:
                self.problem("required", f"{at}.identifier", _("The patient has no BSN identifier."))
                continue
            found[i] = bsn[1]
        by_bsn = {  # this IGO's clients only (scoped)
            c.bsn: c for chunk in _chunks(set(found.values())) for c in Client.objects.filter(bsn__in=chunk)
        }
        for i, bsn_value in found.items():
            client = by_bsn.get(bsn_value)
            if client is None:
                self.misses.add(bsn_value)
                self.problem(
                    "not-found",
                    f"Bundle.entry[{i}].resource.identifier",
                    _("No client of this IGO has this BSN."),
                )
                continue
            self.clients[i] = client
        # Each client's open pregnancies, read once for all (open_episode).
        ids = {c.pk for c in self.clients.values()}
        opened: dict[int, list[Episode]] = {pk: [] for pk in ids}
        for chunk in _chunks(ids):
            for episode in Episode.objects.filter(client_id__in=chunk, status=EpisodeStatus.ACTIVE).order_by(
                "pk"
            ):
                opened[episode.client_id].append(episode)
        self.open_episodes = {pk: found_[0] if len(found_) == 1 else None for pk, found_ in opened.items()}

    def practitioners(self) -> None:
        found: dict[int, str] = {}
        for i, resource, at in self.of_kind("Practitioner"):
            agb = _identifier(resource, systems.AGB)
            if agb is None:
                self.problem("required", f"{at}.identifier", _("The practitioner has no AGB identifier."))
                continue
            found[i] = agb[1]
        by_agb = {
            p.agb_code: p
            for chunk in _chunks(set(found.values()))
            for p in Professional.objects.select_related("organisation").filter(agb_code__in=chunk)
        }
        for i, agb_value in found.items():
            professional = by_agb.get(agb_value)
            if professional is None or professional.organisation_id != self.member.pk:
                self.problem(
                    "forbidden",
                    f"Bundle.entry[{i}].resource.identifier",
                    _("AGB %(agb)s is not a professional of %(member)s: a member sends only its own care.")
                    % {"agb": agb_value, "member": self.member.name},
                )
                continue
            self.professionals[i] = professional

    def open_episode(self, client: Client) -> Episode | None:
        """The client's one open pregnancy (None when she has none or several); read in patients()."""
        return self.open_episodes.get(client.pk)

    def episodes_of_care(self) -> None:
        wanted: list[tuple[int, str, Client, str | None]] = []
        for i, resource, at in self.of_kind("EpisodeOfCare"):
            patient = self.resolve(resource.patient, "Patient", f"{at}.patient")
            client = self.clients.get(patient) if patient is not None else None
            if client is None:
                continue
            own = _identifier(resource, systems.EPISODE)
            wanted.append((i, at, client, own[1] if own is not None else None))
        numbers = {row for _i, _at, _c, n in wanted if (row := _row_id(n)) is not None}
        by_pk = {e.pk: e for chunk in _chunks(numbers) for e in Episode.objects.filter(pk__in=chunk)}
        for i, at, client, number in wanted:
            if number is None:
                chosen = self.open_episode(client)
            else:
                found = _row_id(number)
                episode = by_pk.get(found) if found is not None else None
                chosen = episode if episode is not None and episode.client_id == client.pk else None
            if chosen is None:
                self.problem(
                    "not-found",
                    f"{at}.identifier",
                    _(
                        "This client has no such pregnancy in this IGO (give the platform's episode "
                        "identifier, or leave it out when she has exactly one open pregnancy)."
                    ),
                )
                continue
            self.episodes[i] = chosen

    def care(self, i: int, resource: Any, at: str) -> Planned | None:
        """An Encounter or Procedure, mapped; None (with its problems noted) when it cannot be."""
        kind = resource.get_resource_type()
        ident = _identifier(resource)
        if ident is None:
            self.problem("required", f"{at}.identifier", _("Care needs an identifier (system and value)."))
            return None
        if len(ident[0]) > IDENTIFIER_MAX or len(ident[1]) > IDENTIFIER_MAX:  # FhirResourceLink's columns
            self.problem(
                "value",
                f"{at}.identifier",
                _("An identifier's system and value have at most %(n)s characters each.")
                % {"n": IDENTIFIER_MAX},
            )
            return None
        status = resource.status
        if status not in (DONE[kind], ERROR):
            self.problem(
                "value",
                f"{at}.status",
                _("Only %(done)s care (or %(error)s) is imported, not %(status)s.")
                % {"done": DONE[kind], "error": ERROR, "status": status},
            )
            return None
        plan = Planned(i, kind, ident[0], ident[1], voided=status == ERROR)
        if plan.voided:
            return plan
        episode = self.care_episode(resource, kind, at)
        professional = self.care_professional(resource, kind, at)
        type_id = self.care_type(resource, kind, at)
        moment = self.care_moment(resource, kind, at)
        quantity = self.care_quantity(resource, kind, at, type_id)
        if episode is None or professional is None or type_id is None or moment is None or quantity is None:
            return None
        plan.episode, plan.professional, plan.event_type_id = episode, professional, type_id
        plan.occurred_at, plan.quantity = moment, quantity
        plan.content_hash = hashlib.sha256(
            f"{episode.pk}|{professional.pk}|{type_id}|{moment.isoformat()}|{quantity.normalize()}".encode()
        ).hexdigest()
        return plan

    def care_episode(self, resource: Any, kind: str, at: str) -> Episode | None:
        patient = self.resolve(resource.subject, "Patient", f"{at}.subject")
        client = self.clients.get(patient) if patient is not None else None
        if kind == "Encounter" and resource.episodeOfCare:
            e = self.resolve(resource.episodeOfCare[0], "EpisodeOfCare", f"{at}.episodeOfCare[0]")
            episode = self.episodes.get(e) if e is not None else None
        elif client is not None:
            episode = self.open_episode(client)
            if episode is None:
                self.problem(
                    "not-found", f"{at}.subject", _("The client has no single open pregnancy; refer to one.")
                )
        else:
            episode = None
        if episode is not None and client is not None and episode.client_id != client.pk:
            self.problem("invalid", f"{at}.subject", _("The pregnancy is not this client's."))
            return None
        return episode

    def care_professional(self, resource: Any, kind: str, at: str) -> Professional | None:
        if kind == "Encounter":
            actors = [
                (p.individual, f"{at}.participant[{n}].individual")
                for n, p in enumerate(resource.participant or [])
            ]
        else:
            actors = [(p.actor, f"{at}.performer[{n}].actor") for n, p in enumerate(resource.performer or [])]
        if not actors:
            self.problem("required", at, _("Name the practitioner who gave the care."))
            return None
        found = self.resolve(actors[0][0], "Practitioner", actors[0][1])
        return self.professionals.get(found) if found is not None else None

    def care_type(self, resource: Any, kind: str, at: str) -> int | None:
        if kind == "Encounter":
            codings = [c for concept in resource.type or [] for c in concept.coding or []]
        else:
            codings = list(resource.code.coding or []) if resource.code else []
        for c in codings:
            if (c.system, c.code) in self.mappings:
                return self.mappings[(c.system, c.code)]
        self.problem(
            "code-invalid",
            f"{at}.type" if kind == "Encounter" else f"{at}.code",
            _("No catalogue entry of this IGO for the code(s): %(codes)s.")
            % {"codes": ", ".join(f"{c.system}|{c.code}" for c in codings) or "-"},
        )
        return None

    def care_moment(self, resource: Any, kind: str, at: str) -> datetime | None:
        if kind == "Encounter":
            moment = resource.period.start if resource.period else None
        else:
            moment = resource.performedDateTime or (
                resource.performedPeriod.start if resource.performedPeriod else None
            )
        if not isinstance(moment, datetime) or moment.tzinfo is None:
            self.problem("required", at, _("Give the moment of care as a date and time with a time zone."))
            return None
        try:
            timezone.localtime(moment)  # the services read it on the Amsterdam clock
        except OverflowError:  # e.g. 0001-01-01T00:00:00+14:00 is in year 0 there (was a 500)
            self.problem("value", at, _("This moment of care lies outside the calendar."))
            return None
        return moment

    def care_quantity(self, resource: Any, kind: str, at: str, type_id: int | None) -> Decimal | None:
        """1, or for catalogue entries counted in hours the Encounter's length."""
        if type_id is None or self.types[type_id].unit != Unit.HOUR:
            return Decimal("1")
        length = resource.length if kind == "Encounter" else None
        if length is None or length.value is None or length.code not in ("h", "min"):
            self.problem("required", f"{at}.length", _("Hours of care need Encounter.length in h or min."))
            return None
        return Decimal(str(length.value)) / (60 if length.code == "min" else 1)


def _chunks(values: Iterable[Any], size: int = IN_BATCH) -> Iterator[list[Any]]:
    """Values in lists of `size`, for lookups `IN (...)` that stay within PostgreSQL's parameter limit."""
    values = list(values)
    for start in range(0, len(values), size):
        yield values[start : start + size]


def _links(member: Any, planned: list[Planned]) -> dict[tuple[str, str, str], FhirResourceLink]:
    """The member's links of the resources planned (by identifier value), read in batches."""
    wanted = {(p.resource_type, p.system, p.value) for p in planned}
    return {
        (link.resource_type, link.system, link.value): link
        for chunk in _chunks({v for _t, _s, v in wanted})
        for link in FhirResourceLink.objects.filter(organisation=member, value__in=chunk).select_related(
            "care_event"
        )
        if (link.resource_type, link.system, link.value) in wanted
    }


def _store(
    planned: list[Planned],
    *,
    member: Any,
    actor: Any,
    types: dict[int, Any],
    issues: list[Issue],
    progress: Progress | None = None,
) -> Result:
    """Write the planned care: new events (and events that move to another pregnancy or professional) in
    bulk through care_events_log_many, corrections and voids one by one through their services (they are
    few: a resend of unchanged care writes nothing). In chunks of STORE_CHUNK entries, reporting progress;
    the caller's transaction makes the whole Bundle one."""
    result = Result()
    links = _links(member, planned)
    for start in range(0, len(planned), STORE_CHUNK):
        _store_chunk(
            planned[start : start + STORE_CHUNK],
            links=links,
            member=member,
            actor=actor,
            types=types,
            issues=issues,
            result=result,
        )
        if progress is not None:
            progress(min(start + STORE_CHUNK, len(planned)), len(planned))
    return result


def _store_chunk(
    planned: list[Planned],
    *,
    links: dict[tuple[str, str, str], FhirResourceLink],
    member: Any,
    actor: Any,
    types: dict[int, Any],
    issues: list[Issue],
    result: Result,
) -> None:
    now = timezone.now()
    new: list[tuple[Planned, FhirResourceLink | None]] = []  # to log, and the link to point at it
    for plan in planned:
        link = links.get((plan.resource_type, plan.system, plan.value))
        try:
            if plan.voided:
                if link is None or link.care_event.status != EventStatus.ACTIVE:
                    result.unchanged += 1
                    result.entries[plan.index] = _entry("200 OK")
                    continue
                care.care_event_void(event=link.care_event, actor=actor, reason="FHIR: entered-in-error")
                result.voided += 1
                result.entries[plan.index] = _entry("200 OK", link.care_event)
                continue
            assert plan.episode and plan.professional and plan.occurred_at and plan.event_type_id
            if link is None:
                new.append((plan, None))
                continue
            if link.content_hash == plan.content_hash and link.care_event.status == EventStatus.ACTIVE:
                result.unchanged += 1
                result.entries[plan.index] = _entry("200 OK", link.care_event)
                continue
            old = link.care_event
            reason = f"FHIR: {plan.resource_type} {plan.value} changed"
            if old.status == EventStatus.ACTIVE and (
                old.episode_id == plan.episode.pk and old.professional_id == plan.professional.pk
            ):
                event, warnings = care.care_event_correct(
                    event=old,
                    actor=actor,
                    reason=reason,
                    event_type=types[plan.event_type_id],
                    occurred_at=plan.occurred_at,
                    quantity=plan.quantity,
                    confirm_over_limit=True,
                )
                link.care_event, link.content_hash, link.updated_at = event, plan.content_hash, now
                link.save(update_fields=["care_event", "content_hash", "updated_at"])
                result.corrected += 1
                result.entries[plan.index] = _entry("200 OK", event, warnings)
                continue
            # Another pregnancy or professional (or sent again after a void): void, then log anew.
            if old.status == EventStatus.ACTIVE:
                care.care_event_void(event=old, actor=actor, reason=reason)
            new.append((plan, link))
        except ValidationError as exc:
            issues.extend(_business_rule(plan.index, exc))
    if not new:
        return
    try:
        logged = care.care_events_log_many(
            actor=actor,
            items=[
                care.NewCareEvent(
                    episode=plan.episode,  # type: ignore[arg-type]
                    event_type=types[plan.event_type_id],  # type: ignore[index]
                    occurred_at=plan.occurred_at,  # type: ignore[arg-type]
                    quantity=plan.quantity,
                    professional=plan.professional,  # type: ignore[arg-type]
                )
                for plan, _link in new
            ],
            confirm_over_limit=True,
            confirm_duplicate=True,  # the sender's identifiers tell its events apart
        )
    except care.CareEventsRefused as refused:
        for n, error in refused.errors.items():
            issues.extend(_business_rule(new[n][0].index, error))
        return
    made: list[FhirResourceLink] = []
    moved: list[FhirResourceLink] = []
    for (plan, link), (event, warnings) in zip(new, logged, strict=True):
        if link is None:
            link = FhirResourceLink(
                tenant_id=event.tenant_id,
                organisation=member,
                resource_type=plan.resource_type,
                system=plan.system,
                value=plan.value,
                content_hash=plan.content_hash,
                care_event=event,
                created_at=now,
                updated_at=now,
            )
            made.append(link)
            result.created += 1
            result.entries[plan.index] = _entry("201 Created", event, warnings)
        else:
            link.care_event, link.content_hash, link.updated_at = event, plan.content_hash, now
            moved.append(link)
            result.corrected += 1
            result.entries[plan.index] = _entry("200 OK", event, warnings)
    FhirResourceLink.objects.bulk_create(made, batch_size=care.BULK_BATCH)
    FhirResourceLink.objects.bulk_update(moved, ["care_event", "content_hash", "updated_at"], batch_size=500)


def _business_rule(index: int, exc: ValidationError) -> list[Issue]:
    at = f"Bundle.entry[{index}].resource"
    return [
        Issue("business-rule", at + (f" ({name})" if name else ""), messages, index=index)
        for name, messages in _messages(exc)
    ]


def _messages(exc: ValidationError) -> list[tuple[str, str]]:
    if hasattr(exc, "error_dict"):
        return [
            (name, " ".join(str(m) for e in errs for m in e.messages))
            for name, errs in exc.error_dict.items()
        ]
    return [("", " ".join(str(m) for m in exc.messages))]


def _entry(status: str, event: CareEvent | None = None, warnings: list[str] | None = None) -> dict[str, Any]:
    response: dict[str, Any] = {"status": status}
    if event is not None:
        response["location"] = f"CareEvent/{event.pk}"
    if warnings:
        response["outcome"] = operation_outcome(
            [Issue("informational", "", str(w), severity="warning") for w in warnings]
        )
    return {"response": response}


def log_read(*, actor: Any, clients: list[Client]) -> None:
    care.access_log_many(user=actor, clients=clients, action=AccessAction.SEARCH, detail="FHIR import")
