"""POST /api/t/<igo>/fhir/: a member's system sends a FHIR transaction Bundle (docs/fhir.md)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import Http404
from django.urls import reverse
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.exceptions import Throttled
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from fhir_io import importing, jobs, ndjson, xml_bundle
from fhir_io.auth import IsMemberKey, MemberKeyAuthentication, MemberKeyRateThrottle
from fhir_io.models import FhirImportJob, ImportFormat, MemberApiKey
from igo.api.permissions import HasSecondFactor
from igo.tenancy import tenant_scope

FHIR_JSON = "application/fhir+json"


def max_bytes() -> int:
    return int(getattr(settings, "FHIR_IMPORT_MAX_BYTES", 10 * 1024 * 1024))


def _outcome(issues: list[importing.Issue], status: int) -> Response:
    return Response(importing.operation_outcome(issues), status=status, content_type=FHIR_JSON)


def _busy(text: str, wait: float | None = None) -> Response:
    """429 as an OperationOutcome (`throttled`), with Retry-After when known."""
    response = _outcome([importing.Issue("throttled", "Bundle", text)], 429)
    if wait is not None:
        response["Retry-After"] = str(max(1, round(wait)))
    return response


def _jobs_busy() -> Response:
    return _busy(
        _("%(n)s imports of this member are waiting or running; send this one when one of them has ended.")
        % {"n": jobs.MAX_OPEN_JOBS},
        wait=60,
    )


class _ImportView(APIView):
    """What both import POSTs share: the member key, a rate per member, and a 429 that is FHIR."""

    authentication_classes = [MemberKeyAuthentication]
    permission_classes = [HasSecondFactor, IsMemberKey]
    parser_classes: list[Any] = []  # the body is read here, within the size limit
    throttle_classes = [MemberKeyRateThrottle]

    def handle_exception(self, exc: Exception) -> Response:
        if isinstance(exc, Throttled):
            return _busy(
                _("Too many imports in a short time; wait before sending again."), getattr(exc, "wait", None)
            )
        return super().handle_exception(exc)


class FhirImportView(_ImportView):
    """Import a transaction Bundle of care; refused whole, with an OperationOutcome, on any problem."""

    @extend_schema(
        request={FHIR_JSON: OpenApiTypes.OBJECT, xml_bundle.FHIR_XML: OpenApiTypes.STR},
        responses={
            200: OpenApiTypes.OBJECT,
            400: OpenApiTypes.OBJECT,
            202: OpenApiTypes.OBJECT,
            403: OpenApiTypes.OBJECT,
            413: OpenApiTypes.OBJECT,
            422: OpenApiTypes.OBJECT,
        },
        description="A FHIR R4 transaction Bundle of care (docs/fhir.md), as JSON or XML; answers a "
        "transaction-response Bundle, or an OperationOutcome listing every problem (nothing stored). With "
        "`Prefer: respond-async` (or a Bundle over 2 MB) it answers 202 and runs as a job (Content-Location: "
        "the job's status). A Bundle is at most 10 MB; larger imports are NDJSON (fhir/ndjson/). A key that sent "
        "too many BSNs unknown to the IGO is blocked (403) until the IGO's administrator resets it.",
    )
    def post(self, request: Request, tenant_slug: str) -> Response:
        key = request.auth
        assert isinstance(key, MemberApiKey)
        if key.tenant.slug != tenant_slug:
            raise Http404  # another IGO's address: as if it did not exist
        if key.blocked_at is not None:  # probing BSNs (fhir_io.probing): refused before the body is read
            return _outcome(importing.blocked().issues, importing.BLOCKED)
        asynchronous = "respond-async" in request.headers.get("Prefer", "")
        limit = max_bytes()  # also as a job: larger imports are NDJSON (FhirNdjsonImportView)
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
        if xml_bundle.is_xml(request.content_type):
            try:
                raw = xml_bundle.to_json(raw)  # FHIR XML read into the JSON shape; answers stay JSON
            except importing.Refused as refused:
                return _outcome(refused.issues, xml_bundle.refused_status(refused.issues))
        with tenant_scope(key.tenant):
            if asynchronous or len(raw) > jobs.async_above_bytes():
                try:
                    job = jobs.import_job_create(key=key, raw=raw)
                except jobs.JobsBusy:
                    return _jobs_busy()
                return _accepted(request, job, tenant_slug)
            try:
                bundle = importing.parse(raw)
                result = importing.import_bundle(bundle=bundle, key=key)
            except importing.Refused as refused:
                return _outcome(refused.issues, importing.refused_http(refused))
        return Response(importing.response_bundle(bundle, result), status=200, content_type=FHIR_JSON)


class FhirNdjsonImportView(_ImportView):
    """Import NDJSON (one FHIR resource per line, fhir_io.ndjson), always as a job: 202 with the job's status
    address; the job refuses the whole file, with an OperationOutcome naming lines, on any problem."""

    @extend_schema(
        request={ndjson.CONTENT_TYPES[0]: OpenApiTypes.STR},
        responses={
            202: OpenApiTypes.OBJECT,
            403: OpenApiTypes.OBJECT,
            413: OpenApiTypes.OBJECT,
            415: OpenApiTypes.OBJECT,
        },
        description="FHIR R4 resources as NDJSON (docs/fhir.md): Patient, Practitioner, EpisodeOfCare, "
        "Encounter, Procedure, Observation, one per line, referring to each other as `<Type>/<id>`; up to "
        "64 MB. Answers 202 with Content-Location: the job's status, which answers what a Bundle's import "
        "answers (problems at `Line[n]`).",
    )
    def post(self, request: Request, tenant_slug: str) -> Response:
        key = request.auth
        assert isinstance(key, MemberApiKey)
        if key.tenant.slug != tenant_slug:
            raise Http404
        if key.blocked_at is not None:
            return _outcome(importing.blocked("Line").issues, importing.BLOCKED)
        kind = request.content_type.split(";")[0].strip().lower()
        if kind not in ndjson.CONTENT_TYPES:
            text = _("Send NDJSON as %(type)s.") % {"type": ndjson.CONTENT_TYPES[0]}
            return _outcome([importing.Issue("not-supported", "Line", text)], 415)
        limit = jobs.job_max_bytes()
        try:
            declared = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            declared = 0
        too_big = importing.Issue(
            "too-costly", "Line", _("The file is larger than %(mb)s MB.") % {"mb": limit // 2**20}
        )
        if declared > limit:
            return _outcome([too_big], 413)
        raw = request._request.read(limit + 1)
        if len(raw) > limit:
            return _outcome([too_big], 413)
        with tenant_scope(key.tenant):
            try:
                job = jobs.import_job_create(key=key, raw=raw, format=ImportFormat.NDJSON)
            except jobs.JobsBusy:
                return _jobs_busy()
        return _accepted(request, job, tenant_slug)


def _accepted(request: Request, job: FhirImportJob, tenant_slug: str) -> Response:
    """202 Accepted with the job's status address (FHIR asynchronous request pattern)."""
    where = request.build_absolute_uri(
        reverse("api_fhir_import_job", kwargs={"tenant_slug": tenant_slug, "pk": job.pk})
    )
    text = _("Accepted as import job %(id)s; ask its status at %(url)s.") % {"id": job.pk, "url": where}
    body = importing.operation_outcome(
        [importing.Issue("informational", "Bundle", text, severity="information")]
    )
    response = Response(body, status=202, content_type=FHIR_JSON)
    response["Content-Location"] = where
    return response


class FhirImportJobView(APIView):
    """The status of an import job of the key's own member: 202 with progress while it is queued or runs,
    then the answer of the import (200 with the transaction-response, or the refusal's OperationOutcome)."""

    authentication_classes = [MemberKeyAuthentication]
    permission_classes = [HasSecondFactor, IsMemberKey]
    throttle_classes: list[Any] = []

    @extend_schema(
        parameters=[OpenApiParameter("id", int, OpenApiParameter.PATH, description="The job's number.")],
        responses={200: OpenApiTypes.OBJECT, 202: OpenApiTypes.OBJECT},
        description="An import job of this member (docs/fhir.md): 202 with X-Progress while it runs; when "
        "done, what the synchronous import answers.",
    )
    def get(self, request: Request, tenant_slug: str, pk: int) -> Response:
        key = request.auth
        assert isinstance(key, MemberApiKey)
        if key.tenant.slug != tenant_slug:
            raise Http404
        with tenant_scope(key.tenant):
            job = (
                FhirImportJob.objects.defer("body")
                .filter(pk=pk, organisation_id=key.account.organisation_id)
                .first()
            )
            if job is None:
                raise Http404  # another member's job: as if it did not exist
            if job.status in jobs.ENDED:
                return Response(job.report, status=job.http_status or 200, content_type=FHIR_JSON)
            now = jobs.job_progress(job)
        response = Response({"job": job.pk, **now}, status=202)
        response["X-Progress"] = _progress_text(now)
        response["Retry-After"] = "5"
        return response


def _progress_text(now: dict[str, Any]) -> str:
    if now["stage"] == "storing":
        return f"storing: {now['done']} of {now['total']} care entries"
    return str(now["stage"])
