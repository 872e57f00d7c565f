"""The budget-neutrality monitor: thin views over `neutrality.selectors` (reads) and `neutrality.services`
(writes). IGO finance and administrators may look (`rules.can_view_finance`); finance enters DBC amounts
(`rules.can_manage_finance`); administrators, who keep the care catalogue, keep its mapping
(`rules.can_manage_members`). The pages show amounts per member organisation and insurer, never a client,
so they write no access-log entries."""

from __future__ import annotations

import datetime as dt

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.cache import patch_cache_control
from django.utils.http import content_disposition_header
from django.utils.translation import gettext as _

from igo import rules
from igo.exports import csv_bytes, csv_convention, csv_filename
from igo.http import TenantRequest
from igo.views import add_form_errors, tenant_view
from neutrality import selectors, services
from neutrality.charts import neutrality_chart
from neutrality.forms import DbcAmountForm, MappingForm, YearForm
from neutrality.models import CatalogueMapping, DbcAmount, ReferenceTariff
from pregnancies.models import EventType


def _year(request: TenantRequest, today: dt.date) -> tuple[int, list[int]]:
    years = selectors.neutrality_years(today=today)
    form = YearForm(request.GET)
    year = form.cleaned_data.get("year") if form.is_valid() else None
    return (year if year in years else today.year), years


@tenant_view(rules.can_view_finance)
def neutrality_page(request: TenantRequest) -> HttpResponse:
    today = timezone.localdate()
    year, years = _year(request, today)
    result = selectors.neutrality_year(year=year)
    return render(
        request,
        "neutrality/page.html",
        {
            "result": result,
            "chart": neutrality_chart(result.members),
            "year": year,
            "years": years,
            "tariff_count": ReferenceTariff.objects.count(),
            "dbc_count": DbcAmount.objects.count(),
            "mapping_count": CatalogueMapping.objects.count(),
        },
    )


@tenant_view(rules.can_view_finance)
def neutrality_csv(request: TenantRequest) -> HttpResponse:
    year, _years = _year(request, timezone.localdate())
    result = selectors.neutrality_year(year=year)
    header = [
        _("Year"),
        _("Member"),
        _("Insurer"),
        _("Monodisciplinary"),
        _("Integral"),
        _("Difference"),
        _("Integral as a percentage of monodisciplinary"),
        _("Care events without reference data"),
        _("Missing reference data"),
    ]
    rows = [
        [
            year,
            r.organisation,
            r.insurer,
            r.monodisciplinary,
            r.integral,
            r.difference,
            "" if r.ratio_pct is None else r.ratio_pct,
            r.missing_events,
            " ".join(r.missing_list),
        ]
        for r in [*result.rows, result.total]
    ]
    convention = csv_convention(request.GET.get("convention"))
    response = HttpResponse(
        csv_bytes(header, rows, convention=convention), content_type="text/csv; charset=utf-8"
    )
    response["Content-Disposition"] = content_disposition_header(
        True, csv_filename(f"budget-neutrality-{year}", convention)
    )
    patch_cache_control(response, private=True, no_store=True)
    return response


@tenant_view(rules.can_view_finance)
def dbc_amounts(request: TenantRequest) -> HttpResponse:
    can_manage = rules.can_manage_finance(request.tenant_roles)
    form = DbcAmountForm(request.POST or None)
    if request.method == "POST":
        if not can_manage:
            raise PermissionDenied
        if form.is_valid():
            try:
                services.dbc_amount_create(tenant=request.tenant, actor=request.user, **form.cleaned_data)
            except ValidationError as exc:
                add_form_errors(form, exc)
            else:
                messages.success(request, _("The DBC amount was saved."))
                return redirect("neutrality_dbc", tenant_slug=request.tenant.slug)
    return render(
        request,
        "neutrality/dbc.html",
        {"form": form, "amounts": DbcAmount.objects.all(), "can_manage": can_manage},
        status=400 if form.errors else 200,
    )


@tenant_view(rules.can_view_finance)
def catalogue_mapping(request: TenantRequest) -> HttpResponse:
    can_manage = rules.can_manage_members(request.tenant_roles)
    form = MappingForm(request.POST or None)
    if request.method == "POST":
        if not can_manage:
            raise PermissionDenied
        if form.is_valid():
            try:
                services.catalogue_mapping_set(
                    tenant=request.tenant,
                    actor=request.user,
                    event_type=form.cleaned_data["event_type"],
                    source=form.cleaned_data["source"],
                    code=form.cleaned_data["code"],
                )
            except ValidationError as exc:
                add_form_errors(form, exc)
            else:
                messages.success(request, _("The mapping was saved."))
                return redirect("neutrality_mapping", tenant_slug=request.tenant.slug)
    mappings = {m.event_type_id: m for m in CatalogueMapping.objects.all()}
    types = [(t, mappings.get(t.pk)) for t in EventType.objects.order_by("code")]
    return render(
        request,
        "neutrality/mapping.html",
        {"form": form, "types": types, "can_manage": can_manage},
        status=400 if form.errors else 200,
    )
