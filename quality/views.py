"""Quality screens: the dashboard of indicators with trends and targets, one indicator per month and per
member organisation, the episodes behind a number, and the exports. Thin views over `quality.selectors`
and `quality.exports`. And the client experience questionnaire: its card on the episode page, its own page
and the import of a file of answers (`quality.experience`).

IGO administrators and finance see the numbers (`rules.can_view_quality`); only administrators open the
clients behind a number (`rules.can_view_quality_episodes`), and every client shown is access-logged
(NEN 7513). The exports hold aggregates only and are recorded in the audit log.
"""

from __future__ import annotations

import datetime as dt
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
from django.utils.translation import ngettext

from igo import csv_upload, rules
from igo.exports import csv_convention, csv_filename
from igo.http import TenantRequest
from igo.services import audit_record
from igo.views import add_form_errors, form_page, post_only, tenant_view
from pregnancies import services as care_services
from pregnancies.models import AccessAction, Episode
from pregnancies.views import episode_page_refused
from providers.models import MemberOrganisation
from quality import exports, prem, selectors, tasks
from quality.charts import comparison_chart, trend_chart
from quality.experience import COLUMNS as EXPERIENCE_COLUMNS
from quality.experience import MAX_BYTES as MAX_IMPORT_BYTES
from quality.experience import (
    ExperienceImportError,
    RowError,
    experience_due,
    experience_import_file,
    maternity_period_end,
)
from quality.forms import ExperienceForm, ExperienceImportForm, ExperienceLookupForm, YearForm
from quality.indicators import BY_CODE, SMALL_NUMBER, Indicator, unavailable
from quality.models import ExperienceResponse
from quality.services import experience_record

EPISODES_PER_PAGE = 100


def _year(request: TenantRequest) -> tuple[int, YearForm]:
    form = YearForm(request.GET if "year" in request.GET else None, years=selectors.available_years())
    return form.year_or_current(), form


def _indicator_or_404(code: str) -> Indicator:
    indicator = BY_CODE.get(code)
    if indicator is None:
        raise Http404
    return indicator


def _common(request: TenantRequest, year: int, form: YearForm) -> dict[str, Any]:
    roles = request.tenant_roles
    return {
        "year": year,
        "year_form": form,
        "small_number": SMALL_NUMBER,
        "state": selectors.quality_state(),
        "sweep_minutes": selectors.sweep_minutes(),
        "can_recompute": rules.can_manage_quality(roles),
        "can_drill_down": rules.can_view_quality_episodes(roles),
        "can_import_experience": rules.can_import_experience(roles),
        "can_import_prem": rules.can_import_prem(roles),
        "unavailable": unavailable(reference_loaded=selectors.reference_loaded()),
    }


@tenant_view(rules.can_view_quality)
def quality_dashboard(request: TenantRequest) -> HttpResponse:
    year, form = _year(request)
    items = selectors.quality_year(year=year)
    cards = [{"item": item, "chart": trend_chart(item)} for item in items]
    return render(request, "quality/dashboard.html", {**_common(request, year, form), "cards": cards})


@tenant_view(rules.can_view_quality)
def quality_indicator(request: TenantRequest, code: str) -> HttpResponse:
    _indicator_or_404(code)
    year, form = _year(request)
    item = selectors.indicator_year(code=code, year=year)
    organisations = selectors.organisation_comparison(code=code, year=year)
    return render(
        request,
        "quality/indicator.html",
        {
            **_common(request, year, form),
            "item": item,
            "chart": trend_chart(item),
            "organisations": organisations,
            "comparison": comparison_chart(item, organisations, _("IGO as a whole")),
        },
    )


@tenant_view(rules.can_view_quality_episodes)
def quality_episodes(request: TenantRequest, code: str, year: int, month: int) -> HttpResponse:
    indicator = _indicator_or_404(code)
    if not (1 <= month <= 12 and 2000 <= year <= 2100):
        raise Http404
    part = request.GET.get("part", "numerator")
    if part not in selectors.PARTS:
        raise Http404
    organisation = None
    if request.GET.get("org"):
        try:
            org_pk = int(request.GET["org"])
        except ValueError:
            raise Http404 from None
        organisation = get_object_or_404(MemberOrganisation.objects, pk=org_pk)
    period = dt.date(year, month, 1)
    value = selectors.month_value(code=code, month=period, organisation=organisation)
    page = Paginator(selectors.episodes_behind(value=value, part=part), EPISODES_PER_PAGE).get_page(
        request.GET.get("page")
    )
    # NEN 7513: the page shows these clients' names and masked BSNs, and that they count in the indicator.
    care_services.access_log_many(
        user=request.user,
        clients={row.episode.client.pk: row.episode.client for row in page.object_list}.values(),
        action=AccessAction.VIEW,
        detail=f"quality indicator {code} {year}-{month:02d} {part}"
        + (f" organisation {organisation.pk}" if organisation else ""),
    )
    return render(
        request,
        "quality/episodes.html",
        {
            "indicator": indicator,
            "year": year,
            "period": period,
            "part": part,
            "organisation": organisation,
            "value": value,
            "cell": None if value is None else selectors.cell_of(indicator, value),
            "page": page,
            "small_number": SMALL_NUMBER,
            "can_open_episode": rules.can_log_care(request.tenant_roles),
        },
    )


@tenant_view(rules.can_manage_quality)
@post_only(back=form_page("quality_dashboard"))
def quality_recompute(request: TenantRequest) -> HttpResponse:
    """Recompute the last two years now instead of waiting for the night (the worker does the work)."""
    tasks.quality_refresh.delay_on_commit(request.tenant.pk, True)
    audit_record(actor=request.user, action="quality.recompute", tenant=request.tenant)
    messages.success(
        request, _("The indicators are being recomputed: reload the page in a minute to see the new time.")
    )
    return redirect("quality_dashboard", tenant_slug=request.tenant.slug)


def _download(content: bytes, content_type: str, filename: str) -> HttpResponse:
    response = HttpResponse(content, content_type=content_type)
    response["Content-Disposition"] = content_disposition_header(True, filename)
    patch_cache_control(response, private=True, no_store=True)
    return response


@tenant_view(rules.can_view_quality)
def quality_export_csv(request: TenantRequest) -> HttpResponse:
    year, _form = _year(request)
    convention = csv_convention(request.GET.get("convention"))
    content = exports.quality_csv(year=year, convention=convention)
    audit_record(actor=request.user, action="quality.export", tenant=request.tenant, format="csv", year=year)
    return _download(
        content,
        "text/csv; charset=utf-8",
        csv_filename(f"Quality_{request.tenant.agb_code}_{year}", convention),
    )


@tenant_view(rules.can_view_quality)
def quality_export_pdf(request: TenantRequest) -> HttpResponse:
    year, _form = _year(request)
    content = exports.quality_pdf(tenant=request.tenant, year=year)
    audit_record(actor=request.user, action="quality.export", tenant=request.tenant, format="pdf", year=year)
    return _download(content, "application/pdf", f"Quality_{request.tenant.agb_code}_{year}.pdf")


@tenant_view(rules.can_view_quality)
def quality_export_anonymised(request: TenantRequest) -> HttpResponse:
    year, _form = _year(request)
    convention = csv_convention(request.GET.get("convention"))
    content = exports.anonymised_csv(tenant=request.tenant, year=year, convention=convention)
    audit_record(
        actor=request.user, action="quality.export", tenant=request.tenant, format="anonymised", year=year
    )
    return _download(
        content,
        "text/csv; charset=utf-8",
        csv_filename(f"Quality_anonymised_{request.tenant.agb_code}_{year}", convention),
    )


# --- the client experience questionnaire ------------------------------------------------------------


def experience_card(request: TenantRequest, episode: Episode) -> dict[str, Any]:
    """The questionnaire's card on the episode page (registered in `quality.apps`): the answers, or the
    form once the maternity period has ended."""
    experience = ExperienceResponse.objects.filter(episode=episode).first()
    due = experience_due(episode)
    return {
        "experience": experience,
        "experience_due": due,
        "maternity_period_end": maternity_period_end(episode),
        "experience_form": ExperienceForm(initial={"answered_on": timezone.localdate()})
        if due and experience is None
        else None,
    }


def _episode(pk: int) -> Episode:
    return get_object_or_404(Episode.objects.select_related("client", "coordinating_professional"), pk=pk)


@tenant_view(rules.can_record_experience)
def experience_create(request: TenantRequest, pk: int) -> HttpResponse:
    """The client experience questionnaire of an episode. Clinicians fill it in on the episode page;
    IGO administrators, who do not see the care record, on a page of its own (found by episode number
    from the import page)."""
    episode = _episode(pk)
    clinician = rules.can_log_care(request.tenant_roles)
    if request.method == "POST":
        form = ExperienceForm(request.POST)
        if form.is_valid():
            try:
                experience_record(episode=episode, actor=request.user, **form.cleaned_data)
            except ValidationError as exc:
                add_form_errors(form, exc)
            else:
                messages.success(request, _("The questionnaire answers were saved."))
                if clinician:
                    url = reverse(
                        "episode_detail", kwargs={"tenant_slug": request.tenant.slug, "pk": episode.pk}
                    )
                    return redirect(f"{url}#experience")
                return redirect("experience_import", tenant_slug=request.tenant.slug)
        if clinician:
            return episode_page_refused(request, episode, bound={"experience_form": form})
    else:
        form = ExperienceForm(initial={"answered_on": timezone.localdate()})
    # The page names the client: logged when shown, also again with refused answers.
    care_services.access_log(
        user=request.user,
        client=episode.client,
        action=AccessAction.VIEW,
        obj=episode,
        detail="experience" if request.method == "GET" else "experience, form refused",
    )
    experience = ExperienceResponse.objects.filter(episode=episode).first()
    due = experience_due(episode)
    return render(
        request,
        "quality/experience_form.html",
        {
            "episode": episode,
            "client": episode.client,
            "experience": experience,
            "experience_due": due,
            "maternity_period_end": maternity_period_end(episode),
            # The form when it may be filled in, or to show why it was refused.
            "form": form if form.is_bound or (due and experience is None) else None,
            "clinician": clinician,
        },
        status=400 if request.method == "POST" else 200,
    )


@tenant_view(rules.can_import_experience)
def experience_import(request: TenantRequest) -> HttpResponse:
    """Questionnaire answers from a file (all or nothing), or one questionnaire by episode number."""
    form = ExperienceImportForm()
    lookup = ExperienceLookupForm(request.GET if "episode" in request.GET else None)
    errors: list[RowError] = []
    status = 200
    if lookup.is_bound and lookup.is_valid():
        found = Episode.objects.filter(pk=lookup.cleaned_data["episode"]).first()
        if found is not None:
            return redirect("experience_create", tenant_slug=request.tenant.slug, pk=found.pk)
        lookup.add_error("episode", _("No episode of this IGO has this number."))
    if request.method == "POST":
        status = 400
        form = ExperienceImportForm(request.POST, request.FILES)
        if form.is_valid():
            upload = form.cleaned_data["file"]
            try:
                # Read no more than the limit: a larger file is refused without loading all of it.
                content = upload.read(MAX_IMPORT_BYTES + 1)
                stored = experience_import_file(
                    tenant=request.tenant, actor=request.user, content=content, filename=upload.name or ""
                )
            except ExperienceImportError as exc:
                errors = exc.errors
            else:
                messages.success(
                    request,
                    ngettext(
                        "%(n)s questionnaire imported from %(name)s.",
                        "%(n)s questionnaires imported from %(name)s.",
                        len(stored),
                    )
                    % {"n": len(stored), "name": upload.name},
                )
                return redirect("experience_import", tenant_slug=request.tenant.slug)
    return render(
        request,
        "quality/experience_import.html",
        {"form": form, "lookup": lookup, "errors": errors, "columns": EXPERIENCE_COLUMNS},
        status=status,
    )


# --- the PREM Geboortezorg ------------------------------------------------------------------------------


@tenant_view(rules.can_import_prem)
def prem_page(request: TenantRequest) -> HttpResponse:
    """The PREM Geboortezorg scores of a year (per item, overall, response rate; aggregates only) and the
    import of the survey tool's file (all or nothing)."""
    year, form = _year(request)
    upload_form = ExperienceImportForm()
    errors: list[csv_upload.RowError] = []
    status = 200
    if request.method == "POST":
        status = 400
        upload_form = ExperienceImportForm(request.POST, request.FILES)
        if upload_form.is_valid():
            upload = upload_form.cleaned_data["file"]
            try:
                stored = prem.prem_import(
                    tenant=request.tenant,
                    actor=request.user,
                    content=upload.read(prem.MAX_BYTES + 1),
                    filename=upload.name or "",
                )
            except prem.PremImportError as exc:
                errors = list(exc.errors)
            else:
                messages.success(
                    request,
                    ngettext(
                        "%(n)s PREM questionnaire imported from %(name)s.",
                        "%(n)s PREM questionnaires imported from %(name)s.",
                        len(stored),
                    )
                    % {"n": len(stored), "name": upload.name},
                )
                return redirect("prem_page", tenant_slug=request.tenant.slug)
    summary = prem.prem_summary(start=dt.date(year, 1, 1), end=dt.date(year + 1, 1, 1))
    return render(
        request,
        "quality/prem.html",
        {
            **_common(request, year, form),
            "form": upload_form,
            "errors": errors,
            "columns": prem.COLUMNS,
            "scale": prem.PREM_SCALE,
            "summary": summary,
        },
        status=status,
    )
