"""The FHIR export (issue 21): one episode as a `document` Bundle (a hand-over to a treating hospital) and
the episodes of a period as a `collection` Bundle (the perinatal registry's yearly delivery).

Who receives the data decides what identifies the woman (docs/fhir.md, "The BSN rule"): a treating hospital
is entitled to her BSN, name and address (the WGBO hand-over of a patient in its care); the perinatal
registry is not, and gets the platform's pseudonym of the client instead, her date of birth and the four
digits of her postcode. The receiver is always an explicit parameter, never a default of the data.

Every export writes one access-log entry (`export`) per client in it, by the user who asked.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from django.db import models
from django.utils import timezone
from django.utils.crypto import salted_hmac
from django.utils.translation import gettext_lazy as _

from fhir_io import outcomes, selectors, systems
from igo.models import Tenant, User
from pregnancies import services as care
from pregnancies.delivery import DELIVERY_EVENT_CODES
from pregnancies.models import (
    AccessAction,
    Birth,
    BirthMode,
    CareEvent,
    Client,
    Episode,
    EpisodeStatus,
    EventStatus,
    Unit,
)
from providers.models import MemberOrganisation, Professional

TERM_DAYS = 280


class Receiver(models.TextChoices):
    HOSPITAL = "hospital", _("A treating hospital (hand-over, with the BSN)")
    REGISTRY = "registry", _("The perinatal registry (pseudonymous, without the BSN)")


# Receivers entitled to the BSN (and name, address, phone): those who treat the woman.
BSN_ENTITLED = frozenset({Receiver.HOSPITAL})

# The platform's namespace for the fullUrls of exported resources (urn:uuid, the same for the same row).
NAMESPACE = uuid.UUID("6f1d2b8e-4c1a-5d7e-9b3f-2a8c0e4d1f60")


def pseudonym(client: Client) -> str:
    """The client's pseudonym: a keyed hash of IGO and client, stable across exports, not reversible."""
    return salted_hmac(
        "igo.fhir.pseudonym", f"{client.tenant_id}:{client.pk}", algorithm="sha256"
    ).hexdigest()[:32]


def gestational_days_at(episode: Episode, moment: datetime) -> int:
    """The gestational age in days on the local day of `moment`, from the due date (40+0 on it)."""
    return TERM_DAYS - (episode.due_date - timezone.localdate(moment)).days


def _iso(value: date | datetime) -> str:
    if isinstance(value, datetime):
        return timezone.localtime(value).isoformat()
    return value.isoformat()


def _ref(url: str) -> dict[str, str]:
    return {"reference": url}


@dataclass
class _Episode:
    """The fullUrls of one episode's resources, by the Composition's sections."""

    pregnancy: list[str] = field(default_factory=list)
    care: list[str] = field(default_factory=list)
    birth: list[str] = field(default_factory=list)


class _Builder:
    """Entries of one export; a resource that several episodes share (a practitioner) is in it once."""

    def __init__(self, tenant: Tenant, receiver: str):
        self.tenant = tenant
        self.receiver = Receiver(receiver)
        self.entries: dict[str, dict[str, Any]] = {}  # by fullUrl, in order of adding
        self.mappings = selectors.code_mappings_by_type()

    def url(self, kind: str, key: object) -> str:
        return f"urn:uuid:{uuid.uuid5(NAMESPACE, f'{self.tenant.pk}/{kind}/{key}')}"

    def add(self, url: str, resource: dict[str, Any]) -> str:
        self.entries.setdefault(url, {"fullUrl": url, "resource": resource})
        return url

    # --- who ---------------------------------------------------------------------------------

    def igo(self) -> str:
        url = self.url("Organization", "igo")
        return self.add(
            url,
            {
                "resourceType": "Organization",
                "identifier": [{"system": systems.AGB, "value": self.tenant.agb_code}],
                "name": self.tenant.name,
            },
        )

    def patient(self, client: Client) -> str:
        url = self.url("Patient", client.pk)
        if url in self.entries:
            return url
        resource: dict[str, Any] = {"resourceType": "Patient", "gender": "female"}
        if self.receiver in BSN_ENTITLED:
            resource["identifier"] = [{"system": systems.BSN, "value": client.bsn}]
            resource["name"] = [{"family": client.family_name, "given": client.given_names.split()}]
            if client.phone:
                resource["telecom"] = [{"system": "phone", "value": client.phone}]
            if client.address or client.postcode or client.city:
                address = {"line": [client.address] if client.address else None, "postalCode": client.postcode,
                           "city": client.city, "country": "NL"}  # fmt: skip
                resource["address"] = [{k: v for k, v in address.items() if v}]
        else:
            resource["identifier"] = [{"system": systems.CLIENT_PSEUDONYM, "value": pseudonym(client)}]
            if client.postcode[:4].isdigit():
                resource["address"] = [{"postalCode": client.postcode[:4], "country": "NL"}]
        resource["birthDate"] = client.date_of_birth.isoformat()
        return self.add(url, resource)

    def organisation(self, organisation: MemberOrganisation) -> str:
        return self.add(
            self.url("Organization", f"member-{organisation.pk}"),
            {
                "resourceType": "Organization",
                "identifier": [{"system": systems.AGB, "value": organisation.agb_code}],
                "name": organisation.name,
            },
        )

    def practitioner(self, professional: Professional) -> str:
        resource: dict[str, Any] = {
            "resourceType": "Practitioner",
            "name": [{"text": professional.full_name}],
        }
        if professional.agb_code:
            resource["identifier"] = [{"system": systems.AGB, "value": professional.agb_code}]
        return self.add(self.url("Practitioner", professional.pk), resource)

    def insurer(self, episode: Episode) -> str | None:
        """The insurer today, else on the intake date (hand-overs only: the registry does not need it)."""
        if self.receiver not in BSN_ENTITLED:
            return None
        covers = [
            i
            for day in (timezone.localdate(), episode.intake_date)
            for i in episode.client.insurances.all()
            if i.valid_from <= day and (i.valid_until is None or i.valid_until >= day)
        ]
        cover = covers[0] if covers else None
        if cover is None:
            return None
        return self.add(
            self.url("Organization", f"insurer-{cover.insurer_id}"),
            {
                "resourceType": "Organization",
                "identifier": [{"system": systems.UZOVI, "value": cover.insurer.uzovi_code}],
                "name": cover.insurer.name,
            },
        )

    # --- the pregnancy -------------------------------------------------------------------------

    def episode(self, episode: Episode) -> _Episode:
        out = _Episode()
        patient = self.patient(episode.client)
        births = list(episode.births.all())
        episode_url = self.url("EpisodeOfCare", episode.pk)
        resource: dict[str, Any] = {
            "resourceType": "EpisodeOfCare",
            "identifier": [{"system": systems.EPISODE, "value": str(episode.pk)}],
            "status": "active" if episode.status == EpisodeStatus.ACTIVE else "finished",
            "patient": _ref(patient),
            "period": {"start": episode.intake_date.isoformat()},
        }
        if episode.end_date:
            resource["period"]["end"] = episode.end_date.isoformat()
        if episode.coordinating_professional is not None:
            resource["careManager"] = _ref(self.practitioner(episode.coordinating_professional))
            resource["managingOrganization"] = _ref(
                self.organisation(episode.coordinating_professional.organisation)
            )
        out.pregnancy.append(self.add(episode_url, resource))
        condition: dict[str, Any] = {
            "resourceType": "Condition",
            "clinicalStatus": {"coding": [{
                "system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
                "code": "resolved" if births or episode.status == EpisodeStatus.ENDED else "active",
            }]},
            "code": {"coding": [{"system": systems.SNOMED, "code": "77386006", "display": "Pregnant"}]},
            "subject": _ref(patient),
            "recordedDate": episode.intake_date.isoformat(),
        }  # fmt: skip
        if births:
            condition["abatementDateTime"] = _iso(min(b.born_at for b in births))
        out.pregnancy.append(self.add(self.url("Condition", episode.pk), condition))
        for key, coding, value in (
            ("due", {"system": systems.LOINC, "code": "11778-8", "display": "Delivery date Estimated"},
             {"valueDateTime": episode.due_date.isoformat()}),
            ("parity", {"system": systems.LOINC, "code": "11977-6", "display": "[#] Parity"},
             {"valueInteger": episode.parity}),
            ("gravida", {"system": systems.LOINC, "code": "11996-6", "display": "[#] Pregnancies"},
             {"valueInteger": episode.gravida}),
            ("ga-intake", {"system": systems.BIRTH_RECORD, "code": "gestational-age-at-intake"},
             {"valueQuantity": outcomes.days(episode.gestational_age_at_intake)}),
        ):  # fmt: skip
            observation = {
                "resourceType": "Observation",
                "status": "final",
                "code": {"coding": [coding]},
                "subject": _ref(patient),
                "focus": [_ref(episode_url)],
                "effectiveDateTime": episode.intake_date.isoformat(),
                **value,
            }
            out.pregnancy.append(self.add(self.url("Observation", f"{episode.pk}/{key}"), observation))
        insurer = self.insurer(episode)
        if insurer is not None:
            out.pregnancy.append(insurer)
        events = list(episode.events.all())
        delivery_event = next(
            (
                e
                for e in sorted(events, key=lambda e: (e.occurred_at, e.pk), reverse=True)
                if e.status == EventStatus.ACTIVE and e.event_type.code in DELIVERY_EVENT_CODES
            ),
            None,
        )
        for event, root in heads(events):
            if births and event.event_type.code in DELIVERY_EVENT_CODES:
                continue  # the delivery is the delivery Observation (its performer, moment and place)
            out.care.append(self.care_event(event, root, patient, episode_url))
        if births:
            performer = delivery_event.professional if delivery_event else episode.coordinating_professional
            out.birth += self.delivery(episode, births, patient, episode_url, performer)
        return out

    def care_event(self, event: CareEvent, root: int, patient: str, episode_url: str) -> str:
        event_type = event.event_type
        identifier = [{"system": systems.CARE_EVENT, "value": f"{self.tenant.slug}/{root}"}]
        coding = [{"system": systems.CATALOGUE, "code": event_type.code, "display": event_type.name_nl}]
        coding += [{"system": s, "code": c} for s, c in self.mappings.get(event_type.pk, [])]
        practitioner = self.practitioner(event.professional)
        organisation = self.organisation(event.organisation)
        voided = event.status == EventStatus.VOIDED
        if event_type.unit == Unit.ITEM:
            resource: dict[str, Any] = {
                "resourceType": "Procedure",
                "identifier": identifier,
                "status": "entered-in-error" if voided else "completed",
                "code": {"coding": coding},
                "subject": _ref(patient),
                "performedDateTime": _iso(event.occurred_at),
                "performer": [{"actor": _ref(practitioner), "onBehalfOf": _ref(organisation)}],
            }
        else:
            resource = {
                "resourceType": "Encounter",
                "identifier": identifier,
                "status": "entered-in-error" if voided else "finished",
                "class": {"system": systems.V3_ACT, "code": "IMP" if event_type.unit == Unit.DAY else "AMB"},
                "type": [{"coding": coding}],
                "subject": _ref(patient),
                "episodeOfCare": [_ref(episode_url)],
                "participant": [{"individual": _ref(practitioner)}],
                "period": {"start": _iso(event.occurred_at)},
                "serviceProvider": _ref(organisation),
            }
            if event_type.unit == Unit.HOUR:
                resource["length"] = {
                    "value": float(event.quantity), "unit": "h", "system": systems.UCUM, "code": "h"
                }  # fmt: skip
        return self.add(self.url(resource["resourceType"], f"event-{root}"), resource)

    def delivery(
        self,
        episode: Episode,
        births: list[Birth],
        patient: str,
        episode_url: str,
        performer: Professional | None,
    ) -> list[str]:
        """The delivery Observation (the mother's side), one Observation per child, and the caesarean."""
        out: list[str] = []
        performers = [_ref(self.practitioner(performer))] if performer is not None else []
        children: list[str] = []
        for birth in births:
            number = f"{self.tenant.slug}/{episode.pk}/{birth.child_number}"
            child = {
                "resourceType": "Observation",
                "identifier": [{"system": systems.CHILD, "value": number}],
                "status": "final",
                "code": outcomes.concept(outcomes.CHILD),
                "subject": _ref(patient),
                "focus": [_ref(episode_url)],
                "effectiveDateTime": _iso(birth.born_at),
                "performer": performers,
                "component": outcomes.child_components(
                    birth, gestational_days=gestational_days_at(episode, birth.born_at)
                ),
            }  # fmt: skip
            children.append(self.add(self.url("Observation", f"child-{birth.pk}"), child))
        first_born = min(b.born_at for b in births)
        delivery = {
            "resourceType": "Observation",
            "identifier": [{"system": systems.DELIVERY, "value": f"{self.tenant.slug}/{episode.pk}"}],
            "status": "final",
            "code": outcomes.concept(outcomes.DELIVERY),
            "subject": _ref(patient),
            "focus": [_ref(episode_url)],
            "effectiveDateTime": _iso(first_born),
            "performer": performers,
            "hasMember": [_ref(c) for c in children],
            "component": outcomes.delivery_components(
                episode,
                place=births[0].place,
                line=_line_at(episode, episode.labour_started_at or first_born),
            ),
        }
        out.append(self.add(self.url("Observation", f"delivery-{episode.pk}"), delivery))
        out += children
        caesareans = [b for b in births if b.mode == BirthMode.CAESAREAN]
        if caesareans:
            procedure = {
                "resourceType": "Procedure",
                "identifier": [{"system": systems.DELIVERY, "value": f"{self.tenant.slug}/{episode.pk}/caesarean"}],
                "status": "completed",
                "code": {"coding": [outcomes.CAESAREAN]},
                "subject": _ref(patient),
                "performedDateTime": _iso(min(b.born_at for b in caesareans)),
                "performer": [{"actor": p} for p in performers],
            }  # fmt: skip
            out.append(self.add(self.url("Procedure", f"caesarean-{episode.pk}"), procedure))
        return out


def _line_at(episode: Episode, moment: datetime) -> str:
    line = ""
    for transfer in sorted(episode.line_transfers.all(), key=lambda t: (t.effective_at, t.pk)):
        if transfer.effective_at <= moment:
            line = transfer.line
    return line


def heads(events: Iterable[CareEvent]) -> list[tuple[CareEvent, int]]:
    """The current event of each correction chain (active or voided), with the number of the chain's
    first event: what a correction keeps, so that a receiver sees the same resource changed."""
    by_pk = {e.pk: e for e in events}

    def root(event: CareEvent) -> int:
        while event.supersedes_id is not None and event.supersedes_id in by_pk:
            event = by_pk[event.supersedes_id]
        return event.pk

    current = [e for e in by_pk.values() if e.status in (EventStatus.ACTIVE, EventStatus.VOIDED)]
    return [(e, root(e)) for e in sorted(current, key=lambda e: (e.occurred_at, e.pk))]


def _bundle(
    kind: str, builder: _Builder, what: str, now: datetime, first: list[dict[str, Any]]
) -> dict[str, Any]:
    stamp = now.strftime("%Y%m%dT%H%M%S")
    return {
        "resourceType": "Bundle",
        "identifier": {"system": systems.EXPORT, "value": f"{builder.tenant.slug}/{what}/{stamp}"},
        "type": kind,
        "timestamp": _iso(now),
        "entry": first + list(builder.entries.values()),
    }  # fmt: skip


def episode_document(
    *, tenant: Tenant, episode: Episode, actor: User, receiver: str, now: datetime | None = None
) -> dict[str, Any]:
    """One episode as a FHIR document Bundle: the Composition first, then every resource it refers to."""
    now = now or timezone.now()
    episode = selectors.episodes_for_export(Episode.objects.filter(pk=episode.pk))[0]
    builder = _Builder(tenant, receiver)
    author = builder.igo()
    parts = builder.episode(episode)
    sections = [
        ("Zwangerschap", "pregnancy", parts.pregnancy),
        ("Zorgcontacten", "care", parts.care),
        ("Bevalling en kinderen", "birth", parts.birth),
    ]
    composition = {
        "fullUrl": builder.url("Composition", f"{episode.pk}/{now.isoformat()}"),
        "resource": {
            "resourceType": "Composition",
            "status": "final",
            "type": {"coding": [{"system": systems.LOINC, "code": "34133-9", "display": "Summary of episode note"}]},
            "subject": _ref(builder.patient(episode.client)),
            "date": _iso(now),
            "author": [_ref(author)],
            "title": "Overdracht geboortezorg",
            "section": [
                {"title": title, "code": {"coding": [{"system": systems.BIRTH_RECORD, "code": f"section-{code}"}]},
                 "entry": [_ref(u) for u in urls]}
                for title, code, urls in sections
                if urls
            ],
        },
    }  # fmt: skip
    care.access_log_many(
        user=actor, clients=[episode.client], action=AccessAction.EXPORT, detail=f"FHIR document ({receiver})"
    )
    return _bundle("document", builder, f"episode-{episode.pk}", now, [composition])


def period_collection(
    *, tenant: Tenant, start: date, end: date, actor: User, receiver: str, now: datetime | None = None
) -> dict[str, Any]:
    """The episodes of a period (a child born in it, or ended in it without a birth) as a collection
    Bundle; `end` is exclusive."""
    now = now or timezone.now()
    builder = _Builder(tenant, receiver)
    builder.igo()
    episodes = selectors.episodes_for_export(selectors.episodes_of_period(start=start, end=end))
    for episode in episodes:
        builder.episode(episode)
    care.access_log_many(
        user=actor,
        clients=[e.client for e in episodes],
        action=AccessAction.EXPORT,
        detail=f"FHIR collection {start.isoformat()}..{end.isoformat()} ({receiver})",
    )
    return _bundle("collection", builder, f"period-{start.isoformat()}-{end.isoformat()}", now, [])
