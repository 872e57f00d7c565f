"""Births and outcomes in FHIR (issue 21): the vocabulary the export writes and the import reads, and the
import of a delivery into the pregnancies birth record.

A delivery is one `Observation` coded `delivery` (system `urn:igo-platform:birth-record`) about the mother,
with the mother's side of the birth record as components, and one `Observation` coded `child` per child
(its members, `hasMember`), with the child's. A caesarean is also a `Procedure` (SNOMED 11466000).

The import goes through the delivery services (pregnancies.delivery): a new delivery is recorded, a changed
one corrected (the audit keeps it before and after, the delivery event is superseded); after-birth outcomes
(NICU, neonatal death) and the mother's blood loss, breastfeeding and LEMMoN criteria of severe maternal
morbidity through their own services. Each
delivery is known by its identifier per sending member (`FhirOutcomeLink`) with the hash of all that was
taken from it: the same again changes nothing. Every problem becomes an issue; one refuses the Bundle.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone
from django.utils.translation import gettext as _

from fhir_io import systems
from fhir_io.models import FhirOutcomeLink
from pregnancies import delivery as deliveries
from pregnancies import services as care
from pregnancies.models import (
    LEMMON_NONE,
    Birth,
    BirthMode,
    BirthOutcome,
    BirthPlace,
    Breastfeeding,
    ChildSex,
    Episode,
    LabourOnset,
    LemmonCriterion,
    Line,
    Perineum,
    Presentation,
)
from providers.models import Professional

IDENTIFIER_MAX = FhirOutcomeLink._meta.get_field("value").max_length or 200  # as the link stores it

if TYPE_CHECKING:  # the import's mapper and issues, without importing the import (it imports this)
    from fhir_io.importing import Issue, _Mapper

DELIVERY = "delivery"
CHILD = "child"
CAESAREAN = {"system": systems.SNOMED, "code": "11466000", "display": "Cesarean section"}

# Elements (component codes) and how their value is written: a coded value of the platform's code system
# for the element (f"{BIRTH_RECORD}:{element}"), a moment, a whole number, a quantity or a yes/no.
CODED: dict[str, list[str]] = {
    "place": list(BirthPlace.values),
    "line": list(Line.values),
    "presentation": list(Presentation.values),
    "labour-onset": list(LabourOnset.values),
    "perineum": list(Perineum.values),
    "breastfeeding": list(Breastfeeding.values),
    "outcome": list(BirthOutcome.values),
    "mode": list(BirthMode.values),
    "sex": list(ChildSex.values),
}
MOMENTS = frozenset({"labour-start", "placenta"})
INTEGERS = frozenset({"previous-caesareans", "child-number", "apgar-1", "apgar-5"})
QUANTITIES = {"blood-loss": "mL", "birth-weight": "g", "gestational-age": "d"}
# The LEMMoN criteria of severe maternal morbidity: one yes/no element each, all written when recorded
# (all false: none of them), none written when not recorded.
LEMMON = {f"lemmon-{code.replace('_', '-')}": code for code in LemmonCriterion.values}
DELIVERY_ELEMENTS = frozenset(
    {"labour-start", "placenta", "place", "line", "presentation", "labour-onset", "previous-caesareans",
     "perineum", "blood-loss", "breastfeeding", *LEMMON}
)  # fmt: skip
CHILD_ELEMENTS = frozenset(
    {"child-number", "outcome", "mode", "sex", "birth-weight", "apgar-1", "apgar-5", "gestational-age", "nicu",
     "neonatal-death"}
)  # fmt: skip
# Standard codes beside the platform's own, where one fits without doubt.
STANDARD = {
    "birth-weight": {"system": systems.LOINC, "code": "8339-4", "display": "Birthweight Measured"},
    "apgar-1": {"system": systems.LOINC, "code": "9272-6", "display": "1 minute Apgar Score"},
    "apgar-5": {"system": systems.LOINC, "code": "9274-2", "display": "5 minute Apgar Score"},
}


def concept(code: str) -> dict[str, Any]:
    return {"coding": [{"system": systems.BIRTH_RECORD, "code": code}]}


def days(n: int) -> dict[str, Any]:
    return {"value": n, "unit": "d", "system": systems.UCUM, "code": "d"}


def _component(element: str, value: Any) -> dict[str, Any]:
    code = {
        "coding": [
            {"system": systems.BIRTH_RECORD, "code": element},
            *([STANDARD[element]] if element in STANDARD else []),
        ]
    }
    out: dict[str, Any] = {"code": code}
    if element in CODED:
        coding = [{"system": f"{systems.BIRTH_RECORD}:{element}", "code": value}]
        if element == "mode" and value == BirthMode.CAESAREAN:
            coding.append(CAESAREAN)
        out["valueCodeableConcept"] = {"coding": coding}
    elif element in MOMENTS:
        out["valueDateTime"] = timezone.localtime(value).isoformat()
    elif element == "neonatal-death":
        out["valueDateTime"] = value.isoformat()
    elif element in INTEGERS:
        out["valueInteger"] = value
    elif element in QUANTITIES:
        unit = QUANTITIES[element]
        out["valueQuantity"] = {"value": value, "unit": unit, "system": systems.UCUM, "code": unit}
    else:
        out["valueBoolean"] = value
    return out  # fmt: skip


def delivery_components(episode: Episode, *, place: str, line: str) -> list[dict[str, Any]]:
    """The mother's side of the delivery, as recorded (what is not recorded is left out)."""
    values = {
        "labour-start": episode.labour_started_at,
        "placenta": episode.placenta_at,
        "place": place,
        "line": line,
        "presentation": episode.presentation,
        "labour-onset": episode.labour_onset,
        "previous-caesareans": episode.previous_caesareans,
        "perineum": episode.perineum,
        "blood-loss": episode.blood_loss_ml,
        "breastfeeding": episode.breastfeeding_at_kraamzorg_end,
    }
    if episode.severe_morbidity is not None:
        values |= {element: code in episode.severe_morbidity for element, code in LEMMON.items()}
    return [_component(k, v) for k, v in values.items() if v not in (None, "")]


def child_components(birth: Birth, *, gestational_days: int) -> list[dict[str, Any]]:
    values = {
        "child-number": birth.child_number,
        "outcome": birth.outcome,
        "mode": birth.mode,
        "sex": birth.sex,
        "birth-weight": birth.weight_grams,
        "apgar-1": birth.apgar_1,
        "apgar-5": birth.apgar_5,
        "gestational-age": gestational_days,
        "nicu": birth.nicu_admission,
        "neonatal-death": birth.neonatal_death_on,
    }
    return [_component(k, v) for k, v in values.items() if v not in (None, "")]


def element_of(concept_: Any) -> str | None:
    for coding in (concept_.coding or []) if concept_ is not None else []:
        if coding.system == systems.BIRTH_RECORD:
            return str(coding.code)
    return None


def is_caesarean(resource: Any) -> bool:
    codings = resource.code.coding or [] if resource.code is not None else []
    return any((c.system, c.code) == (CAESAREAN["system"], CAESAREAN["code"]) for c in codings)


# --- the import ---------------------------------------------------------------------------------------


@dataclass
class PlannedDelivery:
    index: int
    system: str
    value: str
    episode: Episode
    professional: Professional
    labour_started_at: datetime | None
    placenta_at: datetime | None
    place: str
    line: str
    clinical: deliveries.Clinical
    children: list[deliveries.Child]
    after_birth: dict[int, tuple[bool, date | None]]  # child number -> (NICU, neonatal death)
    blood_loss_ml: int | None
    breastfeeding: str | None
    severe_morbidity: list[str] | None  # the LEMMoN criteria met ([] none), None not sent
    child_indexes: list[int] = field(default_factory=list)
    content_hash: str = ""


class _Reader:
    """The values of one Observation's components, each problem noted with its place."""

    def __init__(self, mapper: _Mapper, resource: Any, at: str, allowed: frozenset[str]):
        self.values: dict[str, Any] = {}
        for n, c in enumerate(resource.component or []):
            where = f"{at}.component[{n}]"
            element = element_of(c.code)
            if element not in allowed:
                mapper.problem(
                    "code-invalid",
                    f"{where}.code",
                    _("This element is not read here: %(code)s.") % {"code": element or "-"},
                )
                continue
            if element in self.values:
                mapper.problem("duplicate", f"{where}.code", _("This element is given twice."))
                continue
            value = self.read(mapper, c, element, where)
            if value is not None:
                self.values[element] = value

    @staticmethod
    def read(mapper: _Mapper, c: Any, element: str, where: str) -> Any:
        if element in CODED:
            codings = c.valueCodeableConcept.coding or [] if c.valueCodeableConcept else []
            code = next((x.code for x in codings if x.system == f"{systems.BIRTH_RECORD}:{element}"), None)
            if code not in CODED[element]:
                mapper.problem(
                    "code-invalid",
                    f"{where}.valueCodeableConcept",
                    _("Use one of: %(codes)s.") % {"codes": ", ".join(CODED[element])},
                )
                return None
            return code
        if element in MOMENTS:
            if not isinstance(c.valueDateTime, datetime) or c.valueDateTime.tzinfo is None:
                mapper.problem(
                    "required", f"{where}.valueDateTime", _("Give a date and time with a time zone.")
                )
                return None
            return c.valueDateTime
        if element == "neonatal-death":
            value = c.valueDateTime
            if isinstance(value, datetime):
                return timezone.localdate(value) if value.tzinfo else value.date()
            if isinstance(value, date):
                return value
            mapper.problem("required", f"{where}.valueDateTime", _("Give the date."))
            return None
        if element in INTEGERS:
            if c.valueInteger is None:
                mapper.problem("required", f"{where}.valueInteger", _("Give a whole number."))
            return c.valueInteger
        if element in QUANTITIES:
            q = c.valueQuantity
            if q is None or q.value is None or q.code != QUANTITIES[element]:
                mapper.problem(
                    "required",
                    f"{where}.valueQuantity",
                    _("Give a quantity in %(unit)s.") % {"unit": QUANTITIES[element]},
                )
                return None
            return int(q.value)
        if c.valueBoolean is None:
            mapper.problem("required", f"{where}.valueBoolean", _("Give true or false."))
        return c.valueBoolean  # fmt: skip


def claims(resource: Any) -> bool:
    """Whether this module (not the care import) reads the resource: a caesarean Procedure."""
    return resource.get_resource_type() == "Procedure" and is_caesarean(resource)


def plan(mapper: _Mapper) -> list[PlannedDelivery]:
    """The deliveries of the Bundle, mapped (problems noted in the mapper). Observations of other codes
    (the pregnancy's: due date, parity...) are accepted and not stored."""
    planned: list[PlannedDelivery] = []
    members: set[int] = set()
    for i, resource, at in mapper.of_kind("Observation"):
        if not _read_or_known(resource):
            mapper.problem(
                "not-supported",
                at,
                _("Only a delivery, its children and the pregnancy's due date, parity and gravidity are read "
                  "from Observations (docs/fhir.md)."),
            )  # fmt: skip
        elif element_of(resource.code) == DELIVERY:
            found = _delivery(mapper, i, resource, at)
            if found is not None:
                planned.append(found)
                members |= set(found.child_indexes)
    listed = _listed(mapper)
    for i, resource, at in mapper.of_kind("Observation"):
        if (
            element_of(resource.code) == CHILD
            and i not in members
            and mapper.entries[i].fullUrl not in listed
        ):
            mapper.problem(
                "invalid",
                at,
                _("A child Observation must be a member (hasMember) of a delivery Observation."),
            )
    by_caesarean = {  # the clients with a delivery of this Bundle that has a child born by caesarean
        p.episode.client_id for p in planned if any(c.mode == BirthMode.CAESAREAN for c in p.children)
    }
    for _i, resource, at in mapper.of_kind("Procedure"):
        if claims(resource) and not mapper.mapped(resource) and resource.status != "entered-in-error":
            patient = mapper.resolve(resource.subject, "Patient", f"{at}.subject")
            client = mapper.clients.get(patient) if patient is not None else None
            if client is not None and client.pk not in by_caesarean:
                mapper.problem(
                    "business-rule",
                    at,
                    _(
                        "A caesarean needs a delivery Observation in this Bundle with a child born by caesarean."
                    ),
                )
    return planned  # fmt: skip


# The pregnancy's Observations the export writes: accepted and not stored (the pregnancy is the IGO's).
PREGNANCY = frozenset(
    {(systems.LOINC, "11778-8"), (systems.LOINC, "11977-6"), (systems.LOINC, "11996-6"),
     (systems.BIRTH_RECORD, "gestational-age-at-intake")}
)  # fmt: skip


def _read_or_known(resource: Any) -> bool:
    if element_of(resource.code) in (DELIVERY, CHILD):
        return True
    return any((c.system, c.code) in PREGNANCY for c in resource.code.coding or [])


def _listed(mapper: _Mapper) -> set[str]:
    """The references the delivery Observations list as members (a child listed by a delivery that was
    refused has its problem noted there), read once: not once per child, which grew with the square of
    the Bundle."""
    return {
        m.reference
        for _i, r, _at in mapper.of_kind("Observation")
        if element_of(r.code) == DELIVERY
        for m in r.hasMember or []
        if m.reference
    }


def _delivery(mapper: _Mapper, i: int, resource: Any, at: str) -> PlannedDelivery | None:
    before = len(mapper.issues)
    ident = next(((x.system, x.value) for x in resource.identifier or [] if x.system and x.value), None)
    if ident is None:
        mapper.problem(
            "required", f"{at}.identifier", _("A delivery needs an identifier (system and value).")
        )
        return None
    if any(len(part) > IDENTIFIER_MAX for part in ident):
        mapper.problem(
            "value",
            f"{at}.identifier",
            _("An identifier's system and value have at most %(n)s characters each.") % {"n": IDENTIFIER_MAX},
        )
        return None
    if resource.status == "entered-in-error":
        mapper.problem(
            "not-supported",
            f"{at}.status",
            _("A delivery cannot be withdrawn by FHIR; send it corrected, or ask the IGO."),
        )
        return None
    if resource.status not in ("final", "amended", "corrected"):
        mapper.problem(
            "value",
            f"{at}.status",
            _("Only a final delivery is imported, not %(status)s.") % {"status": resource.status},
        )
        return None
    patient = mapper.resolve(resource.subject, "Patient", f"{at}.subject")
    client = mapper.clients.get(patient) if patient is not None else None
    episode: Episode | None = None
    if resource.focus:
        e = mapper.resolve(resource.focus[0], "EpisodeOfCare", f"{at}.focus[0]")
        episode = mapper.episodes.get(e) if e is not None else None
    elif client is not None:
        episode = mapper.open_episode(client)
        if episode is None:
            mapper.problem(
                "not-found", f"{at}.subject", _("The client has no single open pregnancy; refer to one.")
            )
    if episode is not None and client is not None and episode.client_id != client.pk:
        mapper.problem("invalid", f"{at}.subject", _("The pregnancy is not this client's."))
        episode = None
    professional = None
    if not resource.performer:
        mapper.problem(
            "required",
            f"{at}.performer",
            _("Name the midwife or gynaecologist responsible for the delivery."),
        )
    else:
        p = mapper.resolve(resource.performer[0], "Practitioner", f"{at}.performer[0]")
        professional = mapper.professionals.get(p) if p is not None else None
    mother = _Reader(mapper, resource, at, DELIVERY_ELEMENTS).values
    children: list[tuple[int, deliveries.Child, tuple[bool, date | None]]] = []
    indexes: list[int] = []
    for n, member in enumerate(resource.hasMember or []):
        c = mapper.resolve(member, "Observation", f"{at}.hasMember[{n}]")
        if c is None:
            continue
        child_at = f"Bundle.entry[{c}].resource"
        child = mapper.entries[c].resource
        if element_of(child.code) != CHILD:
            mapper.problem(
                "invalid", f"{at}.hasMember[{n}]", _("A delivery's members are its child Observations.")
            )
            continue
        indexes.append(c)
        values = _Reader(mapper, child, child_at, CHILD_ELEMENTS).values
        born = child.effectiveDateTime
        if not isinstance(born, datetime) or born.tzinfo is None:
            mapper.problem(
                "required", f"{child_at}.effectiveDateTime", _("Give the time of birth with a time zone.")
            )
            born = None
        for name in ("outcome", "mode"):
            if name not in values:
                mapper.problem(
                    "required",
                    f"{child_at}.component",
                    _("Give the child's %(element)s.") % {"element": name},
                )
        number = values.get("child-number", n + 1)
        children.append(
            (
                number,
                deliveries.Child(
                    born_at=born,
                    outcome=values.get("outcome", ""),
                    mode=values.get("mode", ""),
                    sex=values.get("sex", ""),
                    weight_grams=values.get("birth-weight"),
                    apgar_1=values.get("apgar-1"),
                    apgar_5=values.get("apgar-5"),
                ),
                (bool(values.get("nicu", False)), values.get("neonatal-death")),
            )
        )
    if not children:
        mapper.problem("required", f"{at}.hasMember", _("A delivery has at least one child Observation."))
    numbers = [n for n, _c, _o in children]
    if sorted(numbers) != list(range(1, len(numbers) + 1)):
        mapper.problem("value", f"{at}.hasMember", _("Number the children 1, 2, ... once each."))
    if episode is None or professional is None or len(mapper.issues) > before:
        return None
    children.sort(key=lambda x: x[0])
    place = mother.get("place", "")
    plan = PlannedDelivery(
        index=i, system=ident[0], value=ident[1], episode=episode, professional=professional,
        labour_started_at=mother.get("labour-start"), placenta_at=mother.get("placenta"), place=place,
        # A delivery without its line: a clinical birth is second-line care, any other first-line.
        line=mother.get("line") or (Line.SECOND if place == BirthPlace.CLINICAL else Line.FIRST),
        clinical=deliveries.Clinical(
            presentation=mother.get("presentation", ""), labour_onset=mother.get("labour-onset", ""),
            previous_caesareans=mother.get("previous-caesareans"), perineum=mother.get("perineum", ""),
        ),
        children=[c for _n, c, _o in children],
        after_birth={n: o for n, _c, o in children},
        blood_loss_ml=mother.get("blood-loss"), breastfeeding=mother.get("breastfeeding"),
        severe_morbidity=(
            [code for element, code in LEMMON.items() if mother.get(element)]
            if any(element in mother for element in LEMMON) else None
        ),
        child_indexes=indexes,
    )  # fmt: skip
    plan.content_hash = hashlib.sha256(
        json.dumps(
            [episode.pk, professional.pk, plan.labour_started_at, plan.placenta_at, place, plan.line,
             plan.clinical.__dict__,
             # A child's sex only when sent, so that a delivery sent before the field existed keeps its hash.
             [{k: v for k, v in c.__dict__.items() if k != "sex" or v} for c in plan.children],
             sorted(plan.after_birth.items()),
             plan.blood_loss_ml, plan.breastfeeding,
             # Only when sent, so that a delivery sent before the criteria existed keeps its hash.
             *([plan.severe_morbidity] if plan.severe_morbidity is not None else [])],
            default=lambda v: v.isoformat() if isinstance(v, date | datetime) else str(v),
            sort_keys=True,
        ).encode()
    ).hexdigest()  # fmt: skip
    return plan


def store(
    planned: list[PlannedDelivery], *, member: Any, actor: Any, issues: list[Issue]
) -> dict[int, dict[str, Any]]:
    """Record or correct each delivery (inside the import's transaction); the transaction-response entries
    by entry index. A refusal of the services becomes an issue of that entry."""
    from fhir_io.importing import Issue, _messages  # the import imports this module: read at call time

    entries: dict[int, dict[str, Any]] = {}
    for plan in planned:
        at = f"Bundle.entry[{plan.index}].resource"
        link = FhirOutcomeLink.objects.filter(
            organisation=member, resource_type="Observation", system=plan.system, value=plan.value
        ).first()
        try:
            status = _store_one(plan, link, member=member, actor=actor)
        except PermissionDenied as exc:
            issues.append(Issue("forbidden", f"{at}.performer", str(exc)))
            continue
        except ValidationError as exc:
            for name, messages in _messages(exc):
                issues.append(Issue("business-rule", f"{at}" + (f" ({name})" if name else ""), messages))
            continue
        entries[plan.index] = {"response": {"status": status, "location": f"EpisodeOfCare/{plan.episode.pk}"}}
    return entries  # fmt: skip


def _store_one(plan: PlannedDelivery, link: FhirOutcomeLink | None, *, member: Any, actor: Any) -> str:
    if link is not None and link.content_hash == plan.content_hash:
        return "200 OK"
    if link is not None and link.episode_id != plan.episode.pk:
        raise ValidationError(_("This delivery was recorded in another pregnancy; it cannot move."))
    recorded = Birth.objects.filter(episode=plan.episode).exists()
    values = {
        "episode": plan.episode, "actor": actor, "labour_started_at": plan.labour_started_at,
        "children": plan.children, "placenta_at": plan.placenta_at, "place": plan.place, "line": plan.line,
        "clinical": plan.clinical, "professional": plan.professional,
    }  # fmt: skip
    if link is None and recorded:
        raise ValidationError(
            _(
                "This pregnancy's delivery is already recorded in the IGO; it is corrected there, not by a new sender."
            )
        )
    if link is None:
        deliveries.delivery_record(**values)
    else:
        deliveries.delivery_correct(**values, reason=f"FHIR: Observation {plan.value} changed")
    for birth in Birth.objects.filter(episode=plan.episode):
        nicu, death = plan.after_birth.get(birth.child_number, (False, None))
        if (birth.nicu_admission, birth.neonatal_death_on) != (nicu, death):
            care.birth_set_outcome(birth=birth, actor=actor, nicu_admission=nicu, neonatal_death_on=death)
    episode = Episode.objects.get(pk=plan.episode.pk)
    feeding = plan.breastfeeding or ""
    # The LEMMoN criteria only when sent: a sender that does not know them leaves those of the IGO as they are.
    criteria = episode.severe_morbidity if plan.severe_morbidity is None else plan.severe_morbidity
    mother = (episode.blood_loss_ml, episode.breastfeeding_at_kraamzorg_end, episode.severe_morbidity)
    if mother != (plan.blood_loss_ml, feeding, criteria):
        care.episode_set_outcomes(
            episode=episode, actor=actor, blood_loss_ml=plan.blood_loss_ml,
            kraamzorg_indicated_hours=episode.kraamzorg_indicated_hours, breastfeeding_at_kraamzorg_end=feeding,
            # The service's form of the criteria: None left as it is, ["none"] none of them.
            severe_morbidity=None if plan.severe_morbidity is None else plan.severe_morbidity or [LEMMON_NONE],
        )  # fmt: skip
    now = timezone.now()
    if link is None:
        FhirOutcomeLink.objects.create(
            tenant_id=plan.episode.tenant_id, organisation=member, resource_type="Observation",
            system=plan.system, value=plan.value, content_hash=plan.content_hash, episode=plan.episode,
        )  # fmt: skip
        return "201 Created"
    link.content_hash, link.updated_at = plan.content_hash, now
    link.save(update_fields=["content_hash", "updated_at"])
    return "200 OK"
