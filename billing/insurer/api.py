"""The insurer API: released claim batches addressed to an insurer, their files, and return information.

Authentication: an insurer API key (`Authorization: Bearer igo_…`, igo.api.auth) or the browser session
of an insurer user. A key acts for the one insurer it was made for, even when its maker works for several;
a session acts for all the user's insurers. Signed in without an insurer → 403; no or a bad key → 401;
another insurer's batch or a draft → 404. Throttled per key (`API_INSURER_RATE`).

Thin views over `billing.insurer.selectors` (reads) and `billing.services.returns.batch_return_record`
(writes).
"""

from __future__ import annotations

from typing import Any, cast

from django.db.models import QuerySet
from django.http import HttpResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
)
from rest_framework import generics, serializers, status
from rest_framework.authentication import SessionAuthentication
from rest_framework.parsers import BaseParser, FormParser, JSONParser, MultiPartParser
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.settings import api_settings

from billing.files import kz302
from billing.insurer import selectors
from billing.insurer.views import access_log_insurer, file_response, released_on
from billing.models import (
    BatchFileKind,
    BatchLine,
    BatchReturn,
    ClaimBatch,
    ReturnSource,
    ReturnStatus,
)
from billing.services.returns import ReturnEntry, ReturnError, ReturnRowError, batch_return_record
from igo import selectors as igo_selectors
from igo.api.auth import InsurerRateThrottle, InsurerTokenAuthentication
from igo.api.base import ScopedQuerysetMixin
from igo.api.permissions import HasSecondFactor
from igo.api.views import InsurerRefSerializer
from igo.models import Insurer, InsurerApiToken, User
from igo.text import FAMILY_NAME_LENGTH, INITIALS_LENGTH, ascii_upper
from pregnancies.models import AccessAction

TAGS = ["insurer"]
MAX_RETURN_LINES = 20_000


def request_insurers(request: Request) -> list[Insurer]:
    """The insurers this request acts for: the key's one insurer, or every insurer of the session user."""
    if isinstance(request.auth, InsurerApiToken):
        return [request.auth.insurer]
    user = request.user
    if isinstance(user, User) and user.is_authenticated:
        return igo_selectors.user_insurers(user=user)
    return []


def api_key_label(request: Request) -> str:
    """Which of an insurer's keys made the request, as the portal lists it (`igo_1a2b3c4d`), for the access
    and audit logs; empty for the session of a signed-in user (logged as her own)."""
    if isinstance(request.auth, InsurerApiToken):
        return f"igo_{request.auth.prefix}"
    return ""


class IsInsurer(BasePermission):
    message = gettext_lazy("Only insurer users may use the insurer API.")

    def has_permission(self, request: Request, view: Any) -> bool:
        return bool(request.user and request.user.is_authenticated and request_insurers(request))


# --- serializers ---------------------------------------------------------------------------


class InsurerIgoSerializer(serializers.Serializer):
    slug = serializers.CharField()
    name = serializers.CharField()
    agb_code = serializers.CharField()


class InsurerBatchFileSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=BatchFileKind.choices)
    url = serializers.CharField(help_text="Path of the download, relative to the site.")


class InsurerAnswerSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=ReturnStatus.choices)
    reason_code = serializers.CharField(
        help_text="Why a line was rejected or awarded in part; empty when accepted (a KZ302 return may give one)."
    )
    awarded_amount = serializers.DecimalField(
        max_digits=10,
        decimal_places=2,
        allow_null=True,
        help_text="What the insurer awarded, when the answer stated it (a partial award, a KZ302 file); "
        "below the amount, signed like it, when the status is `partial`.",
    )
    reason_text = serializers.CharField()
    received_at = serializers.DateTimeField(source="batch_return.received_at")


class InsurerBatchSerializer(serializers.ModelSerializer):
    igo = InsurerIgoSerializer(source="tenant")
    insurer = InsurerRefSerializer()
    period = serializers.SerializerMethodField(help_text="The month the batch covers, YYYY-MM.")
    answered = serializers.IntegerField(help_text="Lines with an answer.")
    rejected = serializers.IntegerField(help_text="Lines answered with a rejection.")
    partly_awarded = serializers.IntegerField(help_text="Lines awarded in part.")
    open = serializers.IntegerField(source="open_lines", help_text="Lines without an answer.")
    files = serializers.SerializerMethodField()

    class Meta:
        model = ClaimBatch
        fields = [
            "id",
            "igo",
            "insurer",
            "number",
            "period",
            "line_count",
            "debit_total",
            "credit_total",
            "total",
            "released_at",
            "answered",
            "rejected",
            "partly_awarded",
            "open",
            "files",
        ]

    def get_period(self, batch: ClaimBatch) -> str:
        return f"{batch.period:%Y-%m}"

    @extend_schema_field(InsurerBatchFileSerializer(many=True))
    def get_files(self, batch: ClaimBatch) -> list[dict[str, str]]:
        return [
            {"kind": kind, "url": reverse("api_insurer_batch_file", kwargs={"pk": batch.pk, "kind": kind})}
            for kind in BatchFileKind.values
        ]


class InsurerBatchLineSerializer(serializers.ModelSerializer):
    reference = serializers.CharField(source="number")
    corrects = serializers.CharField(
        source="corrects_number", help_text="Reference of the earlier line a credit takes back; else empty."
    )
    debit_credit = serializers.SerializerMethodField(help_text="D (debit) or C (credit).")
    insured_number = serializers.CharField(source="policy_number")
    episode_reference = serializers.CharField(source="episode_ref")
    answer = serializers.SerializerMethodField()

    class Meta:
        model = BatchLine
        fields = [
            "line_no",
            "reference",
            "corrects",
            "debit_credit",
            "bsn",
            "insured_number",
            "date_of_birth",
            "family_name",
            "initials",
            "prestatie_code",
            "phase",
            "service_start",
            "service_end",
            "tariff",
            "percentage",
            "amount",
            "episode_reference",
            "answer",
        ]

    def get_debit_credit(self, line: BatchLine) -> str:
        return "D" if line.sign == "debit" else "C"

    def to_representation(self, instance: BatchLine) -> dict[str, Any]:
        data = super().to_representation(instance)
        # Names and identifiers as the KZ301 file and the CSV carry them (igo.text), so that the three agree.
        data["insured_number"] = ascii_upper(instance.policy_number)
        data["family_name"] = ascii_upper(instance.family_name, FAMILY_NAME_LENGTH)
        data["initials"] = ascii_upper(instance.initials, INITIALS_LENGTH)
        return data

    @extend_schema_field(InsurerAnswerSerializer(allow_null=True))
    def get_answer(self, line: BatchLine) -> dict[str, Any] | None:
        answer = getattr(line, "answer", None)
        return InsurerAnswerSerializer(answer).data if answer is not None else None


class InsurerBatchDetailSerializer(InsurerBatchSerializer):
    lines = serializers.SerializerMethodField()

    class Meta(InsurerBatchSerializer.Meta):
        fields = [*InsurerBatchSerializer.Meta.fields, "lines"]

    @extend_schema_field(InsurerBatchLineSerializer(many=True))
    def get_lines(self, batch: ClaimBatch) -> Any:
        return InsurerBatchLineSerializer(selectors.insurer_batch_lines(batch=batch), many=True).data


class InsurerBatchQuerySerializer(serializers.Serializer):
    period = serializers.RegexField(
        selectors.PERIOD_RE, required=False, help_text="Only batches of this month, YYYY-MM."
    )
    igo = serializers.SlugField(required=False, help_text="Only batches of this IGO (its short name).")


class InsurerReturnLineSerializer(serializers.Serializer):
    reference = serializers.CharField(max_length=32, help_text="The line reference from the batch.")
    status = serializers.ChoiceField(
        choices=ReturnStatus.choices,
        help_text="`accepted` (all of the amount), `partial` (less, with `awarded_amount`) or `rejected`.",
    )
    awarded_amount = serializers.DecimalField(
        max_digits=10,
        decimal_places=2,
        required=False,
        allow_null=True,
        default=None,
        help_text="Required for `partial`: the amount awarded, more than nothing and less than the line's "
        "`amount`, signed like it (a credit's is negative). A member of the IGO is paid her share of it.",
    )
    reason_code = serializers.CharField(
        max_length=4,
        required=False,
        allow_blank=True,
        default="",
        help_text="Required for a rejection and a partial award: a code of `return-codes/?batch=<id>` (the "
        "list valid on the day the batch was released); empty for an acceptance.",
    )
    reason_text = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")


class InsurerReturnSerializer(serializers.Serializer):
    lines = serializers.ListField(
        child=InsurerReturnLineSerializer(),
        allow_empty=False,
        max_length=MAX_RETURN_LINES,
        error_messages={
            "required": gettext_lazy(
                "Send the answers as “lines”, a list with per line its reference and status, or a KZ302 "
                "return file as text/plain."
            )
        },
    )


class InsurerReturnResultSerializer(serializers.Serializer):
    id = serializers.IntegerField(help_text="The delivery's id.")
    accepted = serializers.IntegerField()
    # Not `partial`: a serializer's own attribute.
    partly_awarded = serializers.IntegerField(help_text="Lines awarded in part.")
    rejected = serializers.IntegerField()
    open = serializers.IntegerField(help_text="Lines of the batch still without an answer.")


class InsurerReturnCodeSerializer(serializers.Serializer):
    code = serializers.CharField()
    label = serializers.CharField()  # type: ignore[assignment]  # the stubs' Field.label is a str


RETURN_ERRORS = OpenApiResponse(
    response=OpenApiTypes.OBJECT,
    description="Nothing was stored. Errors per entry, keyed by its index in `lines` (from 0): "
    '`{"lines": {"1": {"reason_code": ["…"]}}}`; errors about the batch as a whole under '
    "`non_field_errors`.",
    examples=[
        OpenApiExample(
            "Unknown reference and a rejection without a code",
            value={
                "lines": {
                    "0": {"reference": ["Line X is not in this batch."]},
                    "2": {"reason_code": ["A rejection needs a reason code."]},
                }
            },
        )
    ],
)
FILE = OpenApiResponse(
    OpenApiTypes.BINARY,
    description="The file as an attachment, named after the IGO's AGB code, the UZOVI code, the month "
    "and the batch number.",
)
NOT_FOUND = OpenApiResponse(description="No released batch with this id for the caller's insurer.")
KZ302_MEDIA_TYPE = "text/plain"


class Kz302Parser(BaseParser):
    """The body of a KZ302 return file, as it is (the reader decodes and checks it)."""

    media_type = KZ302_MEDIA_TYPE

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        return cast(bytes, stream.read()) if stream is not None else b""


# --- views ----------------------------------------------------------------------------------


class InsurerAPIView(generics.GenericAPIView):
    authentication_classes = [InsurerTokenAuthentication, SessionAuthentication]
    # The key's maker (or the session's user) must have a second factor, as on every API view.
    permission_classes = [HasSecondFactor, IsInsurer]
    throttle_classes = [InsurerRateThrottle]

    def insurers(self) -> list[Insurer]:
        return request_insurers(self.request)

    def batch(self, pk: int) -> ClaimBatch:
        return selectors.insurer_batch_get(insurers=self.insurers(), pk=pk)


class InsurerBatchListView(ScopedQuerysetMixin, InsurerAPIView, generics.ListAPIView):
    serializer_class = InsurerBatchSerializer
    model = ClaimBatch
    query: dict[str, Any] = {}

    def scoped_queryset(self) -> QuerySet[ClaimBatch]:
        return selectors.insurer_batch_list(
            insurers=self.insurers(),
            period=selectors.period_parse(self.query.get("period", "")),
            igo=self.query.get("igo", ""),
        )

    @extend_schema(
        tags=TAGS,
        operation_id="insurer_batches_list",
        summary="Released claim batches addressed to the caller's insurer, newest month first",
        parameters=[InsurerBatchQuerySerializer],
        responses={200: InsurerBatchSerializer(many=True), 400: OpenApiTypes.OBJECT},
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        query = InsurerBatchQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        self.query = dict(query.validated_data)
        return super().list(request, *args, **kwargs)


class InsurerBatchDetailView(InsurerAPIView):
    serializer_class = InsurerBatchDetailSerializer

    @extend_schema(
        tags=TAGS,
        operation_id="insurer_batches_retrieve",
        summary="A batch with its lines and the answers given so far",
        responses={200: InsurerBatchDetailSerializer, 404: NOT_FOUND},
    )
    def get(self, request: Request, pk: int) -> Response:
        batch = self.batch(pk)
        data = InsurerBatchDetailSerializer(batch).data
        # The answer carries every line's BSN, name and date of birth: logged in the IGO's access log.
        access_log_insurer(
            user=cast(User, request.user),
            batch=batch,
            action=AccessAction.VIEW,
            via="api",
            key=api_key_label(request),
        )
        return Response(data)


class InsurerBatchFileView(InsurerAPIView):
    def perform_content_negotiation(self, request: Request, force: bool = False) -> Any:
        # The file is sent as it is stored, whatever the client accepts; errors come as JSON.
        return super().perform_content_negotiation(request, force=True)

    @extend_schema(
        tags=TAGS,
        operation_id="insurer_batch_files_retrieve",
        summary="Download a file of a batch: the KZ301 declaration, the CSV or the PDF summary",
        description="`kz301`: Vektis KZ301 v3.2, fixed-width 310-position records, ASCII, CR LF (docs/kz301.md). "
        "`csv`: semicolon-separated UTF-8 with a byte-order mark. `pdf`: a printable summary. The header "
        "`X-Content-SHA256` carries the file's SHA-256. Every download is recorded in the IGO's audit log.",
        parameters=[
            OpenApiParameter(
                "kind", str, OpenApiParameter.PATH, enum=BatchFileKind.values, description="Which file."
            )
        ],
        responses={
            (200, "text/plain"): FILE,
            (200, "text/csv"): FILE,
            (200, "application/pdf"): FILE,
            404: NOT_FOUND,
        },
    )
    def get(self, request: Request, pk: int, kind: str) -> HttpResponse:
        return file_response(
            batch=self.batch(pk),
            kind=kind,
            user=cast(User, request.user),
            via="api",
            key=api_key_label(request),
        )


class InsurerBatchReturnView(InsurerAPIView):
    serializer_class = InsurerReturnSerializer
    parser_classes = [JSONParser, FormParser, MultiPartParser, Kz302Parser]

    @extend_schema(
        tags=TAGS,
        operation_id="insurer_batch_returns_create",
        summary="Send return information: as JSON per line, or a KZ302 return file",
        description="One delivery is checked as a whole: if any entry is wrong, nothing is stored. A line "
        "can be answered once. A rejected line goes to the IGO's work queue with the reason.\n\n"
        "**JSON** (`Content-Type: application/json`): per line accepted, rejected with a reason code, or "
        "`partial`: awarded in part, with `awarded_amount` (between nothing and the line's amount, signed "
        "like it) and a reason code; the line is settled at that amount and the IGO's members are paid their "
        "share of it.\n\n"
        "**KZ302** (`Content-Type: text/plain`, the file as the body): the return file as Vektis defines "
        "it, 370 positions per record, ASCII, CR LF. Each prestatierecord (04) is matched to the batch's "
        "line by its reference (0429); the awarded amount (0483) decides: all of the declared amount is "
        "accepted, nothing (with a return code) is rejected, anything in between is a partial award, "
        "settled at the awarded amount. An 01 record with a return code and no prestatierecords rejects "
        "every open line of the batch. The 01 record must echo the batch's UZOVI (0108), invoice number "
        "(0116) and the IGO's AGB code (0112), every 04 record the BSN (0403) of the line it answers. "
        "An empty body is refused. Return codes of the Vektis list COD954 are kept as they come, "
        "known or not. Errors are keyed by record number in the file (the 01 record is 1) under "
        "`records`.",
        request={"application/json": InsurerReturnSerializer, KZ302_MEDIA_TYPE: OpenApiTypes.BINARY},
        responses={201: InsurerReturnResultSerializer, 400: RETURN_ERRORS, 404: NOT_FOUND},
        examples=[
            OpenApiExample(
                "Accept one line, reject another, award a third in part",
                request_only=True,
                value={
                    "lines": [
                        {"reference": "1042-PRE-D1", "status": "accepted"},
                        {
                            "reference": "1043-NAT-D1",
                            "status": "rejected",
                            "reason_code": "0101",
                            "reason_text": "BSN unknown",
                        },
                        {
                            "reference": "1044-POS-D1",
                            "status": "partial",
                            "awarded_amount": "1200.00",
                            "reason_code": "0611",
                            "reason_text": "Tariff above the contract",
                        },
                    ]
                },
            )
        ],
    )
    def post(self, request: Request, pk: int) -> Response:
        batch = self.batch(pk)
        if isinstance(request.data, bytes) or is_kz302(request):
            # An empty body is parsed by no parser: told apart by its content type.
            content = request.data if isinstance(request.data, bytes) else b""
            if not content:
                raise serializers.ValidationError(
                    {
                        api_settings.NON_FIELD_ERRORS_KEY: [
                            _(
                                "The request body is empty: send the KZ302 return file itself as the body "
                                "(Content-Type: text/plain), or JSON with “lines”."
                            )
                        ]
                    }
                )
            answer = self._kz302(request, batch, content)
        else:
            data = InsurerReturnSerializer(data=request.data)
            data.is_valid(raise_exception=True)
            entries = [ReturnEntry(**line) for line in data.validated_data["lines"]]
            try:
                answer = batch_return_record(
                    batch=batch, entries=entries, user=cast(User, request.user), source=ReturnSource.API
                )
            except ReturnError as exc:
                raise serializers.ValidationError(return_error_detail(exc)) from exc
        batch = self.batch(pk)
        result = {
            "id": answer.pk,
            "accepted": answer.accepted,
            "partly_awarded": answer.partial,
            "rejected": answer.rejected,
            "open": batch.open_lines,  # type: ignore[attr-defined]
        }
        return Response(InsurerReturnResultSerializer(result).data, status=status.HTTP_201_CREATED)

    def _kz302(self, request: Request, batch: ClaimBatch, content: bytes) -> BatchReturn:
        try:
            parsed = kz302.kz302_parse(content, batch=batch)
        except kz302.Kz302Error as exc:
            raise serializers.ValidationError(record_error_detail(exc.errors)) from exc
        try:
            return batch_return_record(
                batch=batch, entries=parsed.entries, user=cast(User, request.user), source=ReturnSource.API
            )
        except ReturnError as exc:
            raise serializers.ValidationError(record_error_detail(parsed.row_errors(exc))) from exc


def is_kz302(request: Request) -> bool:
    return (request.content_type or "").split(";")[0].strip().lower() == KZ302_MEDIA_TYPE


def record_error_detail(errors: list[ReturnRowError]) -> dict[str, Any]:
    """Errors about a KZ302 file: by record number (from 1) under `records`, the rest under
    `non_field_errors`."""
    records: dict[str, dict[str, list[str]]] = {}
    general: list[str] = []
    for e in errors:
        if e.row >= 1:
            records.setdefault(str(e.row), {}).setdefault(e.field, []).append(str(e.message))
        else:
            general.append(str(e.message))
    detail: dict[str, Any] = {}
    if records:
        detail["records"] = records
    if general:
        detail[api_settings.NON_FIELD_ERRORS_KEY] = general
    return detail


def return_error_detail(exc: ReturnError) -> dict[str, Any]:
    """The service's errors (entries numbered from 1) in the request's shape: by index in `lines`."""
    lines: dict[str, dict[str, list[str]]] = {}
    general: list[str] = []
    for e in exc.errors:
        if e.row >= 1:
            lines.setdefault(str(e.row - 1), {}).setdefault(e.field, []).append(str(e.message))
        else:
            general.append(str(e.message))
    detail: dict[str, Any] = {}
    if lines:
        detail["lines"] = lines
    if general:
        detail[api_settings.NON_FIELD_ERRORS_KEY] = general
    return detail


class InsurerReturnCodeQuerySerializer(serializers.Serializer):
    batch = serializers.IntegerField(
        required=False, min_value=1, help_text="The codes valid for this batch's answers (its release date)."
    )
    on = serializers.DateField(
        required=False, input_formats=["iso-8601"], help_text="The codes valid on this day, YYYY-MM-DD."
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if "batch" in attrs and "on" in attrs:
            raise serializers.ValidationError(_("Ask for a batch or a day, not both."))
        return attrs


class InsurerReturnCodeListView(InsurerAPIView):
    pagination_class = None

    @extend_schema(
        tags=TAGS,
        operation_id="insurer_return_codes_list",
        summary="The reason codes a rejection or a partial award may carry",
        description="The platform's own codes and the Vektis return codes (COD954) in force on a day: the "
        "day a batch was released (`?batch=<id>`, the codes its answers are checked against, as the portal "
        "offers them), a given day (`?on=YYYY-MM-DD`), or today.",
        parameters=[InsurerReturnCodeQuerySerializer],
        responses={200: InsurerReturnCodeSerializer(many=True), 400: OpenApiTypes.OBJECT, 404: NOT_FOUND},
    )
    def get(self, request: Request) -> Response:
        query = InsurerReturnCodeQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        if "batch" in query.validated_data:
            on = released_on(self.batch(query.validated_data["batch"]))
        else:
            on = query.validated_data.get("on") or timezone.localdate()
        codes = selectors.insurer_return_code_choices(on=on)
        rows = [{"code": code, "label": label.removeprefix(f"{code} ")} for code, label in codes]
        return Response(InsurerReturnCodeSerializer(rows, many=True).data)
