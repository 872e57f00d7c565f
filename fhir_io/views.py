"""The IGO administrator's pages of the FHIR import: member system keys, the code mapping, and the CSV
import of care for members without FHIR (its template and upload)."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponse, HttpResponseNotAllowed
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.cache import patch_cache_control
from django.utils.http import content_disposition_header
from django.utils.translation import gettext as _

from fhir_io import csv_import, selectors, services
from fhir_io.forms import CareCsvForm, CodeMappingForm, MemberKeyForm
from igo import rules
from igo.exports import csv_convention, csv_filename
from igo.http import TenantRequest
from igo.views import add_form_errors, tenant_view
from providers.models import MemberOrganisation


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


# --- the CSV import (fhir_io.csv_import) ------------------------------------------------------------
# Who: the IGO administrator, on behalf of a member organisation, as for the member's system keys. The
# platform has no role for a member's office: its members' staff are clinicians, who log their own care
# and may not log a colleague's, which a file of the whole organisation would be.


def _organisation_param(request: TenantRequest) -> MemberOrganisation | None:
    """`?organisation=<id>` of this IGO; another IGO's or a missing one answers 404."""
    value = request.GET.get("organisation", "")
    if not value:
        return None
    if not value.isdigit():
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
                        "%(corrected)s corrected."
                    )
                    % {
                        "name": upload.name,
                        "org": organisation.name,
                        "created": result.created,
                        "unchanged": result.unchanged,
                        "corrected": result.corrected,
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
