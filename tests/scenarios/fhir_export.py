"""The FHIR export's world (issue 21): a care world's pregnancy (tests.scenarios.care) delivered at home on
10 November 2026, with care before and after it, seen from that afternoon (`NOW`, `pytest.mark.clock`);
and the receiving side of a round trip: what a member system of another IGO changes in an exported Bundle
before it sends it as a transaction (the client by BSN, the professionals by AGB, the pregnancy).

| when (Amsterdam) | what |
|---|---|
| 27 Apr 10:00 | intake (INTAKE), due 9 Nov, 12+0 weeks |
| 3 Aug 10:00 | prenatal check (PRE_CHECK), logged at 09:00 and corrected to 10:00 |
| 10 Nov 01:30, 05:40, 06:00 | labour, child 1 born (3,450 g, Apgar 8/10, cephalic, spontaneous onset), placenta; second-degree tear, 350 ml |
| 10 Nov 12:00 | postnatal visit (POST_VISIT) |
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from fhir.resources.R4B import get_fhir_model_class
from fhir.resources.R4B.bundle import Bundle

from fhir_io import services as fhir_services
from fhir_io import systems
from igo.models import Role
from igo.tenancy import tenant_scope
from pregnancies import delivery, services
from pregnancies.models import Birth, CareEvent, Episode, EventStatus, LineTransfer
from tests.scenarios.birth_record import BIRTH
from tests.scenarios.care import Care
from tests.scenarios.clock import local

NOW = BIRTH.afternoon  # the export is seen that afternoon
INTAKE = dt.date(2026, 4, 27)
DUE = dt.date(2026, 11, 9)
CODES = ("INTAKE", "PRE_CHECK", "POST_VISIT", "DELIV_HOME")


def pregnancy_of_nov_2026(care: Care) -> Episode:
    """The world's episode moved to the dates of the table, first line from the intake."""
    care.update_episode(intake_date=INTAKE, due_date=DUE, gestational_age_at_intake=84)
    LineTransfer.unscoped.create(
        tenant=care.tenant, episode=care.episode, line="first", effective_at=local(2026, 4, 27, 0),
        reason="At intake", created_by=care.user(Role.MIDWIFE),
    )  # fmt: skip
    return care.episode


def delivered(care: Care) -> Episode:
    """The pregnancy of the table, with its care and delivery logged through the services by the midwife."""
    episode = pregnancy_of_nov_2026(care)
    midwife = care.user(Role.MIDWIFE)
    with tenant_scope(care.tenant):

        def log(code: str, at: dt.datetime) -> CareEvent:
            return services.care_event_log(
                actor=midwife, episode=episode, event_type=care.type(code), occurred_at=at
            )[0]

        log("INTAKE", local(2026, 4, 27, 10))
        check = log("PRE_CHECK", local(2026, 8, 3, 9))
        services.care_event_correct(
            event=check, actor=midwife, reason="time misread", occurred_at=local(2026, 8, 3, 10)
        )
        delivery.delivery_record(
            episode=episode, actor=midwife, labour_started_at=BIRTH.labour, placenta_at=BIRTH.placenta, place="home",
            line="first", now=NOW,
            children=[delivery.Child(born_at=BIRTH.born, outcome="live", mode="spontaneous", weight_grams=3450,
                                     sex="male", apgar_1=8, apgar_5=10)],
            clinical=delivery.Clinical(presentation="cephalic", labour_onset="spontaneous", previous_caesareans=0,
                                       perineum="second"),
        )  # fmt: skip
        services.episode_set_outcomes(
            episode=episode, actor=midwife, blood_loss_ml=350, kraamzorg_indicated_hours=None,
            severe_morbidity=["none"],  # none of the LEMMoN criteria: exported as seven "false"
        )  # fmt: skip
        log("POST_VISIT", local(2026, 11, 10, 12))
    episode.refresh_from_db()
    return episode


def validated(data: dict[str, Any]) -> Bundle:
    """The Bundle read by the fhir.resources models, each resource also by its own model."""
    bundle = Bundle.model_validate(data)
    for entry in data["entry"]:
        resource = entry["resource"]
        get_fhir_model_class(resource["resourceType"]).model_validate(resource)
    return bundle


def resources(data: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [e["resource"] for e in data["entry"] if e["resource"]["resourceType"] == kind]


def receiving_side(receiver: Care) -> None:
    """What the receiving IGO sets up: the platform's catalogue codes mapped to its own catalogue."""
    admin = receiver.user(Role.IGO_ADMIN)
    for code in CODES:
        fhir_services.code_mapping_create(
            tenant=receiver.tenant, actor=admin, system=systems.CATALOGUE, code=code,
            event_type=receiver.type(code),
        )  # fmt: skip


def as_transaction(document: dict[str, Any], *, receiver: Care, agb: dict[str, str]) -> dict[str, Any]:
    """The exported document as the receiving member's system sends it: a transaction without the
    Composition, with its own client's BSN, its professionals' AGB codes (`agb`: sent -> its own) and its
    pregnancy's number; nothing else changed."""
    entries = []
    for entry in document["entry"]:
        resource = dict(entry["resource"])
        kind = resource["resourceType"]
        if kind == "Composition":
            continue
        if kind == "Patient":
            resource["identifier"] = [{"system": systems.BSN, "value": receiver.client.bsn}]
        if kind == "Practitioner":
            resource["identifier"] = [
                {"system": systems.AGB, "value": agb[resource["identifier"][0]["value"]]}
            ]
        if kind == "EpisodeOfCare":
            resource["identifier"] = [{"system": systems.EPISODE, "value": str(receiver.episode.pk)}]
        entries.append({"fullUrl": entry["fullUrl"], "resource": resource,
                        "request": {"method": "POST", "url": kind}})  # fmt: skip
    return {"resourceType": "Bundle", "type": "transaction", "entry": entries}


def care_summary(episode: Episode) -> list[tuple[str, dt.datetime, Decimal, str]]:
    return [
        (e.event_type.code, e.occurred_at, e.quantity, e.phase)
        for e in CareEvent.unscoped.filter(episode=episode, status=EventStatus.ACTIVE)
        .select_related("event_type")
        .order_by("occurred_at")
    ]


def birth_summary(episode: Episode) -> list[tuple[Any, ...]]:
    return [
        (b.child_number, b.born_at, b.outcome, b.place, b.mode, b.sex, b.weight_grams, b.apgar_1, b.apgar_5,
         b.nicu_admission, b.neonatal_death_on)
        for b in Birth.unscoped.filter(episode=episode).order_by("child_number")
    ]  # fmt: skip


def outcome_summary(episode: Episode) -> tuple[Any, ...]:
    e = Episode.unscoped.get(pk=episode.pk)
    return (
        e.labour_started_at, e.placenta_at, e.placenta_plus_2h_at, e.presentation, e.labour_onset,
        e.previous_caesareans, e.perineum, e.blood_loss_ml, e.breastfeeding_at_kraamzorg_end, e.severe_morbidity,
    )  # fmt: skip
