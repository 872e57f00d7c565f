"""Serializers of the care-logging API. They parse input and format output; they hold no business rule.

Lengths and ranges below mirror the database columns (so a value always fits its column); whether a
value is *allowed* (a valid BSN, a possible due date, an event in the right phase, a discipline that may
log it) is decided by `pregnancies.services`, whose field-level errors the views return as a 400.

The BSN is write-only: responses carry it masked (`*****1234`), never in full.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from igo.api.fields import CodeRelatedField
from igo.models import Insurer
from pregnancies.models import (
    Birth,
    BirthMode,
    BirthOutcome,
    BirthPlace,
    Breastfeeding,
    CareEvent,
    ChildSex,
    Client,
    ClientInsurance,
    DatingMethod,
    EndReason,
    Episode,
    EpisodeStatus,
    EventStatus,
    EventType,
    LabourOnset,
    LemmonCriterion,
    Line,
    Perineum,
    Presentation,
)
from providers.models import MemberOrganisation, OrganisationKind, Professional

# --- input fields --------------------------------------------------------------------------


class EventTypeCodeField(CodeRelatedField):
    """A care-event type named by its catalogue code (e.g. `PRE_CHECK`), as listed by `event-types/`.

    Looked up in the catalogue of the tenant in scope at request time (inactive entries included: the
    service says why they may not be logged), so another IGO's catalogue is never reachable.
    """

    def __init__(self, **kwargs: Any) -> None:
        # The placeholder queryset only tells the schema generator the model; see get_queryset.
        super().__init__(slug_field="code", queryset=EventType.unscoped.none(), **kwargs)

    def get_queryset(self) -> Any:
        return EventType.objects.all()


# --- requests ------------------------------------------------------------------------------


class ClientSearchSerializer(serializers.Serializer):
    """Search by BSN (exactly 9 digits), part of a name, and/or the date of birth."""

    q = serializers.CharField(
        required=False, allow_blank=True, default="", max_length=100, help_text="Name (part) or BSN."
    )
    date_of_birth = serializers.DateField(required=False, allow_null=True, default=None)


class KraamzorgOrganisationField(CodeRelatedField):
    """One of the IGO's maternity-care organisations, named by its AGB code (looked up in the IGO in scope at
    request time, so another IGO's organisations are never reachable)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(slug_field="agb_code", queryset=MemberOrganisation.unscoped.none(), **kwargs)

    def get_queryset(self) -> Any:
        return MemberOrganisation.objects.filter(kind=OrganisationKind.KRAAMZORG)


class PregnancySerializer(serializers.Serializer):
    """A pregnancy as the intake takes it. The due date is calculated from the dating chosen: `lmp` (from
    `lmp_date`), `ultrasound` (from `ultrasound_on` and `ultrasound_gestational_days`) or `due_date` (as
    given)."""

    intake_date = serializers.DateField()
    dating_method = serializers.ChoiceField(
        choices=DatingMethod.choices, required=False, default=DatingMethod.DUE_DATE
    )
    lmp_date = serializers.DateField(
        required=False, allow_null=True, default=None, help_text="First day of the last menstrual period."
    )
    ultrasound_on = serializers.DateField(required=False, allow_null=True, default=None)
    ultrasound_gestational_days = serializers.IntegerField(
        required=False,
        allow_null=True,
        default=None,
        min_value=0,
        max_value=45 * 7,
        help_text="The gestational age the dating ultrasound measured, in days.",
    )
    due_date = serializers.DateField(
        required=False, allow_null=True, default=None, help_text="Only with `dating_method` `due_date`."
    )
    gestational_age_at_intake = serializers.IntegerField(
        required=False,
        allow_null=True,
        default=None,
        min_value=0,
        max_value=45 * 7,
        help_text="In days; leave out to derive it from the due date.",
    )
    gravida = serializers.IntegerField(
        required=False,
        allow_null=True,
        default=None,
        min_value=0,
        max_value=30,
        help_text="Pregnancies, this one included; left out: derived.",
    )
    parity = serializers.IntegerField(
        required=False,
        allow_null=True,
        default=None,
        min_value=0,
        max_value=20,
        help_text="Earlier births from 24+0 weeks; left out: derived.",
    )
    line = serializers.ChoiceField(choices=Line.choices, required=False, default=Line.FIRST)
    kraamzorg_organisation = KraamzorgOrganisationField(
        required=False, allow_null=True, default=None, help_text="AGB code of a maternity-care member."
    )


class IntakeSerializer(PregnancySerializer):
    """A new client with her insurance and her first pregnancy episode, stored in one transaction."""

    given_names = serializers.CharField(allow_blank=True)
    family_name = serializers.CharField(allow_blank=True)
    date_of_birth = serializers.DateField()
    bsn = serializers.CharField(allow_blank=True, write_only=True)
    address = serializers.CharField(required=False, allow_blank=True, default="", max_length=200)
    postcode = serializers.CharField(required=False, allow_blank=True, default="")
    city = serializers.CharField(required=False, allow_blank=True, default="", max_length=80)
    phone = serializers.CharField(required=False, allow_blank=True, default="", max_length=20)
    gp_name = serializers.CharField(
        required=False, allow_blank=True, default="", max_length=150, help_text="General practitioner."
    )
    insurer = CodeRelatedField(
        slug_field="uzovi_code",
        queryset=Insurer.objects.filter(is_active=True),
        help_text="UZOVI code of the insurer.",
    )
    policy_number = serializers.CharField(max_length=20, allow_blank=True)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        # A first pregnancy: parity 0 unless given (gravida follows from it in the service).
        if attrs.get("parity") is None:
            attrs["parity"] = 0
        return attrs


class CareEventCreateSerializer(serializers.Serializer):
    event_type = EventTypeCodeField(help_text="Catalogue code of the event type, as listed by event-types/.")
    occurred_at = serializers.DateTimeField()
    quantity = serializers.DecimalField(max_digits=6, decimal_places=2, required=False, default=Decimal("1"))
    location = serializers.CharField(max_length=120, required=False, allow_blank=True, default="")
    note = serializers.CharField(required=False, allow_blank=True, default="", max_length=4000)
    submission_key = serializers.UUIDField(
        required=False,
        allow_null=True,
        default=None,
        help_text="A client-generated key; a retry with the same key returns the first event (200).",
    )
    confirm_over_limit = serializers.BooleanField(
        required=False, default=False, help_text="Log kraamzorg hours beyond the maximum anyway."
    )
    confirm_duplicate = serializers.BooleanField(
        required=False,
        default=False,
        help_text="Log the same catalogue entry again within its repeat window anyway (otherwise 400 with "
        "`code` `duplicate_event` and the earlier event under `confirm_duplicate`).",
    )


class CareEventCorrectSerializer(serializers.Serializer):
    """The changed values (left-out fields keep their value) and the reason for the correction."""

    reason = serializers.CharField(max_length=200, allow_blank=True)
    event_type = EventTypeCodeField(required=False)
    occurred_at = serializers.DateTimeField(required=False)
    quantity = serializers.DecimalField(max_digits=6, decimal_places=2, required=False)
    location = serializers.CharField(max_length=120, required=False, allow_blank=True)
    note = serializers.CharField(required=False, allow_blank=True, max_length=4000)
    confirm_over_limit = serializers.BooleanField(required=False, default=False)


class CareEventVoidSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=200, allow_blank=True)


class EventListQuerySerializer(serializers.Serializer):
    include_history = serializers.BooleanField(
        required=False, default=False, help_text="Also return corrected and voided events."
    )


# --- responses -----------------------------------------------------------------------------


# Two models have a `status` with different choices: name their enums in the schema explicitly.
@extend_schema_field({"type": "string", "enum": EpisodeStatus.values}, component_name="EpisodeStatusEnum")
class EpisodeStatusField(serializers.ChoiceField):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(choices=EpisodeStatus.choices, read_only=True, **kwargs)


@extend_schema_field({"type": "string", "enum": EventStatus.values}, component_name="EventStatusEnum")
class EventStatusField(serializers.ChoiceField):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(choices=EventStatus.choices, read_only=True, **kwargs)


# `outcome`, `place` and `mode` are names other models may well use with other choices: name the enums.
@extend_schema_field({"type": "string", "enum": BirthOutcome.values}, component_name="BirthOutcomeEnum")
class BirthOutcomeField(serializers.ChoiceField):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(choices=BirthOutcome.choices, read_only=True, **kwargs)


@extend_schema_field({"type": "string", "enum": BirthPlace.values}, component_name="BirthPlaceEnum")
class BirthPlaceField(serializers.ChoiceField):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(choices=BirthPlace.choices, read_only=True, **kwargs)


@extend_schema_field({"type": "string", "enum": BirthMode.values}, component_name="BirthModeEnum")
class BirthModeField(serializers.ChoiceField):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(choices=BirthMode.choices, read_only=True, **kwargs)


class ClientSummarySerializer(serializers.ModelSerializer):
    bsn_masked = serializers.CharField(read_only=True, help_text="The last four digits of the BSN.")

    class Meta:
        model = Client
        fields = ["id", "family_name", "given_names", "date_of_birth", "bsn_masked", "postcode"]
        read_only_fields = fields


class ClientInsuranceSerializer(serializers.ModelSerializer):
    insurer_uzovi_code = serializers.CharField(source="insurer.uzovi_code", read_only=True)
    insurer_name = serializers.CharField(source="insurer.name", read_only=True)

    class Meta:
        model = ClientInsurance
        fields = ["id", "insurer_uzovi_code", "insurer_name", "policy_number", "valid_from", "valid_until"]
        read_only_fields = fields


class EpisodeSummarySerializer(serializers.ModelSerializer):
    status = EpisodeStatusField()
    end_reason = serializers.ChoiceField(
        choices=EndReason.choices,
        allow_blank=True,
        read_only=True,
        help_text="Why care ended; empty while the episode is open.",
    )

    class Meta:
        model = Episode
        fields = ["id", "intake_date", "due_date", "gravida", "parity", "status", "end_date", "end_reason"]
        read_only_fields = fields


class ClientDetailSerializer(ClientSummarySerializer):
    insurances = ClientInsuranceSerializer(many=True, read_only=True)
    episodes = EpisodeSummarySerializer(many=True, read_only=True)

    class Meta(ClientSummarySerializer.Meta):
        fields = [*ClientSummarySerializer.Meta.fields, "created_at", "insurances", "episodes"]
        read_only_fields = fields


class IntakeResultSerializer(serializers.Serializer):
    client_id = serializers.IntegerField()
    episode_id = serializers.IntegerField()


class EventTypeSerializer(serializers.ModelSerializer):
    name = serializers.CharField(read_only=True, help_text="In the language of the request.")
    disciplines = serializers.ListField(child=serializers.CharField(), read_only=True)

    class Meta:
        model = EventType
        fields = ["id", "code", "name", "name_nl", "name_en", "phase", "unit", "disciplines", "max_quantity"]
        read_only_fields = fields


class EventTypeRefSerializer(serializers.ModelSerializer):
    name = serializers.CharField(read_only=True)

    class Meta:
        model = EventType
        fields = ["id", "code", "name", "phase", "unit"]
        read_only_fields = fields


class ProfessionalRefSerializer(serializers.ModelSerializer):
    class Meta:
        model = Professional
        fields = ["id", "full_name", "discipline"]
        read_only_fields = fields


class OrganisationRefSerializer(serializers.ModelSerializer):
    class Meta:
        model = MemberOrganisation
        fields = ["id", "name"]
        read_only_fields = fields


class CareEventSerializer(serializers.ModelSerializer):
    """A logged care event. It includes the medical note: only clinical roles are served these."""

    event_type = EventTypeRefSerializer(read_only=True)
    professional = ProfessionalRefSerializer(read_only=True)
    organisation = OrganisationRefSerializer(read_only=True)
    status = EventStatusField()
    created_by_name = serializers.CharField(source="created_by.get_full_name", read_only=True)

    class Meta:
        model = CareEvent
        fields = [
            "id",
            "episode",
            "event_type",
            "occurred_at",
            "quantity",
            "phase",
            "professional",
            "organisation",
            "location",
            "note",
            "status",
            "supersedes",
            "change_reason",
            "voided_at",
            "submission_key",
            "created_by_name",
            "created_at",
        ]
        read_only_fields = fields


class CareEventResultSerializer(serializers.Serializer):
    event = CareEventSerializer()
    created = serializers.BooleanField(help_text="False when the submission_key had been used before.")
    warnings = serializers.ListField(child=serializers.CharField())


class CareEventCorrectResultSerializer(serializers.Serializer):
    event = CareEventSerializer(help_text="The new event; the original is kept as corrected.")
    warnings = serializers.ListField(child=serializers.CharField())


class EventsByPhaseSerializer(serializers.Serializer):
    prenatal = CareEventSerializer(many=True)
    natal = CareEventSerializer(many=True)
    postnatal = CareEventSerializer(many=True)


class KeyDatesSerializer(serializers.ModelSerializer):
    class Meta:
        model = Episode
        fields = [
            "labour_started_at",
            "placenta_plus_2h_at",
            "hospital_admitted_at",
            "hospital_discharged_at",
            "kraamzorg_ended_on",
            "postnatal_ended_on",
        ]
        read_only_fields = fields


class BirthSerializer(serializers.ModelSerializer):
    """One child of the episode, with what happened after birth (NICU admission, neonatal death)."""

    outcome = BirthOutcomeField()
    place = BirthPlaceField()
    mode = BirthModeField()

    class Meta:
        model = Birth
        fields = [
            "id",
            "child_number",
            "born_at",
            "outcome",
            "place",
            "mode",
            "sex",
            "weight_grams",
            "apgar_1",
            "apgar_5",
            "nicu_admission",
            "neonatal_death_on",
        ]
        read_only_fields = fields


class EpisodeDetailSerializer(serializers.ModelSerializer):
    """A pregnancy episode with its care-path dates, its births and outcomes, and its active care events
    by phase."""

    # The view passes the events grouped by phase (selectors.episode_timeline) as context["timeline"].

    client = ClientSummarySerializer(read_only=True)
    coordinating_professional = ProfessionalRefSerializer(read_only=True, allow_null=True)
    status = EpisodeStatusField()
    end_reason = serializers.ChoiceField(
        choices=EndReason.choices,
        allow_blank=True,
        read_only=True,
        help_text="Why care ended; empty while the episode is open.",
    )
    key_dates = KeyDatesSerializer(source="*", read_only=True)
    # The birth record's fields: empty while not recorded.
    presentation = serializers.ChoiceField(choices=Presentation.choices, allow_blank=True, read_only=True)
    labour_onset = serializers.ChoiceField(choices=LabourOnset.choices, allow_blank=True, read_only=True)
    perineum = serializers.ChoiceField(choices=Perineum.choices, allow_blank=True, read_only=True)
    breastfeeding_at_kraamzorg_end = serializers.ChoiceField(
        choices=Breastfeeding.choices, allow_blank=True, read_only=True
    )
    severe_morbidity = serializers.ListField(
        child=serializers.ChoiceField(choices=LemmonCriterion.choices),
        allow_null=True,
        read_only=True,
        help_text="The LEMMoN criteria of severe maternal morbidity she met; [] none of them, null not recorded.",
    )
    births = BirthSerializer(many=True, read_only=True)
    events = serializers.SerializerMethodField()

    class Meta:
        model = Episode
        fields = [
            "id",
            "client",
            "intake_date",
            "due_date",
            "gestational_age_at_intake",
            "gravida",
            "parity",
            "dating_method",
            "status",
            "end_date",
            "end_reason",
            "coordinating_professional",
            "key_dates",
            "blood_loss_ml",
            "kraamzorg_indicated_hours",
            "presentation",
            "labour_onset",
            "previous_caesareans",
            "perineum",
            "breastfeeding_at_kraamzorg_end",
            "severe_morbidity",
            "births",
            "events",
        ]
        read_only_fields = fields

    @extend_schema_field(EventsByPhaseSerializer)
    def get_events(self, obj: Episode) -> Any:
        return EventsByPhaseSerializer(self.context["timeline"]).data


# --- the delivery (pregnancies.delivery) ----------------------------------------------------------------


class DeliveryChildSerializer(serializers.Serializer):
    """One child of a delivery as entered; the first in the list is child 1."""

    born_at = serializers.DateTimeField()
    outcome = serializers.ChoiceField(choices=BirthOutcome.choices, default=BirthOutcome.LIVE)
    mode = serializers.ChoiceField(choices=BirthMode.choices, default=BirthMode.SPONTANEOUS)
    sex = serializers.ChoiceField(
        choices=ChildSex.choices,
        required=False,
        allow_blank=True,
        default="",
        help_text="female, male or undetermined; empty: not recorded.",
    )
    weight_grams = serializers.IntegerField(required=False, allow_null=True, default=None)
    apgar_1 = serializers.IntegerField(
        required=False, allow_null=True, default=None, help_text="Apgar score at 1 minute (0-10)."
    )
    apgar_5 = serializers.IntegerField(
        required=False, allow_null=True, default=None, help_text="Apgar score at 5 minutes (0-10)."
    )


class DeliveryInputSerializer(serializers.Serializer):
    """The whole delivery: to record it (POST), or to correct it (PUT, PATCH, or POST with `correct`)."""

    labour_started_at = serializers.DateTimeField(help_text="Start of active labour: opens the natal phase.")
    children = DeliveryChildSerializer(many=True, min_length=1, max_length=4)  # type: ignore[call-arg]  # ListSerializer takes them
    placenta_at = serializers.DateTimeField(
        help_text="Birth of the placenta; the postnatal phase opens two hours later."
    )
    place = serializers.ChoiceField(choices=BirthPlace.choices)
    line = serializers.ChoiceField(choices=Line.choices, help_text="The responsible line at the delivery.")
    # Left out: kept as recorded; empty (or null for the number): not recorded.
    presentation = serializers.ChoiceField(choices=Presentation.choices, required=False, allow_blank=True)
    labour_onset = serializers.ChoiceField(choices=LabourOnset.choices, required=False, allow_blank=True)
    previous_caesareans = serializers.IntegerField(required=False, allow_null=True)
    perineum = serializers.ChoiceField(choices=Perineum.choices, required=False, allow_blank=True)
    correct = serializers.BooleanField(
        default=False, help_text="With POST: correct the recorded delivery instead of recording one."
    )
    reason = serializers.CharField(
        max_length=200, required=False, allow_blank=True, default="", help_text="Required for a correction."
    )


class PlausibilityWarningSerializer(serializers.Serializer):
    code = serializers.CharField()
    message = serializers.CharField()
    child = serializers.IntegerField(allow_null=True)


class DeliverySerializer(serializers.Serializer):
    """The episode's delivery: the care-path dates it set, its children and its delivery event."""

    recorded = serializers.BooleanField(help_text="False while no delivery has been recorded.")
    labour_started_at = serializers.DateTimeField(allow_null=True)
    placenta_at = serializers.DateTimeField(allow_null=True)
    placenta_plus_2h_at = serializers.DateTimeField(allow_null=True)
    place = serializers.ChoiceField(choices=BirthPlace.choices, allow_null=True)
    line = serializers.ChoiceField(choices=Line.choices, allow_null=True)
    children = BirthSerializer(many=True)
    event = CareEventSerializer(allow_null=True)
    presentation = serializers.CharField(help_text="Empty: not recorded.")
    labour_onset = serializers.CharField(help_text="Empty: not recorded.")
    previous_caesareans = serializers.IntegerField(allow_null=True)
    perineum = serializers.CharField(help_text="Empty: not recorded.")
    robson_group = serializers.IntegerField(
        allow_null=True, help_text="Derived from the record (1-10); null when a fact it needs is missing."
    )
    warnings = PlausibilityWarningSerializer(
        many=True, help_text="Plausibility warnings; they do not refuse."
    )
