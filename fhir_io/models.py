"""Member system accounts and their keys, the code mapping, and the link from a sender's FHIR resource to
the care event it became (issue 21)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from igo.models import KeysRevokedBecause
from igo.tenancy import TenantOwned


class MemberSystemAccount(TenantOwned):
    """The system of a member organisation: one per member, with a user of its own that cannot sign in
    (unusable password). Care it sends is logged by that user, so only it can correct or void it."""

    organisation = models.OneToOneField(
        "providers.MemberOrganisation", on_delete=models.PROTECT, related_name="system_account"
    )
    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    class Meta:
        verbose_name = _("member system account")
        verbose_name_plural = _("member system accounts")

    def __str__(self) -> str:
        return f"{self.organisation} (system)"


class MemberApiKey(TenantOwned):
    """A key of a member's system for the FHIR import. Only its SHA-256 is stored; it expires and can be
    revoked."""

    account = models.ForeignKey(MemberSystemAccount, on_delete=models.PROTECT, related_name="keys")
    name = models.CharField(_("name"), max_length=100)
    prefix = models.CharField(max_length=8)
    key_hash = models.CharField(max_length=64, unique=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    expires_at = models.DateTimeField(_("expires at"))
    revoked_at = models.DateTimeField(_("revoked at"), null=True, blank=True)
    revoked_because = models.CharField(  # the maker's account was recovered (igo.services)
        _("revoked because"), max_length=32, choices=KeysRevokedBecause.choices, blank=True
    )
    last_used_at = models.DateTimeField(_("last used"), null=True, blank=True)
    # Probing (fhir_io.probing): set when the key's BSNs unknown to the IGO passed the limit; its imports are
    # refused until an administrator resets it, which sets `misses_reset_at` (misses before it no longer count).
    blocked_at = models.DateTimeField(_("blocked since"), null=True, blank=True)
    misses_reset_at = models.DateTimeField(_("unknown BSNs reset at"), null=True, blank=True)

    class Meta:
        verbose_name = _("member system key")
        verbose_name_plural = _("member system keys")
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(expires_at__gt=models.F("created_at")), name="member_key_expires_later"
            )
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    def is_usable(self, now: Any = None) -> bool:
        now = now or timezone.now()
        return self.revoked_at is None and self.expires_at > now


class CodeMapping(TenantOwned):
    """A sender's code (coding system and code) that stands for an entry of the IGO's care catalogue."""

    system = models.CharField(_("code system"), max_length=200)
    code = models.CharField(_("code"), max_length=64)
    event_type = models.ForeignKey(
        "pregnancies.EventType", on_delete=models.PROTECT, related_name="+", verbose_name=_("care event type")
    )
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    class Meta:
        verbose_name = _("code mapping")
        verbose_name_plural = _("code mappings")
        ordering = ["system", "code"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "system", "code"], name="code_mapping_unique_per_tenant"
            )
        ]

    def __str__(self) -> str:
        return f"{self.system}|{self.code}"


class SenderLink(TenantOwned):
    """A sender's resource, known by its identifier (system + value) per sending member, and what it became
    in the IGO; `content_hash` is the hash of what was taken from it, so a resend with nothing changed
    changes nothing and a changed one is a correction."""

    organisation = models.ForeignKey(
        "providers.MemberOrganisation", on_delete=models.PROTECT, related_name="+"
    )
    resource_type = models.CharField(max_length=40)
    system = models.CharField(max_length=200)
    value = models.CharField(max_length=200)
    content_hash = models.CharField(max_length=64)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        abstract = True

    def __str__(self) -> str:
        return f"{self.resource_type} {self.system}|{self.value}"


def _identifier_once(name: str) -> models.UniqueConstraint:
    return models.UniqueConstraint(
        fields=["tenant", "organisation", "resource_type", "system", "value"], name=name
    )


class FhirResourceLink(SenderLink):
    """A sender's Encounter, Procedure (or CSV row) and the care event it is now."""

    care_event = models.ForeignKey("pregnancies.CareEvent", on_delete=models.PROTECT, related_name="+")

    class Meta:
        verbose_name = _("FHIR resource link")
        verbose_name_plural = _("FHIR resource links")
        constraints = [_identifier_once("fhir_link_identifier_once")]


class FhirOutcomeLink(SenderLink):
    """A sender's delivery Observation and the pregnancy whose delivery, births and outcomes it recorded
    (its hash covers the delivery and its children: a changed one is a correction of the delivery)."""

    episode = models.ForeignKey("pregnancies.Episode", on_delete=models.PROTECT, related_name="+")

    class Meta:
        verbose_name = _("FHIR outcome link")
        verbose_name_plural = _("FHIR outcome links")
        constraints = [_identifier_once("fhir_outcome_link_identifier_once")]


class ImportJobStatus(models.TextChoices):
    QUEUED = "queued", _("Queued")
    RUNNING = "running", _("Running")
    DONE = "done", _("Done")
    REFUSED = "refused", _("Refused")
    FAILED = "failed", _("Failed")


class ImportFormat(models.TextChoices):
    BUNDLE = "bundle", _("Bundle")
    NDJSON = "ndjson", _("NDJSON")


class FhirImportJob(TenantOwned):
    """A Bundle imported by the worker (FHIR asynchronous request pattern): the body until the job ends, the
    counts, and the answer the synchronous import would have given (`report`)."""

    organisation = models.ForeignKey(
        "providers.MemberOrganisation", on_delete=models.PROTECT, related_name="+"
    )
    key = models.ForeignKey(MemberApiKey, on_delete=models.PROTECT, related_name="jobs")
    status = models.CharField(
        _("status"), max_length=10, choices=ImportJobStatus.choices, default=ImportJobStatus.QUEUED
    )
    # What was sent: a transaction Bundle, or NDJSON (one resource per line, fhir_io.ndjson).
    format = models.CharField(
        _("format"), max_length=6, choices=ImportFormat.choices, default=ImportFormat.BUNDLE
    )
    # The Bundle as sent; emptied when the job ends (it holds BSNs, and the report says what became of it).
    body = models.BinaryField(editable=False, default=bytes)
    body_bytes = models.PositiveIntegerField(_("size (bytes)"), default=0)
    body_sha256 = models.CharField(max_length=64)
    entries = models.PositiveIntegerField(_("care entries"), default=0)
    stored = models.PositiveIntegerField(_("care entries stored"), default=0)
    created = models.PositiveIntegerField(_("created"), default=0)
    corrected = models.PositiveIntegerField(_("corrected"), default=0)
    voided = models.PositiveIntegerField(_("voided"), default=0)
    unchanged = models.PositiveIntegerField(_("unchanged"), default=0)
    problems = models.PositiveIntegerField(_("problems"), default=0)
    http_status = models.PositiveSmallIntegerField(null=True, blank=True)
    report = models.JSONField(null=True, blank=True)  # the transaction-response Bundle or OperationOutcome
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    started_at = models.DateTimeField(_("started at"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)

    class Meta:
        verbose_name = _("FHIR import job")
        verbose_name_plural = _("FHIR import jobs")
        ordering = ["-created_at", "-pk"]
        indexes = [models.Index(fields=["tenant", "organisation", "created_at"])]

    def __str__(self) -> str:
        return f"FHIR import {self.pk} ({self.status})"
