"""Finance screens: contracts, split rules, the work queue, claims with their explanation, revenue, and the
billing run. Thin views over `billing.services` (writes) and `billing.selectors` (reads).

IGO finance and administrators may look (`rules.can_view_finance`); only finance may change contracts and
split rules or start a run (`rules.can_manage_finance`). Finance sees clients by name and episode id,
never clinical pages or note text; opening one episode's claims is access-logged (NEN 7513).
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from billing import selectors, services, tasks
from billing.forms import (
    ContractForm,
    ContractVersionForm,
    PartialRuleFormSet,
    SplitRuleForm,
    partial_rules,
)
from billing.models import ClaimLine
from igo import rules
from igo.http import TenantRequest
from igo.views import add_form_errors, tenant_view
from pregnancies import services as care_services
from pregnancies.models import AccessAction, Episode, Phase

WORK_REASONS = {
    "no_insurance": gettext_lazy("No insurance on file"),
    "no_contract": gettext_lazy("No contract with the insurer"),
    "not_covered": gettext_lazy("Phase not covered by the contract"),
    "no_split_rule": gettext_lazy("No split rule"),
    "no_care_basis": gettext_lazy("No care to divide by"),
}
PROGRESS_POLLS_WHILE_QUEUED = 5  # polls (2 s apart) to wait for a worker to pick up a new run


def _finance_context(request: TenantRequest) -> dict[str, Any]:
    return {"can_manage": rules.can_manage_finance(request.tenant_roles)}


# --- contracts -------------------------------------------------------------------------------


@tenant_view(rules.can_view_finance)
def contract_list(request: TenantRequest) -> HttpResponse:
    return render(
        request,
        "billing/contract_list.html",
        {
            **_finance_context(request),
            "groups": selectors.contracts_by_insurer(),
            "phase_labels": dict(Phase.choices),
        },
    )


@tenant_view(rules.can_manage_finance)
def contract_create(request: TenantRequest) -> HttpResponse:
    form = ContractForm(request.POST or None)
    formset = PartialRuleFormSet(request.POST or None, prefix="rules")
    if request.method == "POST" and all([form.is_valid(), formset.is_valid()]):
        try:
            contract = services.contract_create(
                tenant=request.tenant,
                actor=request.user,
                partial_rules=partial_rules(formset),
                **form.service_kwargs(),
            )
        except ValidationError as exc:
            add_form_errors(form, exc)
        else:
            messages.success(request, _("The contract %(name)s was saved.") % {"name": contract.name})
            return redirect("contract_list", tenant_slug=request.tenant.slug)
    return render(
        request,
        "billing/contract_form.html",
        {"form": form, "formset": formset},
        status=400 if request.method == "POST" else 200,
    )


@tenant_view(rules.can_manage_finance)
def contract_new_version(request: TenantRequest, pk: int) -> HttpResponse:
    contract = get_object_or_404(selectors.contract_queryset(), pk=pk)
    initial: dict[str, Any] = {
        "name": contract.name,
        "overhead_pct": contract.overhead_pct,
        "reserve_pct": contract.reserve_pct,
        "submission_months": contract.submission_months,
    }
    for phase, (code, amount) in selectors.contract_tariffs(contract).items():
        initial[f"code_{phase}"], initial[f"amount_{phase}"] = code, amount
    form = ContractVersionForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            new = services.contract_new_version(
                contract=contract, actor=request.user, **form.service_kwargs()
            )
        except ValidationError as exc:
            contract.refresh_from_db()  # the service rolled back; show the stored end date
            # Ending the old version the day before is refused as `valid_until`: it is this form's start.
            add_form_errors(form, exc, aliases={"valid_until": "valid_from"})
        else:
            messages.success(
                request,
                _("Version from %(start)s of %(name)s was saved; the previous version ends the day before.")
                % {"start": new.valid_from.strftime("%d-%m-%Y"), "name": new.name},
            )
            return redirect("contract_list", tenant_slug=request.tenant.slug)
    return render(
        request,
        "billing/contract_version_form.html",
        {"form": form, "contract": contract},
        status=400 if request.method == "POST" else 200,
    )


# --- split rules -----------------------------------------------------------------------------


@tenant_view(rules.can_view_finance)
def split_rule_list(request: TenantRequest) -> HttpResponse:
    return render(
        request,
        "billing/split_rule_list.html",
        {**_finance_context(request), "split_rules": selectors.split_rule_list()},
    )


@tenant_view(rules.can_manage_finance)
def split_rule_create(request: TenantRequest) -> HttpResponse:
    form = SplitRuleForm(
        request.POST or None,
        initial=selectors.split_rule_initial(selectors.split_rule_latest()),
        organisations=selectors.split_organisations(),
        event_types=selectors.rate_event_types(),
    )
    if request.method == "POST" and form.is_valid():
        try:
            rule = services.split_rule_create(
                tenant=request.tenant, actor=request.user, **form.service_kwargs()
            )
        except ValidationError as exc:
            add_form_errors(form, exc, aliases=form.error_aliases())
        else:
            messages.success(
                request,
                _("Split rule %(year)s version %(version)s was saved.")
                % {"year": rule.year, "version": rule.version},
            )
            return redirect("split_rule_list", tenant_slug=request.tenant.slug)
    return render(
        request,
        "billing/split_rule_form.html",
        {"form": form},
        status=400 if request.method == "POST" else 200,
    )


# --- work queue and claims ------------------------------------------------------------------


@tenant_view(rules.can_view_finance)
def work_queue(request: TenantRequest) -> HttpResponse:
    page = Paginator(selectors.work_queue(), 50).get_page(request.GET.get("page"))
    return render(
        request,
        "billing/work_queue.html",
        {
            "page": page,
            "reasons": WORK_REASONS,
            "phases": dict(Phase.choices),
            "can_open_episode": rules.can_log_care(request.tenant_roles),
        },
    )


def _progress_context(request: TenantRequest, *, queued: bool = False, polls: int = 0) -> dict[str, Any]:
    progress = selectors.run_progress(tenant_id=request.tenant.pk)
    waiting = queued and not progress.running and polls < PROGRESS_POLLS_WHILE_QUEUED
    return {"progress": progress, "waiting": waiting, "next_poll": polls + 1}


@tenant_view(rules.can_view_finance)
def claim_list(request: TenantRequest) -> HttpResponse:
    page = Paginator(selectors.claim_episodes(), 50).get_page(request.GET.get("page"))
    return render(
        request,
        "billing/claim_list.html",
        {**_finance_context(request), **_progress_context(request), "page": page},
    )


@tenant_view(rules.can_view_finance)
def episode_claims(request: TenantRequest, pk: int) -> HttpResponse:
    try:
        episode = selectors.claim_episode(pk=pk)
    except Episode.DoesNotExist:
        raise Http404 from None
    care_services.access_log(
        user=request.user, client=episode.client, action=AccessAction.VIEW, obj=episode, detail="claims"
    )
    lines = selectors.episode_claim_lines(episode=episode)
    by_phase = [(label, [line for line in lines if line.phase == phase]) for phase, label in Phase.choices]
    items = selectors.work_queue().filter(episode=episode)
    return render(
        request,
        "billing/episode_claims.html",
        {
            "episode": episode,
            "client": episode.client,
            "by_phase": [(label, group) for label, group in by_phase if group],
            "work_items": items,
            "reasons": WORK_REASONS,
            "can_open_episode": rules.can_log_care(request.tenant_roles),
        },
    )


@tenant_view(rules.can_view_finance)
def claim_line_explain(request: TenantRequest, pk: int) -> HttpResponse:
    try:
        line = selectors.claim_line(pk=pk)
    except ClaimLine.DoesNotExist:
        raise Http404 from None
    care_services.access_log(
        user=request.user,
        client=line.episode.client,
        action=AccessAction.VIEW,
        obj=line,
        detail="claim line explanation",
    )
    return render(
        request,
        "billing/claim_line_explain.html",
        {
            "x": selectors.claim_line_explanation(line=line),
            "line": line,
            "episode": line.episode,
            "client": line.episode.client,
        },
    )


# --- revenue ---------------------------------------------------------------------------------


@tenant_view(rules.can_view_finance)
def revenue(request: TenantRequest) -> HttpResponse:
    years = selectors.revenue_years()
    try:
        year = int(request.GET.get("year", ""))
    except ValueError:
        year = timezone.localdate().year
    if year not in years:
        year = timezone.localdate().year
    return render(
        request,
        "billing/revenue.html",
        {
            "revenue": selectors.revenue_by_member_month(
                year=year, overhead_label=_("IGO overhead"), reserve_label=_("Risk reserve")
            ),
            "years": years,
            "year": year,
            "wip": selectors.work_in_progress(),
        },
    )


# --- the billing run -------------------------------------------------------------------------


@require_POST
@tenant_view(rules.can_manage_finance)
def billing_run_start(request: TenantRequest) -> HttpResponse:
    tasks.billing_run.delay_on_commit(request.tenant.pk)  # type: ignore[attr-defined]
    if request.htmx:
        return render(
            request, "billing/partials/run_progress.html", _progress_context(request, queued=True, polls=0)
        )
    messages.success(request, _("The billing run was started."))
    return redirect("claim_list", tenant_slug=request.tenant.slug)


@tenant_view(rules.can_view_finance)
def billing_run_progress(request: TenantRequest) -> HttpResponse:
    try:
        polls = max(0, int(request.GET.get("n", "")))
    except ValueError:
        polls = PROGRESS_POLLS_WHILE_QUEUED
    queued = request.GET.get("queued") == "1"
    return render(
        request, "billing/partials/run_progress.html", _progress_context(request, queued=queued, polls=polls)
    )
