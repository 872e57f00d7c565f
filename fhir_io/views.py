"""The FHIR pages: the IGO administrator's member system keys, code mapping, import jobs, period export
and CSV import of care for members without FHIR; the download of one episode for whoever may read it."""

from __future__ import annotations

import json
from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponse, HttpResponseBadRequest, HttpResponseNotAllowed
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.cache import patch_cache_control
from django.utils.http import content_disposition_header, urlencode
from django.utils.translation import gettext as _

from fhir_io import csv_import, export, jobs, probing, selectors, services
from fhir_io.api import FHIR_JSON
from fhir_io.forms import CareCsvForm, CodeMappingForm, EpisodeExportForm, MemberKeyForm, PeriodExportForm
from igo import rules
from igo.exports import csv_convention, csv_filename
from igo.http import TenantRequest
from igo.views import add_form_errors, tenant_view
from pregnancies.models import Episode
from providers.models import MemberOrganisation


@tenant_view(rules.can_manage_members)
def member_keys(request: TenantRequest) -> HttpResponse:
    # A new key only after signing in again, as for personal and insurer keys. Not with allauth's decorator:
    # it replays the suspended POST past the middleware, which puts the IGO in scope (igo.middleware), so
    # the page is asked for again and she sends the form once more.
    from allauth.account.internal.flows.reauthentication import did_recently_reauthenticate

    if request.method == "POST" and not did_recently_reauthenticate(request):
        return redirect(f"{reverse('account_reauthenticate')}?{urlencode({'next': request.path})}")
    form = MemberKeyForm(request.POST or None)
    new_key = ""
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            try:
                _row, new_key = services.member_key_create(
                    tenant=request.tenant,
                    actor=request.user,
                    organisation=form.cleaned_data["organisation"],
                    name=form.cleaned_data["name"],
                    days=form.cleaned_data["days"],
                )
            except ValidationError as exc:
                add_form_errors(form, exc)
            else:
                status = 201
                form = MemberKeyForm()
    response = render(
        request,
        "fhir_io/keys.html",
        {"form": form, "keys": selectors.member_key_list(), "new_key": new_key},
        status=status,
    )
    response["Cache-Control"] = "private, no-store"  # the new key is on this page, once
    return response


@tenant_view(rules.can_manage_members)
def member_key_revoke(request: TenantRequest, pk: int) -> HttpResponse:
    """GET asks; the POST with `confirm` revokes."""
    key = get_object_or_404(selectors.member_key_list(), pk=pk)
    if request.method not in ("GET", "HEAD", "POST"):
        return HttpResponseNotAllowed(["GET", "POST"])
    if request.method == "POST" and request.POST.get("confirm") == "yes":
        try:
            services.member_key_revoke(tenant=request.tenant, key=key, actor=request.user)
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        else:
            messages.success(request, _("The key %(name)s was revoked.") % {"name": key.name})
        return redirect("fhir_member_keys", tenant_slug=request.tenant.slug)
    if key.revoked_at is not None:
        return redirect("fhir_member_keys", tenant_slug=request.tenant.slug)
    return render(request, "fhir_io/key_revoke.html", {"key": key})


@tenant_view(rules.can_manage_members)
def code_mappings(request: TenantRequest) -> HttpResponse:
    form = CodeMappingForm(request.POST or None)
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            try:
                services.code_mapping_create(
                    tenant=request.tenant,
                    actor=request.user,
                    system=form.cleaned_data["system"],
                    code=form.cleaned_data["code"],
                    event_type=form.cleaned_data["event_type"],
                )
            except ValidationError as exc:
                add_form_errors(form, exc)
            else:
                messages.success(request, _("The code was added."))
                return redirect("fhir_code_mappings", tenant_slug=request.tenant.slug)
    return render(
        request,
        "fhir_io/codes.html",
        {"form": form, "mappings": selectors.code_mapping_list()},
        status=status,
    )


def _fhir_download(data: dict[str, Any], filename: str) -> HttpResponse:
    response = HttpResponse(json.dumps(data, ensure_ascii=False, indent=1), content_type=FHIR_JSON)
    response["Content-Disposition"] = content_disposition_header(True, filename)
    response["Cache-Control"] = "private, no-store"
    return response


@tenant_view(rules.can_log_care)
def episode_export(request: TenantRequest, pk: int) -> HttpResponse:
    """One episode as a FHIR document, for whoever may read the episode page; `?receiver=` decides whether
    the BSN is in it. Without a valid receiver: 400, nothing read."""
    episode = get_object_or_404(Episode.objects.select_related("client"), pk=pk)
    form = EpisodeExportForm(request.GET)
    if not form.is_valid():
        return HttpResponseBadRequest(_("Choose the receiver: hospital or registry."))
    data = export.episode_document(
        tenant=request.tenant, episode=episode, actor=request.user, receiver=form.cleaned_data["receiver"]
    )
    return _fhir_download(data, f"episode-{episode.pk}-{form.cleaned_data['receiver']}.fhir.json")


@tenant_view(rules.can_manage_members)
def period_export(request: TenantRequest) -> HttpResponse:
    """The administrator's export of a period (a year or a month) as a FHIR collection."""
    form = PeriodExportForm(request.GET if "year" in request.GET else None)
    if form.is_bound and form.is_valid():
        start, end = form.period()
        receiver = form.cleaned_data["receiver"]
        data = export.period_collection(
            tenant=request.tenant, start=start, end=end, actor=request.user, receiver=receiver
        )
        return _fhir_download(data, f"{request.tenant.slug}-{start.isoformat()}-{receiver}.fhir.json")
    return render(request, "fhir_io/export.html", {"form": form}, status=400 if form.is_bound else 200)


JOBS_SHOWN = 100


@tenant_view(rules.can_manage_members)
def import_jobs(request: TenantRequest) -> HttpResponse:
    """The latest import jobs of the member systems, with where each one is."""
    rows = [(job, jobs.job_progress(job)) for job in selectors.import_job_list()[:JOBS_SHOWN]]
    return render(request, "fhir_io/jobs.html", {"rows": rows, "shown": JOBS_SHOWN})


MISSES_SHOWN = 100


@tenant_view(rules.can_manage_members)
def bsn_misses(request: TenantRequest) -> HttpResponse:
    """The BSNs sent that are no client of this IGO, per key (counted against the limit, all, the last), the
    latest of them, and the reset of a key (fhir_io.probing)."""
    keys = probing.keys_with_misses(request.tenant)
    return render(
        request,
        "fhir_io/misses.html",
        {
            "keys": keys,
            "misses": probing.recent_misses(request.tenant, keys, MISSES_SHOWN),
            "limit": probing.miss_limit(),
            "hours": int(probing.miss_window().total_seconds() // 3600),
            "shown": MISSES_SHOWN,
        },
    )


@tenant_view(rules.can_manage_members)
def bsn_misses_reset(request: TenantRequest, pk: int) -> HttpResponse:
    """POST: unblock the key and count its misses from now on (they stay in the audit log)."""
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    key = get_object_or_404(selectors.member_key_list(), pk=pk)
    try:
        probing.member_key_misses_reset(tenant=request.tenant, key=key, actor=request.user)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(
            request,
            _("The unknown BSNs of key %(name)s were reset; it can send again.") % {"name": key.name},
        )
    return redirect("fhir_bsn_misses", tenant_slug=request.tenant.slug)


# --- the CSV import (fhir_io.csv_import) ------------------------------------------------------------
# Who: the IGO administrator, on behalf of a member organisation, as for the member's system keys. The
# platform has no role for a member's office: its members' staff are clinicians, who log their own care
# and may not log a colleague's, which a file of the whole organisation would be.


def _organisation_param(request: TenantRequest) -> MemberOrganisation | None:
    """`?organisation=<id>` of this IGO; another IGO's or a missing one answers 404."""
    value = request.GET.get("organisation", "")
    if not value:
        return None
    if not value.isdecimal():
        raise Http404
    return get_object_or_404(MemberOrganisation.objects.all(), pk=int(value))


@tenant_view(rules.can_manage_members)
def care_csv_template(request: TenantRequest) -> HttpResponse:
    """The template of the IGO's catalogue, or of the codes a member's professionals may log."""
    organisation = _organisation_param(request)
    convention = csv_convention(request.GET.get("convention"))
    content = csv_import.template_bytes(organisation=organisation, convention=convention)
    stem = f"Care_{organisation.agb_code if organisation else request.tenant.agb_code}_template"
    response = HttpResponse(content, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = content_disposition_header(True, csv_filename(stem, convention))
    patch_cache_control(response, private=True, no_store=True)
    return response


@tenant_view(rules.can_manage_members)
def care_csv_upload(request: TenantRequest) -> HttpResponse:
    """Upload a member's care file: every row checked, all or nothing; the errors by row and column."""
    form = CareCsvForm(initial={"organisation": request.GET.get("organisation")})
    errors: list[csv_import.RowError] = []
    status = 200
    if request.method == "POST":
        status = 400
        form = CareCsvForm(request.POST, request.FILES)
        if form.is_valid():
            upload = form.cleaned_data["file"]
            organisation = form.cleaned_data["organisation"]
            try:
                # Read no more than the limit: a larger file is refused without loading all of it.
                result = csv_import.care_csv_import_file(
                    tenant=request.tenant,
                    actor=request.user,
                    organisation=organisation,
                    content=upload.read(csv_import.MAX_BYTES + 1),
                    filename=upload.name or "",
                )
            except csv_import.CsvImportError as exc:
                errors = exc.errors
            else:
                messages.success(
                    request,
                    _(
                        "%(name)s imported for %(org)s: %(created)s new, %(unchanged)s unchanged, "
                        "%(corrected)s corrected, %(voided)s voided."
                    )
                    % {
                        "name": upload.name,
                        "org": organisation.name,
                        "created": result.created,
                        "unchanged": result.unchanged,
                        "corrected": result.corrected,
                        "voided": result.voided,
                    },
                )
                return redirect("fhir_care_csv", tenant_slug=request.tenant.slug)
    return render(
        request,
        "fhir_io/care_csv.html",
        {
            "form": form,
            "errors": errors,
            "columns": csv_import.COLUMNS,
            "organisations": MemberOrganisation.objects.all(),
            "max_rows": csv_import.MAX_ROWS,
        },
        status=status,
    )
