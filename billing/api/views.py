"""Billing API: contracts, claim lines and their allocations, and (read-only) the monthly claim batches.

Thin views over `billing.services` (writes) and `billing.selectors` (reads). IGO finance and
administrators may read (`rules.can_view_finance`); writing needs `rules.can_manage_finance` (IGO
finance), otherwise 403. Objects are looked up through the tenant-scoped managers: another IGO's object
is a 404. A service's field errors become a 400 with the request's field names (igo.api.errors); the
services' tariff keys (`code_<phase>`, `amount_<phase>`, `tariffs`) are reported inside `tariffs`:
`{"tariffs": {"natal": {"prestatie_code": [...]}, "non_field_errors": [...]}}`.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any, cast

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import Prefetch, QuerySet
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import generics, status
from rest_framework.exceptions import PermissionDenied
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.settings import api_settings

from billing import selectors, services
from billing.api.serializers import (
    AllocationQuerySerializer,
    AllocationSerializer,
    ClaimLineDetailSerializer,
    ClaimLineQuerySerializer,
    ClaimLineSerializer,
    ContractCreateSerializer,
    ContractSerializer,
    FinanceBatchDetailSerializer,
    FinanceBatchQuerySerializer,
    FinanceBatchSerializer,
)
from billing.models import BatchFile, BatchLine, ClaimBatch, ClaimLine, Contract
from billing.services.contracts import partial_rule_key_parse
from igo import rules
from igo.api.base import ScopedQuerysetMixin, TenantAPIMixin
from igo.api.errors import validation_error_detail
from igo.models import User
from igo.tenancy import current_tenant

TAGS = ["finance"]
FIELD_ERRORS = OpenApiResponse(
    response=OpenApiTypes.OBJECT,
    description="Input refused: `{field: [messages]}`; tariff errors nested under `tariffs` by phase; "
    "reasons not tied to one field under `non_field_errors`. Nothing was stored.",
)
FORBIDDEN = OpenApiResponse(description="The caller's role may not do this (writes: IGO finance only).")
TARIFF_KEY = re.compile(r"^(code|amount)_(prenatal|natal|postnatal)$")


class FinanceAPIView(ScopedQuerysetMixin, TenantAPIMixin, generics.GenericAPIView):
    """For IGO finance and administrators; other roles get 403."""

    tenant_rule = staticmethod(rules.can_view_finance)

    def require_manage(self, request: Request) -> None:
        if not rules.can_manage_finance(request.tenant_roles):  # type: ignore[attr-defined]
            raise PermissionDenied


class ContractListView(FinanceAPIView, generics.ListAPIView):
    serializer_class = ContractSerializer
    model = Contract

    def scoped_queryset(self) -> QuerySet[Contract]:
        return selectors.contract_queryset().order_by("insurer__name", "-valid_from", "-pk")

    @extend_schema(
        tags=TAGS,
        operation_id="finance_contracts_list",
        summary="Contract versions with their tariffs and rules for early endings",
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)

    @extend_schema(
        tags=TAGS,
        operation_id="finance_contracts_create",
        summary="Create a contract version (IGO finance)",
        description="A period that overlaps another version with the same insurer is refused "
        "(`valid_from`). Percentages from 0 to 100 with at most two decimals. Errors of a rule for an "
        'early ending come per rule: `{"partial_rules": [{}, {"from_week": ["…"]}]}`. The IGO\'s '
        "overhead and reserve are no part of a contract (they belong to its split rules).",
        request=ContractCreateSerializer,
        responses={201: ContractSerializer, 400: FIELD_ERRORS, 403: FORBIDDEN},
    )
    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        self.require_manage(request)
        data = ContractCreateSerializer(data=request.data, context=self.get_serializer_context())
        data.is_valid(raise_exception=True)
        contract = services.contract_create(
            tenant=current_tenant(), actor=cast(User, request.user), **data.service_kwargs()
        )
        contract = selectors.contract_queryset().get(pk=contract.pk)
        return Response(ContractSerializer(contract).data, status=status.HTTP_201_CREATED)

    def service_error_detail(self, exc: DjangoValidationError) -> dict[str, Any]:
        """The contract services' errors in the shape of the request: tariff errors inside `tariffs`, a rule's
        errors at its place in `partial_rules`."""
        detail: dict[str, Any] = {}
        tariffs: dict[str, Any] = {}
        rules: dict[int, dict[str, list[str]]] = {}
        for key, messages in validation_error_detail(exc).items():
            match = TARIFF_KEY.match(key)
            place = partial_rule_key_parse(key)
            if match:
                field = "prestatie_code" if match[1] == "code" else "amount"
                tariffs.setdefault(match[2], {}).setdefault(field, []).extend(messages)
            elif place is not None:
                rules.setdefault(place[0], {}).setdefault(place[1], []).extend(messages)
            elif key == "tariffs":
                tariffs.setdefault(api_settings.NON_FIELD_ERRORS_KEY, []).extend(messages)
            else:
                detail[key] = messages
        if tariffs:
            detail["tariffs"] = tariffs
        if rules:
            detail["partial_rules"] = [rules.get(i, {}) for i in range(max(rules) + 1)]
        return detail


class ContractDetailView(FinanceAPIView, generics.RetrieveAPIView):
    serializer_class = ContractSerializer
    model = Contract

    def scoped_queryset(self) -> QuerySet[Contract]:
        return selectors.contract_queryset()

    @extend_schema(tags=TAGS, operation_id="finance_contracts_retrieve", summary="One contract version")
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)


class ClaimLineListView(FinanceAPIView, generics.ListAPIView):
    serializer_class = ClaimLineSerializer
    model = ClaimLine
    filters: dict[str, Any] = {}

    def scoped_queryset(self) -> QuerySet[ClaimLine]:
        return selectors.claim_line_list(**self.filters)

    @extend_schema(
        tags=TAGS,
        operation_id="finance_claim_lines_list",
        summary="Claim lines, newest first, by status, phase and booking month",
        parameters=[ClaimLineQuerySerializer],
        responses={200: ClaimLineSerializer(many=True), 400: FIELD_ERRORS},
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        query = ClaimLineQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        month = query.validated_data.get("month")
        self.filters = {
            "status": query.validated_data.get("status", ""),
            "phase": query.validated_data.get("phase", ""),
            "month": dt.date(int(month[:4]), int(month[5:]), 1) if month else None,
        }
        return super().get(request, *args, **kwargs)


class ClaimLineDetailView(FinanceAPIView, generics.RetrieveAPIView):
    serializer_class = ClaimLineDetailSerializer
    model = ClaimLine

    def scoped_queryset(self) -> QuerySet[ClaimLine]:
        return ClaimLine.objects.select_related("insurer", "corrects", "tariff").prefetch_related(
            Prefetch("allocations", queryset=selectors.current_allocations().order_by("kind", "pk"))
        )

    @extend_schema(
        tags=TAGS,
        operation_id="finance_claim_lines_retrieve",
        summary="A claim line with its tariff and allocations",
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)


class ClaimLineAllocationsView(FinanceAPIView):
    serializer_class = AllocationSerializer
    model = ClaimLine
    pagination_class = None  # a line has a handful of allocations

    def scoped_queryset(self) -> QuerySet[ClaimLine]:
        return ClaimLine.objects.all()

    @extend_schema(
        tags=TAGS,
        operation_id="finance_claim_line_allocations_list",
        summary="The allocations of a claim line: overhead, reserve, each member, with their basis",
        parameters=[AllocationQuerySerializer],
        responses={200: AllocationSerializer(many=True), 400: FIELD_ERRORS},
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        line = self.get_object()
        query = AllocationQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        allocations = selectors.allocation_list(
            line=line, include_history=query.validated_data["include_history"]
        )
        return Response(AllocationSerializer(allocations, many=True).data)


def _batch_files() -> Prefetch:
    return Prefetch("files", queryset=BatchFile.objects.defer("content").order_by("kind"))


class BatchListView(FinanceAPIView, generics.ListAPIView):
    serializer_class = FinanceBatchSerializer
    model = ClaimBatch
    filters: dict[str, Any] = {}

    def scoped_queryset(self) -> QuerySet[ClaimBatch]:
        return selectors.batch_list(**self.filters).prefetch_related(_batch_files())

    @extend_schema(
        tags=TAGS,
        operation_id="finance_batches_list",
        summary="Claim batches to insurers, newest month first, by insurer, status and month",
        parameters=[FinanceBatchQuerySerializer],
        responses={200: FinanceBatchSerializer(many=True), 400: FIELD_ERRORS},
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        query = FinanceBatchQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        month = query.validated_data.get("month")
        self.filters = {
            "uzovi": query.validated_data.get("insurer", ""),
            "status": query.validated_data.get("status", ""),
            "period": dt.date(int(month[:4]), int(month[5:]), 1) if month else None,
        }
        return super().get(request, *args, **kwargs)


class BatchDetailView(FinanceAPIView, generics.RetrieveAPIView):
    serializer_class = FinanceBatchDetailSerializer
    model = ClaimBatch

    def scoped_queryset(self) -> QuerySet[ClaimBatch]:
        lines = BatchLine.objects.select_related("answer", "claim_line").order_by("line_no")
        return selectors.batch_list().prefetch_related(_batch_files(), Prefetch("lines", queryset=lines))

    @extend_schema(
        tags=TAGS,
        operation_id="finance_batches_retrieve",
        summary="A claim batch with its lines (without personal data), held-back lines and answers",
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)
