"""Finance screens: contracts, split rules, the work queue, claims with their explanation, revenue, the
billing run, the monthly claim batches to insurers and the member statements. Thin views over
`billing.services` (writes) and `billing.selectors` (reads).

IGO finance and administrators may look (`rules.can_view_finance`); only finance may change contracts and
split rules, start a run, or make, release and rebill batches (`rules.can_manage_finance`). Finance sees
clients by name and episode id, never clinical pages or note text; every page and file that names clients
(the claims list, the work queue, an episode's claims, a batch's lines, its files, statements) writes one
access-log entry per client shown, in one INSERT (NEN 7513; docs/architecture.md).
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.cache import patch_cache_control
from django.utils.http import content_disposition_header
from django.utils.translation import gettext as _

from billing import finance_home as home_figures
from billing import ledger, selectors, services, statements, tasks
from billing.files.csv import payout_statement_csv, statement_csv
from billing.files.pdf import payout_statement_pdf, statement_pdf
from billing.files.sepa import payout_description
from billing.forms import (
    BatchCreateForm,
    BatchFilterForm,
    ClaimFilterForm,
    ContractForm,
    ContractRepriceForm,
    ContractVersionForm,
    InsurerPaymentForm,
    MemberRepaymentForm,
    PartialDecisionForm,
    PartialRuleFormSet,
    PayoutPrepareForm,
    QualityAgreementForm,
    SettleYearForm,
    SplitRuleForm,
    StatementMonthForm,
    TenantBankAccountForm,
    WorkItemResolveForm,
    WorkQueueFilterForm,
    add_partial_rule_errors,
    partial_rules,
    partial_rules_initial,
    previous_month,
)
from billing.models import (
    PRESEND_REASONS,
    RETURN_CODES,
    SPLIT_REASONS,
    BatchFile,
    BatchStatus,
    ClaimBatch,
    ClaimLine,
    Contract,
    Payout,
    PayoutFile,
    PayoutFileKind,
    PayoutRun,
    PayoutStatus,
    WorkItem,
    WorkReason,
)
from billing.progress import (
    batch_progress,
    payout_progress,
    payout_progress_forget,
    reprice_job_get,
    reprice_job_start,
    run_progress,
)
from billing.selectors import ClaimFilter
from billing.services import (
    batches,
    insurer_payments,
    partial_decisions,
    payouts,
    quality_claims,
    rejected_credits,
    repayments,
    repricing,
    returns,
    work_items,
)
from billing.services.quality_claims import quality_line_comment
from billing.setup_checklist import setup_checklist
from igo import rules
from igo.banking import iban_is_valid, mask_iban
from igo.dates import month_end
from igo.exports import csv_bytes, csv_convention, csv_filename
from igo.http import TenantRequest
from igo.money import euro_text
from igo.services import audit_record, tenant_bank_account_set
from igo.tasks import beat_minutes
from igo.views import add_form_errors, form_page, post_only, tenant_view
from pregnancies import services as care_services
from pregnancies.models import AccessAction, Client, Episode, Phase
from providers.models import MemberOrganisation

WORK_REASONS = dict(WorkReason.choices)
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


@tenant_view(rules.can_view_finance)
def contract_detail(request: TenantRequest, pk: int) -> HttpResponse:
    contract = get_object_or_404(selectors.contract_queryset(), pk=pk)
    return render(
        request,
        "billing/contract_detail.html",
        {
            **_finance_context(request),
            "contract": contract,
            "tariffs": selectors.contract_tariff_rows(contract),
            "early_endings": selectors.contract_early_endings(contract),
            "phase_choices": Phase.choices,
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
            add_form_errors(form, add_partial_rule_errors(formset, exc))
        else:
            messages.success(request, _("The contract %(name)s was saved.") % {"name": contract.name})
            return redirect("contract_detail", tenant_slug=request.tenant.slug, pk=contract.pk)
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
        "submission_months": contract.submission_months,
        "answer_days": contract.answer_days,
    }
    for phase, (code, amount) in selectors.contract_tariffs(contract).items():
        initial[f"code_{phase}"], initial[f"amount_{phase}"] = code, amount
    form = ContractVersionForm(request.POST or None, initial=initial)
    formset = PartialRuleFormSet(
        request.POST or None,
        prefix="rules",
        initial=partial_rules_initial(contract.partial_rules.all()),
    )
    if request.method == "POST" and all([form.is_valid(), formset.is_valid()]):
        try:
            data = form.cleaned_data
            new = services.contract_new_version(
                contract=contract,
                actor=request.user,
                valid_from=data["valid_from"],
                name=data["name"],
                submission_months=data["submission_months"],
                answer_days=data["answer_days"],
                tariffs=form.tariffs(),
                partial_rules=partial_rules(formset),
            )
        except ValidationError as exc:
            contract.refresh_from_db()  # the service rolled back; show the stored end date
            # Ending the old version the day before is refused as `valid_until`: it is this form's start.
            add_form_errors(
                form, add_partial_rule_errors(formset, exc), aliases={"valid_until": "valid_from"}
            )
        else:
            messages.success(
                request,
                _("Version from %(start)s of %(name)s was saved; the previous version ends the day before.")
                % {"start": new.valid_from.strftime("%d-%m-%Y"), "name": new.name},
            )
            return redirect("contract_detail", tenant_slug=request.tenant.slug, pk=new.pk)
    return render(
        request,
        "billing/contract_version_form.html",
        {"form": form, "formset": formset, "contract": contract},
        status=400 if request.method == "POST" else 200,
    )


@tenant_view(rules.can_manage_finance)
def contract_reprice(request: TenantRequest, pk: int) -> HttpResponse:
    """A retroactive tariff change: the form, its preview (what changes per phase, sent or not) and the
    confirmation, which is refused when the claims changed since the preview. No client is shown."""
    contract = get_object_or_404(selectors.contract_queryset(), pk=pk)
    initial: dict[str, Any] = {"name": contract.name}
    for phase, (code, amount) in selectors.contract_tariffs(contract).items():
        initial[f"code_{phase}"], initial[f"amount_{phase}"] = code, amount
    form = ContractRepriceForm(request.POST or None, initial=initial)
    impact = None
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        kwargs: dict[str, Any] = {
            "contract": contract,
            "valid_from": data["valid_from"],
            "valid_until": data["valid_until"],
            "tariffs": form.tariffs(),
        }
        try:
            impact = repricing.contract_reprice_preview(**kwargs)
            if "confirm" in request.POST and data["expected"]:
                if impact.fingerprint != data["expected"]:
                    raise repricing.stale_error()
                return _reprice_enqueue(request, contract, data, form.tariffs())
        except ValidationError as exc:
            contract.refresh_from_db()  # the service rolled back
            add_form_errors(form, exc)
            if repricing.is_stale(exc) and impact is None:
                impact = repricing.contract_reprice_preview(**kwargs)
    if impact is not None:
        data = request.POST.copy()
        data["expected"] = impact.fingerprint
        errors = form.errors
        form = ContractRepriceForm(data, initial=initial)
        form.is_valid()
        for field, messages_ in errors.items():
            form.add_error(None if field == "__all__" else field, messages_)
    return render(
        request,
        "billing/contract_reprice.html",
        {
            "form": form,
            "contract": contract,
            "impact": impact,
            "rows": repricing.impact_rows(impact) if impact is not None else [],
        },
        status=400 if request.method == "POST" and form.errors else 200,
    )


def _reprice_enqueue(
    request: TenantRequest, contract: Contract, data: dict[str, Any], tariffs: dict[str, tuple[str, Any]]
) -> HttpResponse:
    """Queue the confirmation (after this request's commit) and send the browser to its progress; a
    confirmation while one for this contract is queued or running joins that one."""
    params = {
        "valid_from": data["valid_from"].isoformat(),
        "valid_until": data["valid_until"].isoformat() if data["valid_until"] else "",
        "name": data["name"] or "",
        "tariffs": {phase: [code, str(amount)] for phase, (code, amount) in tariffs.items()},
        "expected": data["expected"],
    }
    job, new = reprice_job_start(
        tenant_id=request.tenant.pk, contract_id=contract.pk, user_id=request.user.pk, params=params
    )
    if new:
        tasks.contract_reprice_job.delay_on_commit(request.tenant.pk, job)
    return redirect("contract_reprice_progress", tenant_slug=request.tenant.slug, pk=contract.pk, job=job)


@tenant_view(rules.can_manage_finance)
def contract_reprice_progress(request: TenantRequest, pk: int, job: uuid.UUID) -> HttpResponse:
    """The confirmation of a retroactive tariff change as it runs in the background (htmx polls the part),
    then its result, or its refusal with the way back to a new preview. Another IGO's job is unknown here."""
    contract = get_object_or_404(selectors.contract_queryset(), pk=pk)
    found = reprice_job_get(tenant_id=request.tenant.pk, job=str(job))
    if found is None or found.contract_id != contract.pk:
        raise Http404
    context = {"contract": contract, "job": found}
    if request.htmx:
        return render(request, "billing/partials/reprice_progress.html", context)
    return render(request, "billing/contract_reprice_progress.html", context)


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
    """Open work items: an episode's phase, a member organisation (no bank account for its payout) or a
    batch (the insurer's payment differs), filtered by reason and by what they are about."""
    filters = WorkQueueFilterForm(request.GET or None, reasons=selectors.work_queue_reasons())
    page = Paginator(selectors.work_queue(**filters.filters()), 50).get_page(request.GET.get("page"))
    # NEN 7513: the page names the clients of its episode items.
    care_services.access_log_many(
        user=request.user,
        clients=[item.episode.client for item in page.object_list if item.episode is not None],
        action=AccessAction.VIEW,
        detail="work queue",
    )
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "billing/work_queue.html",
        {
            "page": page,
            "filters": filters,
            "query": query.urlencode(),
            "reasons": WORK_REASONS,
            "presend_reasons": PRESEND_REASONS,
            "split_reasons": SPLIT_REASONS,
            "hand_resolved": [str(r) for r in work_items.HAND_RESOLVED],
            "phases": dict(Phase.choices),
            "can_open_episode": rules.can_log_care(request.tenant_roles),
            "can_manage": rules.can_manage_finance(request.tenant_roles),
        },
    )


def _progress_context(request: TenantRequest, *, queued: bool = False, polls: int = 0) -> dict[str, Any]:
    progress = run_progress(tenant_id=request.tenant.pk)
    waiting = queued and not progress.running and polls < PROGRESS_POLLS_WHILE_QUEUED
    return {
        "progress": progress,
        "waiting": waiting,
        "next_poll": polls + 1,
        "sweep_minutes": beat_minutes("billing-sweep"),
    }


def _claim_filter_form(request: TenantRequest) -> ClaimFilterForm:
    return ClaimFilterForm(
        request.GET or None,
        insurers=selectors.claim_filter_insurers(),
        members=MemberOrganisation.objects.order_by("name"),
    )


def _claim_query(request: TenantRequest) -> str:
    query = request.GET.copy()
    for key in ("page", "convention"):
        query.pop(key, None)
    return query.urlencode()


@tenant_view(rules.can_view_finance)
def claim_list(request: TenantRequest) -> HttpResponse:
    """Episodes with claim lines, searched and filtered by their current lines (`selectors.ClaimFilter`),
    with the count and amount of the lines the filters select (what the finance home's cards count)."""
    form = _claim_filter_form(request)
    claim_filter = form.claim_filter(today=timezone.localdate())
    filtered = claim_filter != ClaimFilter(today=claim_filter.today)
    page = Paginator(selectors.claim_episodes_filtered(claim_filter), 50).get_page(request.GET.get("page"))
    # NEN 7513: the page names the clients of its episodes; a search by name is logged as a search.
    care_services.access_log_many(
        user=request.user,
        clients=[episode.client for episode in page.object_list],
        action=AccessAction.SEARCH if claim_filter.searches_clients else AccessAction.VIEW,
        detail="claims",
    )
    query = _claim_query(request)
    return render(
        request,
        "billing/claim_list.html",
        {
            **_finance_context(request),
            **_progress_context(request),
            "page": page,
            "filters": form,
            "filtered": filtered,
            "summary": selectors.claim_summary(selectors.claim_lines_filtered(claim_filter))
            if filtered
            else None,
            "query": query,
            "convention": csv_convention(),
        },
    )


CLAIMS_CSV_HEADER = (
    "episode", "client", "line", "phase", "prestatie_code", "insurer", "uzovi", "status", "percentage",
    "amount", "service_start", "service_end", "submission_deadline", "booked",
)  # fmt: skip


@tenant_view(rules.can_view_finance)
def claim_list_export(request: TenantRequest) -> HttpResponse:
    """The claims list's current lines under its filters, one row per line, in the reader's convention."""
    claim_filter = _claim_filter_form(request).claim_filter(today=timezone.localdate())
    lines = list(selectors.claim_export_rows(selectors.claim_lines_filtered(claim_filter)))
    care_services.access_log_many(
        user=request.user,
        clients=list(
            {line.episode.client_id: line.episode.client for line in lines if line.episode}.values()
        ),
        action=AccessAction.EXPORT,
        detail="claims csv",
    )
    convention = csv_convention(request.GET.get("convention"))
    rows = (
        (
            line.episode_id or "",
            f"{line.episode.client.given_names} {line.episode.client.family_name}" if line.episode else "",
            line.number,
            line.phase,
            line.prestatie_code,
            line.insurer.name,
            line.insurer.uzovi_code,
            line.status,
            line.percentage,
            line.amount,
            line.service_start.isoformat(),
            line.service_end.isoformat(),
            services.submission_deadline(line.contract, line.service_end).isoformat(),
            timezone.localtime(line.created_at).date().isoformat(),
        )
        for line in lines
    )
    response = HttpResponse(
        csv_bytes(CLAIMS_CSV_HEADER, rows, convention=convention), content_type="text/csv; charset=utf-8"
    )
    stem = f"Claims_{request.tenant.agb_code}_{timezone.localdate():%Y-%m-%d}"
    response["Content-Disposition"] = content_disposition_header(True, csv_filename(stem, convention))
    patch_cache_control(response, private=True, no_store=True)
    return response


@tenant_view(rules.can_view_finance)
def finance_home(request: TenantRequest) -> HttpResponse:
    """Finance's first page: what is ready, waiting, rejected, at risk, in progress and due, in euros."""
    today = timezone.localdate()
    return render(
        request,
        "billing/finance_home.html",
        {
            **_finance_context(request),
            "home": home_figures.finance_home(today=today),
            "setup_missing": [
                item for item in setup_checklist(today=today) if item.for_billing and not item.done
            ],
        },
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
            "can_manage": rules.can_manage_finance(request.tenant_roles),
            "decisions": selectors.episode_partial_decisions(episode=episode),  # issue 14
        },
    )


@tenant_view(rules.can_view_finance)
def claim_line_explain(request: TenantRequest, pk: int) -> HttpResponse:
    try:
        line = selectors.claim_line(pk=pk)
    except ClaimLine.DoesNotExist:
        raise Http404 from None
    if line.episode is None:  # a quality bonus or malus: no client, its explanation is the agreement
        return render(
            request,
            "billing/quality_line_explain.html",
            {
                "line": line,
                "x": line.explanation,
                "comment": quality_line_comment(line),
                "allocations": line.allocations.select_related("organisation").order_by("kind", "pk"),
                "history": ClaimLine.objects.filter(agreement_id=line.agreement_id).order_by(
                    "created_at", "pk"
                ),
            },
        )
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
            "can_resend": rules.can_manage_finance(request.tenant_roles)
            and ClaimLine.objects.filter(ledger.rejected_credits_open(), pk=line.pk).exists(),
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


@tenant_view(rules.can_manage_finance)
@post_only(back=form_page("claim_list"))
def billing_run_start(request: TenantRequest) -> HttpResponse:
    tasks.billing_run_task().delay_on_commit(request.tenant.pk)
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


@tenant_view(rules.can_manage_finance)
@post_only(back=form_page("work_queue", ClaimLine.objects, to=lambda _line: {}))
def claim_line_rebill(request: TenantRequest, pk: int) -> HttpResponse:
    """Bill a line the insurer rejected again, after finance corrected the data behind it (a credit of the
    rejected line and a new debit from the episode as it is now)."""
    try:
        line = selectors.claim_line(pk=pk)
    except ClaimLine.DoesNotExist:
        raise Http404 from None
    try:
        new = returns.rejected_line_rebill(line=line, actor=request.user)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        assert line.episode is not None  # the service refuses a quality line
        care_services.access_log(
            user=request.user,
            client=line.episode.client,
            action=AccessAction.UPDATE,
            obj=line,
            detail="claim line billed again",
        )
        if new is None:
            messages.warning(
                request,
                _("Line %(old)s was credited; the phase can no longer be billed, so no new line was made.")
                % {"old": line.number},
            )
        else:
            messages.success(
                request,
                _("Line %(old)s was credited and billed again as %(new)s; it goes in the next batch.")
                % {"old": line.number, "new": new.number},
            )
    if request.POST.get("next") == "episode":
        return redirect("episode_claims", tenant_slug=request.tenant.slug, pk=line.episode_id)
    return redirect("work_queue", tenant_slug=request.tenant.slug)


@tenant_view(rules.can_manage_finance)
@post_only(back=form_page("work_queue", ClaimLine.objects, to=lambda _line: {}))
def claim_line_credit_resend(request: TenantRequest, pk: int) -> HttpResponse:
    """Send a credit the insurer refused again (a new credit of the same old line, in the next batch), after
    finance dealt with what the insurer objected to. Closes the credit's work item."""
    try:
        line = selectors.claim_line(pk=pk)
    except ClaimLine.DoesNotExist:
        raise Http404 from None
    try:
        new = rejected_credits.rejected_credit_resend(line=line, actor=request.user)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        if line.episode is not None:
            care_services.access_log(
                user=request.user,
                client=line.episode.client,
                action=AccessAction.UPDATE,
                obj=line,
                detail="refused credit sent again",
            )
        messages.success(
            request,
            _("Credit %(old)s is sent again as %(new)s; it goes in the next batch.")
            % {"old": line.number, "new": new.number},
        )
    if request.POST.get("next") == "line":
        return redirect("claim_line_explain", tenant_slug=request.tenant.slug, pk=line.pk)
    if request.POST.get("next") == "episode" and line.episode_id is not None:
        return redirect("episode_claims", tenant_slug=request.tenant.slug, pk=line.episode_id)
    return redirect("work_queue", tenant_slug=request.tenant.slug)


@tenant_view(rules.can_manage_finance)
def work_item_resolve(request: TenantRequest, pk: int) -> HttpResponse:
    """Resolve by hand, with a note, an open work item the platform cannot settle by itself (a former
    member's debt repaid or written off outside the platform)."""
    item = get_object_or_404(
        WorkItem.objects.filter(resolved_at__isnull=True, reason__in=work_items.HAND_RESOLVED).select_related(
            "organisation"
        ),
        pk=pk,
    )
    form = WorkItemResolveForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            work_items.work_item_resolve_by_hand(
                item=item, actor=request.user, note=form.cleaned_data["note"]
            )
        except ValidationError as exc:
            add_form_errors(form, exc)
        else:
            messages.success(request, _("The work item is resolved; your note is kept in the audit log."))
            return redirect("work_queue", tenant_slug=request.tenant.slug)
    return render(
        request,
        "billing/work_item_resolve.html",
        {"item": item, "form": form},
        status=400 if request.method == "POST" else 200,
    )


@tenant_view(rules.can_manage_finance)
def member_repayment(request: TenantRequest, org_pk: int) -> HttpResponse:
    """Book that a former member paid (part of) its debt back by bank transfer (billing.services.repayments).
    Another IGO's organisation is a 404 (the scoped manager does not find it)."""
    organisation = get_object_or_404(MemberOrganisation.objects, pk=org_pk)
    today = timezone.localdate()
    form = MemberRepaymentForm(request.POST or None, initial={"received_on": today})
    if request.method == "POST" and form.is_valid():
        try:
            repayments.member_repayment_record(
                organisation=organisation,
                actor=request.user,
                amount=form.cleaned_data["amount"],
                received_on=form.cleaned_data["received_on"],
                reference=form.cleaned_data["reference"],
                today=today,
            )
        except ValidationError as exc:
            add_form_errors(form, exc)
        else:
            messages.success(
                request,
                _("The repayment of %(org)s is booked; its debt is now %(debt)s.")
                % {
                    "org": organisation.name,
                    "debt": euro_text(repayments.member_debt(organisation=organisation, today=today)),
                },
            )
            return redirect("payout_list", tenant_slug=request.tenant.slug)
    return render(
        request,
        "billing/member_repayment.html",
        {
            "organisation": organisation,
            "form": form,
            "debt": repayments.member_debt(organisation=organisation, today=today),
            "former": repayments.is_former_member(organisation, today),
            "earlier": selectors.member_repayments(organisation=organisation),
        },
        status=400 if request.method == "POST" else 200,
    )


# --- claim batches -----------------------------------------------------------------------------

BATCH_POLLS_WHILE_QUEUED = 5  # polls (2 s apart) to wait for a worker to pick up new batches
FILE_TYPES = {
    "kz301": ("text/plain; charset=us-ascii", "KZ301_{agb}_{uzovi}_{number}.txt"),
    "csv": ("text/csv; charset=utf-8", "KZ301_{agb}_{uzovi}_{number}.csv"),
    "pdf": ("application/pdf", "KZ301_{agb}_{uzovi}_{number}.pdf"),
}


def _batch_or_404(pk: int) -> ClaimBatch:
    try:
        return selectors.batch_get(pk=pk)
    except ClaimBatch.DoesNotExist:
        raise Http404 from None


def _batch_progress_context(request: TenantRequest, *, period: dt.date | None, polls: int) -> dict[str, Any]:
    """While batches are being made the panel polls; once the month asked for is done, the page reloads."""
    progress = batch_progress(tenant_id=request.tenant.pk)
    done = period is not None and progress.known and not progress.running and progress.period == period
    waiting = period is not None and not progress.running and not done and polls < BATCH_POLLS_WHILE_QUEUED
    return {
        "batch_progress": progress,
        "batch_done": done,
        "batch_waiting": waiting,
        "queued_period": period,
        "next_poll": polls + 1,
    }


def _render_batch_progress(request: TenantRequest, *, period: dt.date | None, polls: int) -> HttpResponse:
    context = _batch_progress_context(request, period=period, polls=polls)
    response = render(request, "billing/partials/batch_progress.html", context)
    if context["batch_done"]:
        response["HX-Refresh"] = "true"  # reload the page to show the new batches
    return response


def _batch_list_page(
    request: TenantRequest, create_form: BatchCreateForm, *, status: int = 200
) -> HttpResponse:
    insurers = selectors.batch_insurers()
    filters = BatchFilterForm(request.GET or None, insurers=insurers)
    page = Paginator(selectors.batch_list(**filters.filters()), 50).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "billing/batch_list.html",
        {
            **_finance_context(request),
            **_batch_progress_context(request, period=None, polls=0),
            "page": page,
            "filters": filters,
            "query": query.urlencode(),
            "waiting": selectors.batch_waiting(),
            "create_form": create_form,
            "this_month": timezone.localdate().replace(day=1),
        },
        status=status,
    )


def _progress_poll(request: TenantRequest, *, default_polls: int) -> tuple[dt.date | None, int]:
    """The month and the poll count a progress panel sends with each htmx poll (`period`, `n`)."""
    try:
        period: dt.date | None = dt.date.fromisoformat(request.GET.get("period", ""))
    except ValueError:
        period = None
    try:
        polls = max(0, int(request.GET.get("n", "")))
    except ValueError:
        polls = default_polls
    return period, polls


@tenant_view(rules.can_view_finance)
def batch_list(request: TenantRequest) -> HttpResponse:
    """The IGO's batches with filters, what waits for a batch, and (finance) the form to make a month's."""
    if request.htmx and request.GET.get("part") == "progress":
        period, polls = _progress_poll(request, default_polls=BATCH_POLLS_WHILE_QUEUED)
        return _render_batch_progress(request, period=period, polls=polls)
    return _batch_list_page(request, BatchCreateForm(initial={"month": previous_month()}))


@tenant_view(rules.can_manage_finance)
@post_only(back=form_page("batch_list"))
def batch_create(request: TenantRequest) -> HttpResponse:
    """Make the month's batches in the background (one per insurer); the list shows when they are ready."""
    form = BatchCreateForm(request.POST)
    if not form.is_valid():
        if request.htmx:  # htmx swaps no 4xx answer: put the form with its error in place of the form
            response = render(
                request,
                "billing/partials/batch_create_form.html",
                {"create_form": form, "this_month": timezone.localdate().replace(day=1)},
            )
            response["HX-Retarget"] = "#batch-create"
            response["HX-Reswap"] = "outerHTML"
            return response
        return _batch_list_page(request, form, status=400)
    period: dt.date = form.cleaned_data["month"]
    tasks.batches_create.delay_on_commit(request.tenant.pk, period.isoformat(), request.user.pk)
    if request.htmx:
        return _render_batch_progress(request, period=period, polls=0)
    messages.success(
        request,
        _("The batches for %(month)s are being made; they appear in the list when they are ready.")
        % {"month": period.strftime("%m-%Y")},
    )
    return redirect("batch_list", tenant_slug=request.tenant.slug)


def _batch_detail_page(
    request: TenantRequest,
    batch: ClaimBatch,
    payment_form: InsurerPaymentForm | None = None,
    *,
    status: int = 200,
) -> HttpResponse:
    page = Paginator(selectors.batch_lines(batch=batch), 100).get_page(request.GET.get("page"))
    rows = selectors.batch_line_rows(page.object_list)
    clients: dict[int, Client] = {row.client.pk: row.client for row in rows if row.client is not None}
    # NEN 7513: the page shows these clients' names and (masked) BSNs.
    care_services.access_log_many(
        user=request.user,
        clients=clients.values(),
        action=AccessAction.VIEW,
        detail=f"claim batch {batch.number}",
    )
    return render(
        request,
        "billing/batch_detail.html",
        {
            **_finance_context(request),
            "batch": batch,
            "period_end": month_end(batch.period),
            "page": page,
            "rows": rows,
            "held": selectors.batch_held(batch=batch),
            "stale": [] if batch.is_released else batches.batch_stale_lines(batch),
            "files": selectors.batch_files(batch=batch),
            "returns": selectors.batch_returns(batch=batch),
            "payments": selectors.batch_payments(batch=batch) if batch.is_released else None,
            "payment_form": payment_form or InsurerPaymentForm(initial={"received_on": timezone.localdate()}),
            "reasons": WORK_REASONS,
            "return_codes": RETURN_CODES,
            "is_draft": batch.status == BatchStatus.DRAFT,
            "four_eyes": request.tenant.batch_four_eyes,
            # Under four eyes the preparer's button says why it does not release, rather than failing.
            "release_refusal": ""
            if batch.is_released
            else batches.batch_four_eyes_refusal(
                batch=batch, user=request.user, four_eyes=request.tenant.batch_four_eyes
            ),
        },
        status=status,
    )


@tenant_view(rules.can_view_finance)
def batch_detail(request: TenantRequest, pk: int) -> HttpResponse:
    return _batch_detail_page(request, _batch_or_404(pk))


@tenant_view(rules.can_manage_finance)
@post_only(back=form_page("batch_detail", lambda _request, pk: _batch_or_404(pk), anchor="payments"))
def batch_payment_record(request: TenantRequest, pk: int) -> HttpResponse:
    """Record a payment the insurer made for a released batch; the batch is matched again."""
    batch = _batch_or_404(pk)
    form = InsurerPaymentForm(request.POST)
    if form.is_valid():
        try:
            payment = insurer_payments.insurer_payment_record(
                batch=batch, actor=request.user, today=timezone.localdate(), **form.cleaned_data
            )
        except ValidationError as exc:
            add_form_errors(form, exc)
        else:
            messages.success(
                request,
                _("The payment of %(amount)s for batch %(n)s was recorded.")
                % {
                    "amount": euro_text(payment.amount),
                    "n": batch.number,
                },
            )
            return redirect(
                f"{reverse('batch_detail', kwargs={'tenant_slug': request.tenant.slug, 'pk': batch.pk})}#payments"
            )
    return _batch_detail_page(request, batch, form, status=400)


def _batch_error(request: TenantRequest, batch: ClaimBatch, exc: ValidationError) -> HttpResponse:
    messages.error(request, " ".join(exc.messages))
    return redirect("batch_detail", tenant_slug=request.tenant.slug, pk=batch.pk)


@tenant_view(rules.can_manage_finance)
@post_only(back=form_page("batch_detail", lambda _request, pk: _batch_or_404(pk)))
def batch_release(request: TenantRequest, pk: int) -> HttpResponse:
    batch = _batch_or_404(pk)
    try:
        released = batches.batch_release(batch=batch, actor=request.user)
    except ValidationError as exc:
        return _batch_error(request, batch, exc)
    messages.success(
        request,
        _("Batch %(n)s was released: its %(lines)s lines are sent to %(insurer)s.")
        % {"n": released.number, "lines": released.line_count, "insurer": batch.insurer.name},
    )
    return redirect("batch_detail", tenant_slug=request.tenant.slug, pk=batch.pk)


@tenant_view(rules.can_manage_finance)
@post_only(back=form_page("batch_detail", lambda _request, pk: _batch_or_404(pk)))
def batch_rebuild(request: TenantRequest, pk: int) -> HttpResponse:
    batch = _batch_or_404(pk)
    try:
        result = batches.batch_rebuild(batch=batch, actor=request.user)
    except ValidationError as exc:
        return _batch_error(request, batch, exc)
    if result.batch is None:
        messages.warning(
            request,
            _("Batch %(n)s was discarded; no line can be sent for this month now (%(held)s held back).")
            % {"n": batch.number, "held": result.held},
        )
        return redirect("batch_list", tenant_slug=request.tenant.slug)
    messages.success(
        request,
        _("The batch was made again as batch %(n)s: %(lines)s lines, %(held)s held back.")
        % {"n": result.batch.number, "lines": result.batch.line_count, "held": result.held},
    )
    return redirect("batch_detail", tenant_slug=request.tenant.slug, pk=result.batch.pk)


@tenant_view(rules.can_manage_finance)
@post_only(back=form_page("batch_detail", lambda _request, pk: _batch_or_404(pk)))
def batch_discard(request: TenantRequest, pk: int) -> HttpResponse:
    batch = _batch_or_404(pk)
    number = batch.number
    try:
        batches.batch_discard(batch=batch, actor=request.user)
    except ValidationError as exc:
        return _batch_error(request, batch, exc)
    messages.success(
        request,
        _("Draft batch %(n)s was discarded; its lines wait for the next batch.") % {"n": number},
    )
    return redirect("batch_list", tenant_slug=request.tenant.slug)


@tenant_view(rules.can_view_finance)
def batch_file(request: TenantRequest, pk: int, kind: str) -> HttpResponse:
    """A batch's stored file as it was made (the bytes the insurer receives)."""
    if kind not in FILE_TYPES:
        raise Http404
    batch = _batch_or_404(pk)
    try:
        stored = selectors.batch_file(batch=batch, kind=kind)
    except BatchFile.DoesNotExist:
        raise Http404 from None
    # NEN 7513: the files hold the BSN and insured number of every client in the batch.
    care_services.access_log_many(
        user=request.user,
        clients=selectors.batch_clients(batch=batch),
        action=AccessAction.EXPORT,
        detail=f"claim batch {batch.number} {kind}",
    )
    content_type, pattern = FILE_TYPES[kind]
    filename = pattern.format(
        agb=request.tenant.agb_code, uzovi=batch.insurer.uzovi_code, number=batch.number
    )
    if not batch.is_released:  # a draft's files are for review: their names say so, never to be sent
        filename = f"CONCEPT_{filename}"
    response = HttpResponse(bytes(stored.content), content_type=content_type)
    response["Content-Disposition"] = content_disposition_header(True, filename)
    patch_cache_control(response, private=True, no_store=True)
    return response


# --- member statements ---------------------------------------------------------------------------

STATEMENT_FORMATS = {"csv": "text/csv; charset=utf-8", "pdf": "application/pdf"}


@tenant_view(rules.can_view_finance)
def statement_list(request: TenantRequest) -> HttpResponse:
    period = StatementMonthForm(request.GET).month_or(previous_month())
    return render(
        request,
        "billing/statements.html",
        {
            "overview": selectors.statement_overview(period=period, today=timezone.localdate()),
            "period": period,
            "this_month": timezone.localdate().replace(day=1),
        },
    )


@tenant_view(rules.can_view_finance)
def statement_download(request: TenantRequest, org_pk: int, year: int, month: int, fmt: str) -> HttpResponse:
    if fmt not in STATEMENT_FORMATS or not (1 <= month <= 12 and 2000 <= year <= 2100):
        raise Http404
    organisation = get_object_or_404(MemberOrganisation.objects, pk=org_pk)
    statement = statements.member_statement(
        tenant=request.tenant,
        organisation=organisation,
        period=dt.date(year, month, 1),
        today=timezone.localdate(),
    )
    convention = csv_convention(request.GET.get("convention"))
    content = statement_csv(statement, convention=convention) if fmt == "csv" else statement_pdf(statement)
    # NEN 7513: the statement names these clients' episodes (by reference).
    care_services.access_log_many(
        user=request.user,
        clients=selectors.statement_clients(statement=statement),
        action=AccessAction.EXPORT,
        detail=f"member statement {year:04d}-{month:02d} {organisation.agb_code} {fmt}",
    )
    response = HttpResponse(content, content_type=STATEMENT_FORMATS[fmt])
    stem = f"Statement_{organisation.agb_code}_{year:04d}-{month:02d}"
    filename = csv_filename(stem, convention) if fmt == "csv" else f"{stem}.{fmt}"
    response["Content-Disposition"] = content_disposition_header(True, filename)
    patch_cache_control(response, private=True, no_store=True)
    return response


# --- quality agreements ------------------------------------------------------------------------


@tenant_view(rules.can_view_finance)
def quality_agreements(request: TenantRequest) -> HttpResponse:
    """The quality agreements of a year with their result so far, and the bonus/malus lines made."""
    try:
        year = int(request.GET.get("year", ""))
    except ValueError:
        year = timezone.localdate().year
    rows = selectors.quality_agreement_rows(year=year)
    return render(
        request,
        "billing/quality_agreements.html",
        {
            **_finance_context(request),
            "year": year,
            "years": range(timezone.localdate().year - 3, timezone.localdate().year + 2),
            "rows": rows,
            "can_settle": timezone.localdate().year > year,
        },
    )


@tenant_view(rules.can_manage_finance)
def quality_agreement_create(request: TenantRequest, pk: int) -> HttpResponse:
    contract = get_object_or_404(selectors.contract_queryset(), pk=pk)
    form = QualityAgreementForm(request.POST or None, initial={"year": timezone.localdate().year})
    # Every error in one response: the agreement's own checks run on the fields that parsed, also when
    # another field did not (a target of 150% was otherwise flagged only after the bonus was fixed).
    valid = form.is_bound and form.is_valid()
    if form.is_bound:  # an empty POST leaves the form unbound: nothing to check
        terms = {name: form.cleaned_data.get(name) for name in form.fields}
        for name, errors in quality_claims.agreement_errors(contract=contract, **terms).items():
            if name not in form.errors:
                form.add_error(name, errors)
                valid = False
    if valid:
        try:
            agreement = quality_claims.agreement_create(
                contract=contract, actor=request.user, **form.cleaned_data
            )
        except ValidationError as exc:
            add_form_errors(form, exc)
        else:
            messages.success(request, _("The quality agreement was saved."))
            return redirect(
                f"{reverse('quality_agreements', kwargs={'tenant_slug': request.tenant.slug})}?year={agreement.year}"
            )
    return render(
        request,
        "billing/quality_agreement_form.html",
        {"form": form, "contract": contract},
        status=400 if request.method == "POST" else 200,
    )


@tenant_view(rules.can_manage_finance)
@post_only(back=form_page("quality_agreements"))
def quality_settle(request: TenantRequest) -> HttpResponse:
    form = SettleYearForm(request.POST)
    year = form.cleaned_data["year"] if form.is_valid() else timezone.localdate().year
    target = f"{reverse('quality_agreements', kwargs={'tenant_slug': request.tenant.slug})}?year={year}"
    if not form.is_valid() or year >= timezone.localdate().year:
        messages.error(request, _("A year can be settled only after it has ended."))
        return redirect(target)
    tasks.quality_settle.delay_on_commit(request.tenant.pk, year)
    messages.success(
        request,
        _(
            "The quality agreements of %(year)s are being settled; the bonus and malus lines go in the next batch."
        )
        % {"year": year},
    )
    return redirect(target)


# --- finance's decision on an interrupted phase (issue 14) --------------------------------------------


@tenant_view(rules.can_manage_finance)
def partial_decision(request: TenantRequest, pk: int, phase: str) -> HttpResponse:
    """Decide what is billed of the phase an early ending interrupted, where the contract has no rule:
    in full, a percentage, or not at all, with the reason. The episode is billed again at once."""
    if phase not in Phase.values:
        raise Http404
    try:
        episode = selectors.claim_episode(pk=pk)
    except Episode.DoesNotExist:
        raise Http404 from None
    care_services.access_log(
        user=request.user,
        client=episode.client,
        action=AccessAction.VIEW,
        obj=episode,
        detail="partial decision",
    )
    form = PartialDecisionForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            partial_decisions.partial_decision_record(
                episode=episode,
                phase=phase,
                choice=form.cleaned_data["choice"],
                percentage=form.cleaned_data["percentage"],
                reason=form.cleaned_data["reason"],
                actor=request.user,
            )
        except ValidationError as exc:
            add_form_errors(form, exc)
        else:
            care_services.access_log(
                user=request.user,
                client=episode.client,
                action=AccessAction.UPDATE,
                obj=episode,
                detail=f"partial decision {phase}",
            )
            messages.success(request, _("The decision was recorded and the episode billed again."))
            return redirect("episode_claims", tenant_slug=request.tenant.slug, pk=episode.pk)
    return render(
        request,
        "billing/partial_decision.html",
        {
            "case": selectors.partial_case(episode=episode, phase=phase),
            "episode": episode,
            "client": episode.client,
            "form": form,
        },
        status=400 if request.method == "POST" else 200,
    )


# --- payouts to members (issue 14: payouts) ------------------------------------------------------------

PAYOUT_POLLS_WHILE_QUEUED = 5  # polls (2 s apart) without any word from the worker before the panel stops
PAYOUT_STATEMENT_FORMATS = {"csv": "text/csv; charset=utf-8", "pdf": "application/pdf"}


def _payout_run_or_404(pk: int) -> PayoutRun:
    try:
        return selectors.payout_run_get(pk=pk)
    except PayoutRun.DoesNotExist:
        raise Http404 from None


def _payout_progress_context(request: TenantRequest, *, period: dt.date | None, polls: int) -> dict[str, Any]:
    progress = payout_progress(tenant_id=request.tenant.pk)
    mine = period is not None and progress.known and progress.period == period
    finished = mine and not progress.running
    waiting = period is not None and not mine and polls < PAYOUT_POLLS_WHILE_QUEUED
    return {
        "payout_progress": progress,
        "payout_finished": finished,
        "payout_waiting": waiting,
        "queued_period": period,
        "next_poll": polls + 1,
    }


def _render_payout_progress(request: TenantRequest, *, period: dt.date | None, polls: int) -> HttpResponse:
    context = _payout_progress_context(request, period=period, polls=polls)
    response = render(request, "billing/partials/payout_progress.html", context)
    progress = context["payout_progress"]
    if context["payout_finished"] and progress.run_id and not progress.error:
        response["HX-Redirect"] = reverse(
            "payout_detail", kwargs={"tenant_slug": request.tenant.slug, "pk": progress.run_id}
        )
    return response


def _payout_list_page(
    request: TenantRequest,
    *,
    prepare_form: PayoutPrepareForm | None = None,
    bank_form: TenantBankAccountForm | None = None,
    status: int = 200,
) -> HttpResponse:
    today = timezone.localdate()
    tenant = request.tenant
    return render(
        request,
        "billing/payout_list.html",
        {
            **_finance_context(request),
            **_payout_progress_context(request, period=None, polls=0),
            "runs": selectors.payout_runs(),
            "prepare_form": prepare_form
            or PayoutPrepareForm(initial={"month": previous_month(today)}, today=today),
            "bank_form": bank_form or TenantBankAccountForm(initial={"iban": tenant.iban, "bic": tenant.bic}),
            "can_set_account": rules.can_manage_members(request.tenant_roles),
            "igo_iban": mask_iban(tenant.iban),
            "igo_iban_valid": iban_is_valid(tenant.iban) if tenant.iban else False,
            "last_month": previous_month(today),
            "former_debts": repayments.former_member_debts(today=today),
        },
        status=status,
    )


@tenant_view(rules.can_view_finance)
def payout_list(request: TenantRequest) -> HttpResponse:
    """The payout runs per month, the form to prepare one (finance) and the IGO's own account."""
    if request.htmx and request.GET.get("part") == "progress":
        period, polls = _progress_poll(request, default_polls=PAYOUT_POLLS_WHILE_QUEUED)
        return _render_payout_progress(request, period=period, polls=polls)
    return _payout_list_page(request)


@tenant_view(rules.can_manage_finance)
@post_only(back=form_page("payout_list"))
def payout_prepare(request: TenantRequest) -> HttpResponse:
    """Prepare a month's payout run in the background; the page follows its progress and opens it."""
    today = timezone.localdate()
    form = PayoutPrepareForm(request.POST, today=today)
    if not form.is_valid():
        if request.htmx:  # htmx swaps no 4xx answer: put the form with its errors in place of the form
            response = render(request, "billing/partials/payout_prepare_form.html", {"prepare_form": form})
            response["HX-Retarget"] = "#payout-prepare"
            response["HX-Reswap"] = "outerHTML"
            return response
        return _payout_list_page(request, prepare_form=form, status=400)
    period: dt.date = form.cleaned_data["month"]
    execution: dt.date | None = form.cleaned_data["execution_date"]
    payout_progress_forget(
        tenant_id=request.tenant.pk
    )  # the page waits for this run's word, not an older one
    # The day the person asks is the day whose ledger the run reads, whatever the worker's clock says.
    tasks.payout_run_prepare.delay_on_commit(
        request.tenant.pk,
        period.isoformat(),
        request.user.pk,
        today.isoformat(),
        execution.isoformat() if execution else "",
    )
    if request.htmx:
        return _render_payout_progress(request, period=period, polls=0)
    messages.success(
        request,
        _("The payout of %(month)s is being prepared; it appears in the list when it is ready.")
        % {"month": payouts.month_label(period)},
    )
    return redirect("payout_list", tenant_slug=request.tenant.slug)


@tenant_view(rules.can_manage_members)
@post_only(back=form_page("payout_list"))
def payout_bank_account(request: TenantRequest) -> HttpResponse:
    """An administrator sets the IGO's own account (the debtor of the payout files)."""
    form = TenantBankAccountForm(request.POST)
    if form.is_valid():
        try:
            tenant_bank_account_set(
                tenant=request.tenant,
                actor=request.user,
                iban=form.cleaned_data["iban"],
                bic=form.cleaned_data["bic"],
            )
        except ValidationError as exc:
            add_form_errors(form, exc)
        else:
            messages.success(request, _("The IGO's bank account was saved."))
            return redirect("payout_list", tenant_slug=request.tenant.slug)
    return _payout_list_page(request, bank_form=form, status=400)


@tenant_view(rules.can_view_finance)
def payout_detail(request: TenantRequest, pk: int) -> HttpResponse:
    """A run: what each member is paid (to which account, how many entries, statements), what is left
    unpaid up to the month's end and why (carried over, no bank account, held back, not yet payable)."""
    run = _payout_run_or_404(pk)
    rows = selectors.payout_run_payouts(run=run)
    can_manage = rules.can_manage_finance(request.tenant_roles)
    is_preparer = run.prepared_by_id == request.user.pk
    prepared = run.status == PayoutStatus.PREPARED
    return render(
        request,
        "billing/payout_detail.html",
        {
            "run": run,
            "payouts": [(p, mask_iban(p.iban)) for p in rows],
            "left": selectors.payout_run_left(run=run, today=timezone.localdate()),
            "changed": payouts.payout_accounts_changed(run) if prepared else [],
            "files": PayoutFile.objects.filter(run=run).only("kind", "size", "sha256", "created_at"),
            "description": payout_description(request.tenant.name, run.period),
            "can_manage": can_manage,
            "is_preparer": is_preparer,
            "prepared": prepared,
            "can_release": can_manage and prepared and not is_preparer,
        },
    )


def _payout_error(request: TenantRequest, run: PayoutRun, exc: ValidationError) -> HttpResponse:
    messages.error(request, " ".join(exc.messages))
    return redirect("payout_detail", tenant_slug=request.tenant.slug, pk=run.pk)


@tenant_view(rules.can_manage_finance)
@post_only(back=form_page("payout_detail", lambda _request, pk: _payout_run_or_404(pk)))
def payout_release(request: TenantRequest, pk: int) -> HttpResponse:
    run = _payout_run_or_404(pk)
    try:
        released = payouts.payout_run_release(run=run, actor=request.user)
    except ValidationError as exc:
        return _payout_error(request, run, exc)
    messages.success(
        request,
        _("The payout of %(month)s was released: download the SEPA file and send it to the bank.")
        % {"month": payouts.month_label(released.period)},
    )
    return redirect("payout_detail", tenant_slug=request.tenant.slug, pk=run.pk)


@tenant_view(rules.can_manage_finance)
@post_only(back=form_page("payout_detail", lambda _request, pk: _payout_run_or_404(pk)))
def payout_discard(request: TenantRequest, pk: int) -> HttpResponse:
    run = _payout_run_or_404(pk)
    period = run.period
    try:
        payouts.payout_run_discard(run=run, actor=request.user)
    except ValidationError as exc:
        return _payout_error(request, run, exc)
    messages.success(
        request,
        _("The payout of %(month)s was discarded; its entries are unpaid again and it can be prepared anew.")
        % {"month": payouts.month_label(period)},
    )
    return redirect("payout_list", tenant_slug=request.tenant.slug)


@tenant_view(rules.can_view_finance)
def payout_sepa(request: TenantRequest, pk: int) -> HttpResponse:
    """The run's SEPA credit-transfer file (pain.001.001.03) as it was made, once the run is released: the
    file is what the bank executes, so before a second finance user has checked and released the run (four
    eyes) nobody can take it, the preparer included. Every download is in the audit trail."""
    run = _payout_run_or_404(pk)
    try:
        stored = selectors.payout_file(run=run, kind=PayoutFileKind.SEPA)
    except PayoutFile.DoesNotExist:
        raise Http404 from None
    if run.status != PayoutStatus.RELEASED:
        messages.error(
            request,
            _(
                "The SEPA file can be downloaded once another finance user has released the run (four eyes); "
                "check the amounts per member below first."
            ),
        )
        return redirect("payout_detail", tenant_slug=request.tenant.slug, pk=run.pk)
    audit_record(
        actor=request.user,
        action="payout.sepa_download",
        tenant=request.tenant,
        obj=run,
        period=f"{run.period:%Y-%m}",
        sha256=stored.sha256,
    )
    response = HttpResponse(bytes(stored.content), content_type="application/xml")
    response["Content-Disposition"] = content_disposition_header(
        True, f"SEPA_{request.tenant.agb_code}_{run.period:%Y-%m}_{run.pk}.xml"
    )
    patch_cache_control(response, private=True, no_store=True)
    return response


@tenant_view(rules.can_view_finance)
def payout_statement_download(request: TenantRequest, pk: int, payout_pk: int, fmt: str) -> HttpResponse:
    """One member's payout statement: every entry paid in its payout (episodes by reference only)."""
    if fmt not in PAYOUT_STATEMENT_FORMATS:
        raise Http404
    run = _payout_run_or_404(pk)
    try:
        payout = selectors.payout_get(run=run, pk=payout_pk)
    except Payout.DoesNotExist:
        raise Http404 from None
    statement = statements.payout_statement(payout=payout)
    convention = csv_convention(request.GET.get("convention"))
    content = (
        payout_statement_csv(statement, convention=convention)
        if fmt == "csv"
        else payout_statement_pdf(statement)
    )
    # NEN 7513: the statement names these clients' episodes (by reference).
    care_services.access_log_many(
        user=request.user,
        clients=selectors.payout_statement_clients(payout=payout),
        action=AccessAction.EXPORT,
        detail=f"payout statement {run.period:%Y-%m} {payout.organisation.agb_code} {fmt}",
    )
    response = HttpResponse(content, content_type=PAYOUT_STATEMENT_FORMATS[fmt])
    stem = f"Payout_{payout.organisation.agb_code}_{run.period:%Y-%m}"
    filename = csv_filename(stem, convention) if fmt == "csv" else f"{stem}.{fmt}"
    response["Content-Disposition"] = content_disposition_header(True, filename)
    patch_cache_control(response, private=True, no_store=True)
    return response
