"""POST /api/t/<igo>/fhir/: a member's system sends a FHIR transaction Bundle (docs/fhir.md)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import Http404
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from fhir_io import importing
from fhir_io.auth import IsMemberKey, MemberKeyAuthentication
from fhir_io.models import MemberApiKey
from igo.api.permissions import HasSecondFactor
from igo.tenancy import tenant_scope

FHIR_JSON = "application/fhir+json"


def max_bytes() -> int:
    return int(getattr(settings, "FHIR_IMPORT_MAX_BYTES", 10 * 1024 * 1024))


def _outcome(issues: list[importing.Issue], status: int) -> Response:
    return Response(importing.operation_outcome(issues), status=status, content_type=FHIR_JSON)


class FhirImportView(APIView):
    """Import a transaction Bundle of care; refused whole, with an OperationOutcome, on any problem."""

    authentication_classes = [MemberKeyAuthentication]
    permission_classes = [HasSecondFactor, IsMemberKey]
    parser_classes: list[Any] = []  # the body is read here, within the size limit
    throttle_classes: list[Any] = []

    @extend_schema(
        request={FHIR_JSON: OpenApiTypes.OBJECT},
        responses={
            200: OpenApiTypes.OBJECT,
            400: OpenApiTypes.OBJECT,
            413: OpenApiTypes.OBJECT,
            422: OpenApiTypes.OBJECT,
        },
        description="A FHIR R4 transaction Bundle of care (docs/fhir.md); answers a transaction-response "
        "Bundle, or an OperationOutcome listing every problem (nothing stored).",
    )
    def post(self, request: Request, tenant_slug: str) -> Response:
        key = request.auth
        assert isinstance(key, MemberApiKey)
        if key.tenant.slug != tenant_slug:
            raise Http404  # another IGO's address: as if it did not exist
        limit = max_bytes()
        try:
            declared = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            declared = 0
        too_big = importing.Issue(
            "too-costly", "Bundle", _("The Bundle is larger than %(kb)s KB.") % {"kb": limit // 1024}
        )
        if declared > limit:
            return _outcome([too_big], 413)
        # Read past the size check, not through request.body (DATA_UPLOAD_MAX_MEMORY_SIZE would refuse).
        raw = request._request.read(limit + 1)
        if len(raw) > limit:
            return _outcome([too_big], 413)
        with tenant_scope(key.tenant):
            try:
                bundle = importing.parse(raw)
                result = importing.import_bundle(bundle=bundle, key=key)
            except importing.Refused as refused:
                return _outcome(refused.issues, 422 if refused.issues[0].code != "structure" else 400)
        # One response entry per request entry, in order (the FHIR transaction-response's rule).
        entries = [
            result.entries.get(i, {"response": {"status": "200 OK"}}) for i in range(len(bundle.entry or []))
        ]
        body = {"resourceType": "Bundle", "type": "transaction-response", "entry": entries}
        return Response(body, status=200, content_type=FHIR_JSON)
