"""The IGO administrator's pages of the FHIR import: member system keys and the code mapping."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpResponse, HttpResponseNotAllowed
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _

from fhir_io import jobs, selectors, services
from fhir_io.forms import CodeMappingForm, MemberKeyForm
from igo import rules
from igo.http import TenantRequest
from igo.views import add_form_errors, tenant_view


@tenant_view(rules.can_manage_members)
def member_keys(request: TenantRequest) -> HttpResponse:
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


JOBS_SHOWN = 100


@tenant_view(rules.can_manage_members)
def import_jobs(request: TenantRequest) -> HttpResponse:
    """The latest import jobs of the member systems, with where each one is."""
    rows = [(job, jobs.job_progress(job)) for job in selectors.import_job_list()[:JOBS_SHOWN]]
    return render(request, "fhir_io/jobs.html", {"rows": rows, "shown": JOBS_SHOWN})
