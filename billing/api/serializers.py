"""Serializers of the billing API. They parse input and format output; they hold no business rule.

Lengths and decimal places mirror the database columns (a value always fits its column); whether a value
is *allowed* (a period that does not overlap, percentages from 0 to 100 that leave room for the members,
a price that is not negative) is decided by `billing.services`, whose field errors the views return as 400.
Claim lines carry no client data: an episode is named by its id.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from billing.models import (
    Allocation,
    BatchFile,
    BatchLine,
    BatchStatus,
    ClaimBatch,
    ClaimLine,
    Contract,
    ContractTariff,
    LineStatus,
    PartialRule,
    ReturnLine,
)
from igo.api.fields import CodeRelatedField
from igo.models import Insurer
from pregnancies.models import EndReason, Phase

# --- output ----------------------------------------------------------------------------------


class ContractInsurerSerializer(serializers.ModelSerializer):
    class Meta:
        model = Insurer
        fields = ["uzovi_code", "name"]


class TariffSerializer(serializers.ModelSerializer):
    class Meta:
        model = ContractTariff
        fields = ["phase", "prestatie_code", "amount"]


class PartialRuleSerializer(serializers.ModelSerializer):
    class Meta:
        model = PartialRule
        fields = ["end_reason", "phase", "from_week", "until_week", "percentage"]
        extra_kwargs = {
            "phase": {"help_text": "The phase the early ending interrupted."},
            "from_week": {
                "help_text": "Band of gestational weeks at the end date: from this week (null: 0)."
            },
            "until_week": {"help_text": "Up to, not including, this week (null: open)."},
        }


class ContractSerializer(serializers.ModelSerializer):
    insurer = ContractInsurerSerializer()
    tariffs = TariffSerializer(many=True, help_text="One per covered phase; a phase left out is not covered.")
    partial_rules = PartialRuleSerializer(
        many=True,
        help_text="What is billed of the phase an early ending interrupted (phases completed before it in "
        "full, phases not reached never); no rule for a case: finance decides.",
    )

    class Meta:
        model = Contract
        fields = [
            "id",
            "insurer",
            "name",
            "valid_from",
            "valid_until",
            "submission_months",
            "answer_days",
            "tariffs",
            "partial_rules",
            "created_at",
        ]


@extend_schema_field(
    {
        "type": "object",
        "description": "How the amount was found. Overhead and reserve: `percentage`. Members: `method` "
        "(fixed|care), `share` (of the members' part, 0–1) and for method care `points` and `events` "
        "(ids of the care events counted). A credit's allocations: `credit_of` (the line number).",
        "additionalProperties": True,
    }
)
class AllocationBasisField(serializers.JSONField):
    pass


class AllocationSerializer(serializers.ModelSerializer):
    organisation_name = serializers.CharField(source="organisation.name", read_only=True, allow_null=True)
    basis = AllocationBasisField(read_only=True)

    class Meta:
        model = Allocation
        fields = [
            "id",
            "kind",
            "organisation",
            "organisation_name",
            "amount",
            "split_rule",
            "basis",
            "is_current",
            "created_at",
            "superseded_at",
        ]


class ClaimLineSerializer(serializers.ModelSerializer):
    insurer: serializers.SlugRelatedField[Insurer] = serializers.SlugRelatedField(
        slug_field="uzovi_code", read_only=True, help_text="UZOVI code."
    )
    corrects_number = serializers.CharField(source="corrects.number", read_only=True, allow_null=True)

    class Meta:
        model = ClaimLine
        fields = [
            "id",
            "number",
            "episode",
            "phase",
            "sign",
            "status",
            "is_current",
            "prestatie_code",
            "contract",
            "percentage",
            "insurer",
            "service_start",
            "service_end",
            "amount",
            "corrects",
            "corrects_number",
            "sent_at",
            "created_at",
        ]


class ClaimLineDetailSerializer(ClaimLineSerializer):
    tariff_amount = serializers.DecimalField(
        source="tariff.amount",
        max_digits=10,
        decimal_places=2,
        read_only=True,
        help_text="The contract's price of the prestatie; `amount` = tariff × percentage / 100.",
    )
    allocations = AllocationSerializer(
        many=True, read_only=True, help_text="The parts in force (a re-split supersedes earlier parts)."
    )

    class Meta(ClaimLineSerializer.Meta):
        fields = [*ClaimLineSerializer.Meta.fields, "tariff_amount", "allocations"]


class FinanceBatchFileSerializer(serializers.ModelSerializer):
    kind = serializers.CharField(read_only=True, help_text="kz301, csv or pdf.")

    class Meta:
        model = BatchFile
        fields = ["kind", "size", "sha256", "created_at"]


class FinanceBatchSerializer(serializers.ModelSerializer):
    insurer = ContractInsurerSerializer(read_only=True)
    accepted = serializers.IntegerField(read_only=True, help_text="Lines the insurer accepted.")
    rejected = serializers.IntegerField(read_only=True, help_text="Lines the insurer rejected.")
    open_lines = serializers.IntegerField(read_only=True, help_text="Lines not answered yet.")
    files = FinanceBatchFileSerializer(
        many=True, read_only=True, help_text="KZ301 file, CSV and PDF summary."
    )
    # Plain text rather than an enum: BatchStatus would clash with the other `status` enums of the schema.
    status = serializers.CharField(read_only=True, help_text="draft (for review) or released.")

    class Meta:
        model = ClaimBatch
        fields = [
            "id",
            "number",
            "insurer",
            "period",
            "status",
            "line_count",
            "debit_total",
            "credit_total",
            "total",
            "accepted",
            "rejected",
            "open_lines",
            "created_at",
            "released_at",
            "files",
        ]


class FinanceReturnLineSerializer(serializers.ModelSerializer):
    class Meta:
        model = ReturnLine
        fields = ["status", "reason_code", "reason_text"]


class FinanceBatchLineSerializer(serializers.ModelSerializer):
    """A line as the insurer received it, without the person's data (the episode names the client)."""

    claim_line = serializers.IntegerField(source="claim_line_id", read_only=True)
    episode = serializers.IntegerField(source="claim_line.episode_id", read_only=True)
    answer = serializers.SerializerMethodField(help_text="The insurer's answer; null while open.")

    class Meta:
        model = BatchLine
        fields = [
            "line_no",
            "number",
            "corrects_number",
            "sign",
            "phase",
            "prestatie_code",
            "service_start",
            "service_end",
            "tariff",
            "percentage",
            "amount",
            "claim_line",
            "episode",
            "answer",
        ]

    @extend_schema_field(FinanceReturnLineSerializer(allow_null=True))
    def get_answer(self, obj: BatchLine) -> dict[str, Any] | None:
        answer = getattr(obj, "answer", None)
        return FinanceReturnLineSerializer(answer).data if answer is not None else None


class FinanceHeldReasonSerializer(serializers.Serializer):
    reason = serializers.CharField()
    message = serializers.CharField()


class FinanceHeldLineSerializer(serializers.Serializer):
    line = serializers.IntegerField(help_text="Claim line id.")
    number = serializers.CharField()
    episode = serializers.IntegerField()
    amount = serializers.DecimalField(max_digits=10, decimal_places=2)
    reasons = FinanceHeldReasonSerializer(many=True)


class FinanceBatchDetailSerializer(FinanceBatchSerializer):
    held = FinanceHeldLineSerializer(
        many=True, read_only=True, help_text="Lines the pre-send check held back."
    )
    lines = FinanceBatchLineSerializer(many=True, read_only=True)

    class Meta(FinanceBatchSerializer.Meta):
        fields = [*FinanceBatchSerializer.Meta.fields, "held", "lines"]


# --- input -----------------------------------------------------------------------------------


class TariffInputSerializer(serializers.Serializer):
    prestatie_code = serializers.CharField(max_length=16, allow_blank=True)
    amount = serializers.DecimalField(max_digits=10, decimal_places=2, help_text="Price in euros.")


class TariffsInputSerializer(serializers.Serializer):
    """Per phase the prestatie code and price; a phase left out is not covered."""

    prenatal = TariffInputSerializer(required=False)
    natal = TariffInputSerializer(required=False)
    postnatal = TariffInputSerializer(required=False)


class PartialRuleInputSerializer(serializers.Serializer):
    end_reason = serializers.ChoiceField(
        choices=[c for c in EndReason.choices if c[0] != EndReason.COMPLETED]
    )
    phase = serializers.ChoiceField(choices=Phase.choices, help_text="The phase the ending interrupted.")
    from_week = serializers.IntegerField(
        required=False,
        allow_null=True,
        default=None,
        help_text="Only from this gestational week at the end date (0–45); leave out for week 0.",
    )
    until_week = serializers.IntegerField(
        required=False,
        allow_null=True,
        default=None,
        help_text="Only before this gestational week (0–45, after `from_week`); leave out for no end. "
        "Bands of one end reason and phase may not overlap.",
    )
    percentage = serializers.DecimalField(
        max_digits=5,
        decimal_places=2,
        default=Decimal("100"),
        help_text="Percentage of the phase's tariff, 0–100.",
    )


class ContractCreateSerializer(serializers.Serializer):
    insurer = CodeRelatedField(
        slug_field="uzovi_code",
        queryset=Insurer.objects.filter(is_active=True),
        help_text="UZOVI code of the insurer.",
    )
    name = serializers.CharField(max_length=200)
    valid_from = serializers.DateField()
    valid_until = serializers.DateField(required=False, allow_null=True, default=None)
    submission_months = serializers.IntegerField(min_value=1, max_value=120, default=12)
    answer_days = serializers.IntegerField(
        default=30,
        help_text="Days after a batch's release the insurer has to answer (1–365); an unanswered line then "
        "counts as accepted for the payout to members.",
    )
    tariffs = TariffsInputSerializer()
    partial_rules = PartialRuleInputSerializer(many=True, required=False)

    def service_kwargs(self) -> dict[str, Any]:
        data = dict(self.validated_data)
        data["tariffs"] = {
            phase: (spec["prestatie_code"], spec["amount"]) for phase, spec in data["tariffs"].items()
        }
        data["partial_rules"] = [dict(rule) for rule in data.get("partial_rules", [])]
        return data


class AllocationQuerySerializer(serializers.Serializer):
    include_history = serializers.BooleanField(
        required=False, default=False, help_text="Also the parts that a re-split superseded."
    )


class ClaimLineQuerySerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=LineStatus.choices, required=False)
    phase = serializers.ChoiceField(choices=Phase.choices, required=False)
    month = serializers.RegexField(
        r"^(19|20)\d{2}-(0[1-9]|1[0-2])$",
        required=False,
        help_text="YYYY-MM: the month the line was created (booked), Europe/Amsterdam.",
    )


class FinanceBatchQuerySerializer(serializers.Serializer):
    insurer = serializers.RegexField(r"^\d{4}$", required=False, help_text="UZOVI code of the insurer.")
    status = serializers.ChoiceField(choices=BatchStatus.choices, required=False)
    month = serializers.RegexField(
        r"^(19|20)\d{2}-(0[1-9]|1[0-2])$", required=False, help_text="YYYY-MM: the month the batch covers."
    )
