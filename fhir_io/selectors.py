"""Reads of the FHIR import's administration pages (tenant in scope)."""

from __future__ import annotations

from django.db.models import QuerySet

from fhir_io.models import CodeMapping, FhirImportJob, MemberApiKey


def member_key_list() -> QuerySet[MemberApiKey]:
    return MemberApiKey.objects.select_related("account__organisation", "created_by")


def code_mapping_list() -> QuerySet[CodeMapping]:
    return CodeMapping.objects.select_related("event_type", "created_by")


def import_job_list() -> QuerySet[FhirImportJob]:
    """The IGO's import jobs, newest first, without their bodies and reports (megabytes each)."""
    return FhirImportJob.objects.select_related("organisation", "key").defer("body", "report")
