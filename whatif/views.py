"""What-if screens: start a simulation of a draft split rule or contract version, follow its progress, read
its results (per member, insurer and phase, and the episodes that move most), export them, adopt the draft.
Thin views over `whatif.services` and `whatif.selectors`; the drafts are entered in billing's own forms.

IGO finance and administrators may look (`rules.can_view_finance`); only finance may simulate and adopt
(`rules.can_manage_finance`), as for split rules and contracts. The episodes that move most name clients:
showing or exporting them writes one access-log entry per client (NEN 7513)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import content_disposition_header
from django.utils.translation import gettext as _

from billing import selectors as billing_selectors
from billing.forms import (
    ContractVersionForm,
    PartialRuleFormSet,
    SplitRuleForm,
    add_partial_rule_errors,
    partial_rules,
    partial_rules_initial,
)
from igo import rules
from igo.exports import csv_bytes, csv_convention, csv_filename, pdf_bytes
from igo.http import TenantRequest
from igo.views import add_form_errors, form_page, post_only, tenant_view
from pregnancies import services as care_services
from pregnancies.models import AccessAction
from whatif import selectors, services
from whatif.forms import PeriodForm, last_year
from whatif.models import Simulation, SimulationKind, SimulationStatus


def _simulation(pk: int) -> Simulation:
    return get_object_or_404(selectors.simulation_list(), pk=pk)


@tenant_view(rules.can_view_finance)
def simulation_list(request: TenantRequest) -> HttpResponse:
    return render(
        request,
        "whatif/simulation_list.html",
        {
            "simulations": selectors.simulation_list()[:50],
            "contracts": billing_selectors.contract_queryset().filter(valid_until__isnull=True),
            "can_manage": rules.can_manage_finance(request.tenant_roles),
        },
    )


def _create(request: TenantRequest, period: PeriodForm, kind: str, draft: dict[str, Any]) -> Simulation:
    return services.simulation_create(
        tenant=request.tenant,
        actor=request.user,
        kind=kind,
        draft=draft,
        period_start=period.cleaned_data["period_start"],
        period_end=period.cleaned_data["period_end"],
    )


@tenant_view(rules.can_manage_finance)
def simulation_new_split(request: TenantRequest) -> HttpResponse:
    """The split rule form, starting from the latest version, as a draft."""
    form = SplitRuleForm(
        request.POST or None,
        initial=billing_selectors.split_rule_initial(billing_selectors.split_rule_latest()),
        organisations=billing_selectors.split_organisations(),
        event_types=billing_selectors.rate_event_types(),
    )
    period = PeriodForm(request.POST or None, today=timezone.localdate())
    if request.method == "POST" and all([form.is_valid(), period.is_valid()]):
        try:
            simulation = _create(
                request, period, SimulationKind.SPLIT_RULE, services.split_draft_json(form.service_kwargs())
            )
        except ValidationError as exc:
            add_form_errors(form, exc, aliases=form.error_aliases())
        else:
            return redirect("whatif_detail", tenant_slug=request.tenant.slug, pk=simulation.pk)
    return render(
        request,
        "whatif/new_split.html",
        {"form": form, "period": period},
        status=400 if request.method == "POST" else 200,
    )


@tenant_view(rules.can_manage_finance)
def simulation_new_contract(request: TenantRequest, pk: int) -> HttpResponse:
    """The new-version form of a contract, starting from its tariffs and rules, as a draft."""
    contract = get_object_or_404(billing_selectors.contract_queryset(), pk=pk)
    initial: dict[str, Any] = {
        "name": contract.name,
        "submission_months": contract.submission_months,
        "answer_days": contract.answer_days,
        # From the first day of the default period (last year), or the day after the version starts.
        "valid_from": max(last_year(timezone.localdate())[0], contract.valid_from + dt.timedelta(days=1)),
    }
    for phase, (code, amount) in billing_selectors.contract_tariffs(contract).items():
        initial[f"code_{phase}"], initial[f"amount_{phase}"] = code, amount
    form = ContractVersionForm(request.POST or None, initial=initial)
    formset = PartialRuleFormSet(
        request.POST or None, prefix="rules", initial=partial_rules_initial(contract.partial_rules.all())
    )
    period = PeriodForm(request.POST or None, today=timezone.localdate())
    if request.method == "POST" and all([form.is_valid(), formset.is_valid(), period.is_valid()]):
        try:
            draft = services.contract_draft_json(
                contract=contract,
                valid_from=form.cleaned_data["valid_from"],
                tariffs=form.tariffs(),
                partial_rules=partial_rules(formset),
            )
            simulation = _create(request, period, SimulationKind.CONTRACT, draft)
        except ValidationError as exc:
            add_form_errors(form, add_partial_rule_errors(formset, exc))
        else:
            return redirect("whatif_detail", tenant_slug=request.tenant.slug, pk=simulation.pk)
    return render(
        request,
        "whatif/new_contract.html",
        {"form": form, "formset": formset, "period": period, "contract": contract},
        status=400 if request.method == "POST" else 200,
    )


def _episodes_logged(request: TenantRequest, simulation: Simulation, action: str) -> list[dict[str, Any]]:
    episodes = selectors.simulation_episodes(simulation)
    # NEN 7513: the page or file names the clients of the episodes that move most.
    care_services.access_log_many(
        user=request.user,
        clients=[row["episode"].client for row in episodes],
        action=action,
        detail=f"what-if {simulation.pk}",
    )
    return episodes


def _result_context(request: TenantRequest, simulation: Simulation, action: str) -> dict[str, Any]:
    context: dict[str, Any] = {
        "simulation": simulation,
        "summary": selectors.simulation_draft_summary(simulation),
    }
    if simulation.status == SimulationStatus.DONE:
        tables = selectors.simulation_tables(simulation)
        context["tables"] = [
            (_("Per member"), _("Allocated"), tables["members"], selectors.table_total(tables["members"])),
            (_("Per insurer"), _("Billed"), tables["insurers"], selectors.table_total(tables["insurers"])),
            (_("Per phase"), _("Billed"), tables["phases"], selectors.table_total(tables["phases"])),
        ]
        context["episodes"] = _episodes_logged(request, simulation, action)
    return context


@tenant_view(rules.can_view_finance)
def simulation_detail(request: TenantRequest, pk: int) -> HttpResponse:
    simulation = _simulation(pk)
    context = _result_context(request, simulation, AccessAction.VIEW)
    context["can_manage"] = rules.can_manage_finance(request.tenant_roles)
    return render(request, "whatif/simulation_detail.html", context)


@tenant_view(rules.can_view_finance)
def simulation_progress(request: TenantRequest, pk: int) -> HttpResponse:
    """The progress bar (htmx polls it); once the job ended, it sends the browser to the results."""
    simulation = _simulation(pk)
    response = render(request, "whatif/_progress.html", {"simulation": simulation})
    if simulation.status in (SimulationStatus.DONE, SimulationStatus.FAILED) and request.htmx:
        response["HX-Redirect"] = reverse(
            "whatif_detail", kwargs={"tenant_slug": request.tenant.slug, "pk": simulation.pk}
        )
    return response


@tenant_view(rules.can_manage_finance)
@post_only(back=form_page("whatif_detail", Simulation.objects))
def simulation_adopt(request: TenantRequest, pk: int) -> HttpResponse:
    simulation = _simulation(pk)
    try:
        adopted = services.simulation_adopt(simulation=simulation, actor=request.user)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return redirect("whatif_detail", tenant_slug=request.tenant.slug, pk=simulation.pk)
    if simulation.kind == SimulationKind.SPLIT_RULE:
        messages.success(request, _("The draft was saved as split rule %(rule)s.") % {"rule": adopted})
        return redirect("split_rule_list", tenant_slug=request.tenant.slug)
    messages.success(
        request, _("The draft was saved as contract version %(contract)s.") % {"contract": adopted}
    )
    return redirect("contract_detail", tenant_slug=request.tenant.slug, pk=adopted.pk)


CSV_HEADER = ("table", "key", "name", "actual", "simulated", "difference")


def _done(pk: int) -> Simulation:
    simulation = _simulation(pk)
    if simulation.status != SimulationStatus.DONE:
        raise Http404
    return simulation


def _download(content: bytes, content_type: str, filename: str) -> HttpResponse:
    response = HttpResponse(content, content_type=content_type)
    response["Content-Disposition"] = content_disposition_header(True, filename)
    return response


@tenant_view(rules.can_view_finance)
def simulation_csv(request: TenantRequest, pk: int) -> HttpResponse:
    """The result tables and the episodes that move most, one row per figure (semicolon CSV)."""
    simulation = _done(pk)
    tables = selectors.simulation_tables(simulation)
    rows: list[tuple[Any, ...]] = [
        (table, row["key"], row["name"], row["actual"], row["simulated"], row["difference"])
        for table in ("members", "insurers", "phases")
        for row in tables[table]
    ]
    for row in _episodes_logged(request, simulation, AccessAction.EXPORT):
        rows.append(
            (
                "episodes",
                row["episode"].pk,
                str(row["episode"].client),
                row["billed_actual"],
                row["billed_simulated"],
                row["billed_simulated"] - row["billed_actual"],
            )
        )
    convention = csv_convention(request.GET.get("convention"))
    return _download(
        csv_bytes(CSV_HEADER, rows, convention=convention),
        "text/csv; charset=utf-8",
        csv_filename(f"what-if-{simulation.pk}", convention),
    )


@tenant_view(rules.can_view_finance)
def simulation_pdf(request: TenantRequest, pk: int) -> HttpResponse:
    simulation = _done(pk)
    context = _result_context(request, simulation, AccessAction.EXPORT)
    context["tenant"] = request.tenant
    return _download(pdf_bytes("pdf/whatif.html", context), "application/pdf", f"what-if-{simulation.pk}.pdf")
