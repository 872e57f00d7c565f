"""The care-logging screens: find a client, open the episode timeline, log, correct and void care."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db.models import Case, Value, When
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import content_disposition_header, url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django_htmx.http import HttpResponseClientRedirect

from igo import rules
from igo.exports import csv_bytes, csv_convention, csv_filename
from igo.http import TenantRequest
from igo.views import add_form_errors, focus_first_error, form_page, post_only, tenant_view
from pregnancies import caseload, delivery, plausibility, selectors, services
from pregnancies.cards import EPISODE_CARDS
from pregnancies.dating import gestational_age_on
from pregnancies.describe import AccessDescriber, describe_entries
from pregnancies.forms import (
    AccessLogFilterForm,
    BirthOutcomeForm,
    CareEventForm,
    ClientSearchForm,
    CorrectEventForm,
    DeliveryForm,
    EndEpisodeForm,
    EventTypeForm,
    IndicationForm,
    InsuranceChangeForm,
    IntakeForm,
    KeyDatesForm,
    KraamzorgOrganisationForm,
    LineTransferForm,
    OutcomesForm,
    PregnancyForm,
    VoidEventForm,
)
from pregnancies.models import (
    AccessAction,
    Birth,
    CareEvent,
    Client,
    Episode,
    EpisodeStatus,
    EventStatus,
    EventType,
    Phase,
)
from providers.models import Discipline


def _birth_outcome_form(birth: Birth, data: Any = None) -> BirthOutcomeForm:
    # One form per child on the page: the ids must differ, the field names need not.
    return BirthOutcomeForm(
        data,
        auto_id=f"id_birth{birth.pk}_%s",
        initial={"nicu_admission": birth.nicu_admission, "neonatal_death_on": birth.neonatal_death_on},
    )


def _delivery_form(episode: Episode, births: list[Birth], data: Any = None) -> DeliveryForm:
    """The delivery form: empty to record it, filled with what was recorded to correct it."""
    if not births:
        return DeliveryForm(data)
    initial: dict[str, Any] = {
        "labour_started_at": episode.labour_started_at,
        "placenta_at": episode.placenta_at,
        "place": births[0].place,
        "line": delivery.line_at(episode, episode.labour_started_at) if episode.labour_started_at else None,
        **{name: getattr(episode, name) for name in delivery.CLINICAL_FIELDS},
    }
    for b in births[: DeliveryForm.CHILDREN]:
        n = b.child_number
        initial.update(
            {
                f"born_at_{n}": b.born_at,
                f"outcome_{n}": b.outcome,
                f"mode_{n}": b.mode,
                f"sex_{n}": b.sex,
                f"weight_grams_{n}": b.weight_grams,
                f"apgar_1_{n}": b.apgar_1,
                f"apgar_5_{n}": b.apgar_5,
            }
        )
    return DeliveryForm(data, initial=initial, correcting=True)


def _episode_context(
    request: TenantRequest,
    episode: Episode,
    form: CareEventForm | None = None,
    *,
    bound: dict[str, Any] | None = None,
    birth_forms: dict[int, BirthOutcomeForm] | None = None,
) -> dict[str, Any]:
    """The episode page; `bound` replaces forms by the submitted ones (with their errors), and
    `birth_forms` the outcome form of a child."""
    professional = services.professional_for(user=request.user)
    event_types = selectors.event_types_for(professional=professional, phase=episode.phase_at(timezone.now()))
    births = list(episode.births.all())
    context = {
        **_panel_context(request, episode, form, professional, event_types),
        "client": episode.client,
        "gestational_age_today": selectors.gestational_age_today(episode=episode, today=timezone.localdate()),
        "insurance": selectors.client_insurance_on(client=episode.client, day=timezone.localdate()),
        "key_dates_form": KeyDatesForm(initial={k: getattr(episode, k) for k in services.KEY_DATE_FIELDS}),
        "delivery_form": _delivery_form(episode, births),
        "can_record_birth": rules.can_record_birth(request.tenant_roles),
        "births": births,
        "first_birth": min(births, key=lambda b: b.born_at, default=None),
        "end_form": EndEpisodeForm(),
        "kraamzorg_form": _kraamzorg_form(episode),
        "line_form": LineTransferForm(),
        "lines": episode.line_transfers.all(),
        "outcomes_form": OutcomesForm(
            initial={
                "blood_loss_ml": episode.blood_loss_ml,
                "kraamzorg_indicated_hours": episode.kraamzorg_indicated_hours,
                "breastfeeding_at_kraamzorg_end": episode.breastfeeding_at_kraamzorg_end,
                "severe_morbidity": selectors.severe_morbidity_codes(episode),
            }
        ),
        "severe_morbidity": selectors.severe_morbidity_labels(episode),
        "indications": list(episode.kraamzorg_indications.all()),
        "birth_rows": [(b, (birth_forms or {}).get(b.pk) or _birth_outcome_form(b)) for b in births],
        "episode_cards": [card.template for card in EPISODE_CARDS],
        "robson_group": plausibility.robson_of(episode, births),
        "plausibility_findings": plausibility.check(episode, births, list(episode.line_transfers.all())),
    }
    for card in EPISODE_CARDS:
        context.update(card.context(request, episode))
    context.update(bound or {})
    return context


def _episode_page(
    request: TenantRequest, episode: Episode, context: dict[str, Any], *, status: int = 200
) -> HttpResponse:
    """The episode page, shown: one access-log entry (NEN 7513), also when a refused form shows it again."""
    services.access_log(
        user=request.user,
        client=episode.client,
        action=AccessAction.VIEW,
        obj=episode,
        detail="" if status < 400 else "form refused",
    )
    return render(request, "pregnancies/episode_detail.html", context, status=status)


def episode_page_refused(request: TenantRequest, episode: Episode, bound: dict[str, Any]) -> HttpResponse:
    """The episode page again with a card's refused form (`bound`: its name in the page's context, and the
    form with its errors), for the views of the apps that add cards."""
    return _episode_page(request, episode, _episode_context(request, episode, bound=bound), status=400)


def _panel_context(
    request: TenantRequest, episode: Episode, form: CareEventForm | None, professional: Any, event_types: Any
) -> dict[str, Any]:
    """Only what the logging panel (timeline and form) shows: the answer to an htmx log, the most frequent
    request of a shift, skips the rest of the episode page (births, outcome and key-date forms, insurance)."""
    initial: dict[str, Any] = {"occurred_at": timezone.localtime().strftime("%Y-%m-%dT%H:%M")}
    # `?type=<code>` (the home's "log" action): that entry preselected and the form focused, so that one
    # more click logs it.
    chosen = next((t for t in event_types if t.code == request.GET.get("type")), None)
    if chosen is not None:
        initial["event_type"] = chosen.pk
    return {
        "episode": episode,
        "professional": professional,
        "timeline": selectors.episode_timeline(episode=episode),
        "form": form or CareEventForm(event_types=event_types, initial=initial),
        "focus_log": chosen is not None and form is None,
    }


@tenant_view(rules.can_log_care)
def client_search(request: TenantRequest) -> HttpResponse:
    # POST keeps the BSN out of URLs, browser history and server logs.
    # Typing asks for a preview (`preview=1`, sent by htmx while the field changes): only how many clients
    # match, no name, date of birth or BSN, so nothing is read and nothing logged for each partial query.
    # The names are shown, and every client shown is logged once, when the search is submitted.
    form = ClientSearchForm(request.POST or None)
    results: list[Client] = []
    searched = False
    preview: int | None = None
    if request.method == "POST" and form.is_valid():
        query = {"q": form.cleaned_data["q"], "date_of_birth": form.cleaned_data["date_of_birth"]}
        if request.POST.get("preview") == "1":
            # A whole BSN is not previewed: whether it is a client here is itself a read of the register. Nor
            # is a search with a date of birth: a name and a date of birth single out a person as well.
            bsn_like = query["q"].strip().isdigit() and len(query["q"].strip()) == 9
            identifying = bsn_like or query["date_of_birth"] is not None
            preview = -1 if identifying else selectors.client_search_count(**query)
        else:
            searched = True
            results = selectors.client_search(**query)
            services.access_log_many(user=request.user, clients=results, action=AccessAction.SEARCH)
            today = timezone.localdate()
            for found in results:
                row: Any = found  # annotated by the selector
                delivered = row.active_born_at or row.active_labour_started_at
                row.gestational_age = (
                    "" if delivered else gestational_age_on(due_date=row.active_due_date, on=today)
                )
    context = {
        "form": form,
        "results": results,
        "searched": searched,
        "preview": preview,
        "limit": selectors.SEARCH_LIMIT,
    }
    if request.htmx:
        partial = "search_preview" if preview is not None else "search_results"
        return render(request, f"pregnancies/partials/{partial}.html", context)
    return render(request, "pregnancies/client_search.html", context)


def _known_client(request: TenantRequest, form: IntakeForm) -> Client | None:
    """The IGO's client with the BSN the intake refused as taken, so that the page can link to her. That
    she exists is a read of the register: access-logged (another IGO's clients are never looked at)."""
    if "bsn" not in form.errors:
        return None
    client = selectors.client_with_bsn(bsn=form.data.get("bsn", ""))
    if client is not None:
        services.access_log(
            user=request.user,
            client=client,
            action=AccessAction.SEARCH,
            obj=client,
            detail="intake: BSN known",
        )
    return client


@tenant_view(rules.can_log_care)
def client_new(request: TenantRequest) -> HttpResponse:
    today = timezone.localdate()
    form = IntakeForm(request.POST or None, kraamzorg=selectors.kraamzorg_organisations(on=today))
    known: Client | None = None
    if request.method == "POST" and form.is_valid():
        try:
            client, episode = services.intake_register(
                tenant=request.tenant, actor=request.user, today=today, **form.intake_data()
            )
        except ValidationError as exc:
            add_form_errors(form, exc, aliases=IntakeForm.ERROR_ALIASES)
            known = _known_client(request, form)
        else:
            messages.success(request, _("%(client)s was registered.") % {"client": client})
            return redirect("episode_detail", tenant_slug=request.tenant.slug, pk=episode.pk)
    return render(
        request,
        "pregnancies/client_new.html",
        {"form": form, "known_client": known},
        status=400 if request.method == "POST" else 200,
    )


@tenant_view(rules.can_log_care)
def episode_new(request: TenantRequest, pk: int) -> HttpResponse:
    """A new pregnancy for a client the IGO knows: gravida and parity proposed from her earlier episodes."""
    client = get_object_or_404(Client.objects, pk=pk)
    today = timezone.localdate()
    active = selectors.active_episode_of(client=client)
    gravida, parity = selectors.pregnancy_numbers_next(client=client)
    form = PregnancyForm(
        request.POST or None,
        kraamzorg=selectors.kraamzorg_organisations(on=today),
        initial={"intake_date": today, "gravida": gravida, "parity": parity},
    )
    if request.method == "POST" and form.is_valid():
        try:
            episode = services.pregnancy_start(
                client=client, actor=request.user, today=today, **form.pregnancy_data()
            )
        except ValidationError as exc:
            add_form_errors(form, exc, aliases=PregnancyForm.ERROR_ALIASES)
            active = selectors.active_episode_of(client=client)
        else:
            messages.success(
                request, _("The new pregnancy of %(client)s was registered.") % {"client": client}
            )
            return redirect("episode_detail", tenant_slug=request.tenant.slug, pk=episode.pk)
    services.access_log(
        user=request.user, client=client, action=AccessAction.VIEW, obj=client, detail="new pregnancy"
    )
    return render(
        request,
        "pregnancies/episode_new.html",
        {"client": client, "form": form, "active_episode": active},
        status=400 if request.method == "POST" else 200,
    )


@tenant_view(rules.can_log_care)
def client_detail(request: TenantRequest, pk: int) -> HttpResponse:
    return _client_page(request, get_object_or_404(Client.objects, pk=pk))


def _client_page(
    request: TenantRequest, client: Client, insurance_form: InsuranceChangeForm | None = None
) -> HttpResponse:
    """The client's page; with a refused change of insurer (400) that card open with the form as she
    typed it and its errors, or for htmx only that card (what the form swaps)."""
    status = 200 if insurance_form is None else 400
    services.access_log(
        user=request.user,
        client=client,
        action=AccessAction.VIEW,
        obj=client,
        detail="" if status < 400 else "form refused",
    )
    context: dict[str, Any] = {
        "client": client,
        "insurances": client.insurances.select_related("insurer").order_by("valid_from"),
        "insurance_form": insurance_form or InsuranceChangeForm(),
    }
    if request.htmx and insurance_form is not None:
        return render(request, "pregnancies/partials/client_insurance.html", context, status=status)
    episodes = list(client.episodes.select_related("coordinating_professional").order_by("-intake_date"))
    context.update(
        {
            "episodes": episodes,
            "active_episode": next((e for e in episodes if e.status == EpisodeStatus.ACTIVE), None),
            "can_audit": rules.can_manage_members(request.tenant_roles),
        }
    )
    return render(request, "pregnancies/client_detail.html", context, status=status)


@tenant_view(rules.can_log_care)
def episode_detail(request: TenantRequest, pk: int) -> HttpResponse:
    episode = get_object_or_404(
        Episode.objects.select_related("client", "coordinating_professional", "kraamzorg_organisation"), pk=pk
    )
    return _episode_page(request, episode, _episode_context(request, episode))


def _log_from_form(
    request: TenantRequest, episode: Episode, data: dict[str, Any], professional: Any = None
) -> tuple[CareEvent, bool, list[str]]:
    """A care event from a CareEventForm's cleaned data (the episode page's form and the day list's); the
    caller's `professional_for` of the user, when it has read it, saves the service reading it again."""
    return services.care_event_log(
        actor=request.user,
        episode=episode,
        professional=professional,
        event_type=data["event_type"],
        occurred_at=data["occurred_at"],
        quantity=data["quantity"],
        location=data.get("location") or "",
        note=data["note"],
        submission_key=data["submission_key"],
        confirm_over_limit=data["confirm_over_limit"],
        confirm_duplicate=data["confirm_duplicate"],
    )


@tenant_view(rules.can_log_care)
@post_only(back=form_page("episode_detail", Episode.objects))
def event_create(request: TenantRequest, pk: int) -> HttpResponse:
    """Log from the episode page. The service reads the episode under its lock (only the pk it is given
    counts), so a valid form costs no read of it here: the entries are checked in any order, and the fresh
    form of the answer offers them in the page's order for the locked episode's phase. A refused form reads
    the episode to show it again; an episode that is not there (or not the IGO's) answers 404 either way."""
    professional = services.professional_for(user=request.user)
    event_types = selectors.event_types_for(professional=professional)
    form: CareEventForm | None = CareEventForm(request.POST, event_types=event_types)
    assert form is not None
    status = 400
    if form.is_valid():
        data = form.cleaned_data
        try:
            event, created, warnings = _log_from_form(request, Episode(pk=pk), data, professional)
        except Episode.DoesNotExist:
            raise Http404 from None
        except ValidationError as exc:
            add_form_errors(form, exc)
        else:
            episode = event.episode  # the locked row (its client read along); on a repeat, read now
            status = 201 if created else 200
            if created and professional is not None:  # her next page ranks the care list without counting
                selectors.usage_logged(
                    professional=professional, event_types=event_types, event=event, now=timezone.now()
                )
            for warning in warnings:
                messages.warning(request, warning)
            if created:
                messages.success(request, _("%(type)s logged.") % {"type": event.event_type.name})
            if not request.htmx:
                back = request.POST.get("next", "")
                if back and url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()}):
                    return redirect(back)
                return redirect("episode_detail", tenant_slug=request.tenant.slug, pk=episode.pk)
            ordered = selectors.care_list_order(event_types, phase=episode.phase_at(timezone.now()))
            return _event_logged(request, episode, event if created else None, professional, ordered, status)
    episode = get_object_or_404(Episode.objects.select_related("client"), pk=pk)
    # The refused form again, its entries in the page's order.
    form.fields["event_type"].listed = selectors.care_list_order(  # type: ignore[attr-defined]
        event_types, phase=episode.phase_at(timezone.now())
    )
    if request.htmx:  # only the form again, with its errors at the fields
        context = {"episode": episode, "form": form, "professional": professional}
        return render(request, "pregnancies/partials/event_form.html", context, status=status)
    return _episode_page(request, episode, _episode_context(request, episode, form), status=status)


def _event_logged(
    request: TenantRequest,
    episode: Episode,
    event: CareEvent | None,
    professional: Any,
    event_types: Any,
    status: int,
) -> HttpResponse:
    """The htmx answer to a logged event (partials/event_logged.html): a fresh form with a new submission
    key, and out of band the messages and the new row, placed before the next row of its phase. One small
    query instead of the whole timeline; a repeated submission (`event` None) adds no row."""
    context: dict[str, Any] = {
        "episode": episode,
        "professional": professional,
        "form": CareEventForm(
            event_types=event_types, initial={"occurred_at": timezone.localtime().strftime("%Y-%m-%dT%H:%M")}
        ),
        "e": event,
    }
    if event is not None:
        context["phase_count"], context["next_pk"] = selectors.phase_placement(event=event)
    return render(request, "pregnancies/partials/event_logged.html", context, status=status)


def _own_event(request: TenantRequest, pk: int) -> CareEvent:
    return get_object_or_404(
        CareEvent.objects.select_related("episode__client", "event_type", "professional"), pk=pk
    )


@tenant_view(rules.can_log_care)
def event_correct(request: TenantRequest, pk: int) -> HttpResponse:
    event = _own_event(request, pk)
    professional = services.professional_for(user=request.user)
    types = selectors.event_types_for(professional=professional)
    form = _correct_form(event, types, request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            _new, warnings = services.care_event_correct(
                event=event,
                actor=request.user,
                reason=data["change_reason"],
                event_type=data["event_type"],
                occurred_at=data["occurred_at"],
                quantity=data["quantity"],
                confirm_over_limit=data["confirm_over_limit"],
            )
        except ValidationError as exc:
            add_form_errors(form, exc)
        else:
            for warning in warnings:
                messages.warning(request, warning)
            messages.success(request, _("The event was corrected; the original is kept in the history."))
            return redirect("episode_detail", tenant_slug=request.tenant.slug, pk=event.episode_id)
    return _event_page(request, event, form, status=400 if request.method == "POST" else 200)


def _correct_form(event: CareEvent, types: Any, data: Any = None) -> CorrectEventForm:
    return CorrectEventForm(
        data,
        event_types=types,
        auto_id="id_correct_%s",  # the void form on the same page has a reason field too
        initial={
            "event_type": event.event_type_id,
            "quantity": event.quantity,
            "occurred_at": timezone.localtime(event.occurred_at).strftime("%Y-%m-%dT%H:%M"),
        },
    )


def _event_page(
    request: TenantRequest,
    event: CareEvent,
    form: CorrectEventForm,
    void_form: VoidEventForm | None = None,
    *,
    status: int,
) -> HttpResponse:
    """The page to correct or void an event, with a refused form of either shown again (400)."""
    # The page names the client: logged when it is shown, also again with a refused form.
    services.access_log(
        user=request.user,
        client=event.episode.client,
        action=AccessAction.VIEW,
        obj=event,
        detail="" if status < 400 else "form refused",
    )
    return render(
        request,
        "pregnancies/event_change.html",
        {
            "event": event,
            "form": form,
            "void_form": void_form or VoidEventForm(auto_id="id_void_%s"),
            "mine": event.created_by_id == request.user.pk,
        },
        status=status,
    )


@tenant_view(rules.can_log_care)
@post_only(back=form_page("event_correct", CareEvent.objects))
def event_void(request: TenantRequest, pk: int) -> HttpResponse:
    """Void an event; a refused reason shows the page again with it at its field (400)."""
    event = _own_event(request, pk)
    form = VoidEventForm(request.POST, auto_id="id_void_%s")
    if form.is_valid():
        try:
            services.care_event_void(
                event=event, actor=request.user, reason=form.cleaned_data["change_reason"]
            )
        except ValidationError as exc:
            add_form_errors(form, exc)
        else:
            messages.success(request, _("The event was voided; it stays visible in the history."))
            return redirect("episode_detail", tenant_slug=request.tenant.slug, pk=event.episode_id)
    types = selectors.event_types_for(professional=services.professional_for(user=request.user))
    return _event_page(request, event, _correct_form(event, types), form, status=400)


@tenant_view(rules.can_log_care)
def episode_history(request: TenantRequest, pk: int) -> HttpResponse:
    episode = get_object_or_404(Episode.objects.select_related("client"), pk=pk)
    services.access_log(
        user=request.user, client=episode.client, action=AccessAction.VIEW, obj=episode, detail="history"
    )
    events = (
        CareEvent.objects.filter(episode=episode)
        .exclude(status=EventStatus.ACTIVE)
        .select_related("event_type", "professional", "created_by", "voided_by", "superseded_by")
    )
    return render(request, "pregnancies/episode_history.html", {"episode": episode, "events": events})


def _episode_post(
    request: TenantRequest,
    pk: int,
    form_class: type,
    action: Any,
    message: str,
    *,
    form_key: str,
    anchor: str,
) -> HttpResponse:
    """A small form of the episode page (care-path dates, a transfer, the end) through its service: refused
    input shows the page again with what she typed, the errors at the fields and the card open (400)."""
    episode = _episode_for_form(pk)
    return _episode_form_post(
        request,
        episode,
        form_class(request.POST),
        partial(action, episode=episode),
        message,
        form_key=form_key,
        anchor=anchor,
    )


@tenant_view(rules.can_log_care)
@post_only(back=form_page("episode_detail", Episode.objects))
def episode_key_dates(request: TenantRequest, pk: int) -> HttpResponse:
    return _episode_post(
        request,
        pk,
        KeyDatesForm,
        services.episode_set_key_dates,
        _("The care-path dates were saved."),
        form_key="key_dates_form",
        anchor="key-dates",
    )


def _episode_form_post(
    request: TenantRequest,
    episode: Episode,
    form: Any,
    action: Callable[..., Any],
    message: str,
    *,
    form_key: str,
    anchor: str,
    birth: Birth | None = None,
) -> HttpResponse:
    """Store a form of the episode page through its service. Refused input shows the page again with the
    submitted form and its errors at the fields (400); nothing is stored then."""
    if form.is_valid():
        try:
            action(actor=request.user, **form.cleaned_data)
        except ValidationError as exc:
            add_form_errors(form, exc)
        else:
            messages.success(request, message)
            url = reverse("episode_detail", kwargs={"tenant_slug": request.tenant.slug, "pk": episode.pk})
            return redirect(f"{url}#{anchor}")
    context = _episode_context(
        request,
        episode,
        bound={} if birth else {form_key: form},
        birth_forms={birth.pk: form} if birth else None,
    )
    return _episode_page(request, episode, context, status=400)


def _episode_for_form(pk: int) -> Episode:
    return get_object_or_404(
        Episode.objects.select_related("client", "coordinating_professional", "kraamzorg_organisation"), pk=pk
    )


@tenant_view(rules.can_record_birth)
@post_only(back=form_page("episode_detail", Episode.objects, anchor="delivery"))
def episode_delivery(request: TenantRequest, pk: int) -> HttpResponse:
    """Record the delivery, or correct it once recorded: dates, children, place, line and delivery event
    in one step. A user who may not is refused (403) with the reason, by the service."""
    episode = _episode_for_form(pk)
    births = list(episode.births.all())
    form = _delivery_form(episode, births, request.POST)
    if form.is_valid():
        try:
            if form.correcting:
                delivery.delivery_correct(
                    episode=episode,
                    actor=request.user,
                    reason=form.cleaned_data["change_reason"],
                    **form.delivery(),
                )
            else:
                delivery.delivery_record(episode=episode, actor=request.user, **form.delivery())
        except ValidationError as exc:
            add_form_errors(form, exc)
        else:
            messages.success(
                request,
                _("The delivery was corrected; the earlier record is kept in the history.")
                if form.correcting
                else _("The delivery was recorded."),
            )
            # Plausibility: possible but unlikely combinations warn, they do not refuse.
            episode.refresh_from_db()
            for finding in plausibility.check(
                episode, list(episode.births.all()), list(episode.line_transfers.all())
            ):
                messages.warning(request, finding.message)
            url = reverse("episode_detail", kwargs={"tenant_slug": request.tenant.slug, "pk": episode.pk})
            return redirect(f"{url}#delivery")
    episode.refresh_from_db()
    context = _episode_context(request, episode, bound={"delivery_form": form})
    return _episode_page(request, episode, context, status=400)


def _kraamzorg_form(episode: Episode, data: Any = None) -> KraamzorgOrganisationForm:
    return KraamzorgOrganisationForm(
        data,
        organisations=selectors.kraamzorg_members(on=timezone.localdate()),
        initial={"kraamzorg_organisation": episode.kraamzorg_organisation_id},
    )


@tenant_view(rules.can_log_care)
@post_only(back=form_page("episode_detail", Episode.objects, anchor="kraamzorg"))
def episode_kraamzorg(request: TenantRequest, pk: int) -> HttpResponse:
    """Choose or change the maternity-care organisation after the intake."""
    episode = _episode_for_form(pk)
    return _episode_form_post(
        request,
        episode,
        _kraamzorg_form(episode, request.POST),
        partial(services.episode_set_kraamzorg_organisation, episode=episode),
        _("The maternity-care organisation was saved."),
        form_key="kraamzorg_form",
        anchor="kraamzorg",
    )


@tenant_view(rules.can_log_care)
@post_only(back=form_page("episode_detail", Episode.objects, anchor="outcomes"))
def episode_outcomes(request: TenantRequest, pk: int) -> HttpResponse:
    episode = _episode_for_form(pk)
    return _episode_form_post(
        request,
        episode,
        OutcomesForm(request.POST),
        partial(services.episode_set_outcomes, episode=episode),
        _("The outcomes were saved."),
        form_key="outcomes_form",
        anchor="outcomes",
    )


@tenant_view(rules.can_log_care)
@post_only(
    back=form_page("episode_detail", Birth.objects, to=lambda b: {"pk": b.episode_id}, anchor="births")
)
def birth_outcome(request: TenantRequest, pk: int) -> HttpResponse:
    birth = get_object_or_404(Birth.objects, pk=pk)
    episode = _episode_for_form(birth.episode_id)
    return _episode_form_post(
        request,
        episode,
        _birth_outcome_form(birth, request.POST),
        partial(services.birth_set_outcome, birth=birth),
        _("The outcome of child %(n)s was saved.") % {"n": birth.child_number},
        form_key="",
        anchor="delivery",
        birth=birth,
    )


@tenant_view(rules.can_record_birth)
@post_only(back=form_page("episode_detail", Episode.objects))
def episode_line(request: TenantRequest, pk: int) -> HttpResponse:
    return _episode_post(
        request,
        pk,
        LineTransferForm,
        services.line_transfer,
        _("The transfer was recorded."),
        form_key="line_form",
        anchor="line",
    )


@tenant_view(rules.can_log_care)
@post_only(back=form_page("client_detail", Client.objects))
def client_insurance(request: TenantRequest, pk: int) -> HttpResponse:
    """Record a change of insurer; refused input shows the client's page again with it (400)."""
    client = get_object_or_404(Client.objects, pk=pk)
    form = InsuranceChangeForm(request.POST)
    if form.is_valid():
        try:
            services.insurance_change(client=client, actor=request.user, **form.cleaned_data)
        except ValidationError as exc:
            add_form_errors(form, exc)
        else:
            messages.success(request, _("The change of insurer was recorded."))
            url = reverse("client_detail", kwargs={"tenant_slug": request.tenant.slug, "pk": client.pk})
            if request.htmx:  # the whole page again: the list of insurances and the messages change
                return HttpResponseClientRedirect(url)
            return redirect(url)
    focus_first_error(form)
    return _client_page(request, client, form)


@tenant_view(rules.can_record_birth)
@post_only(back=form_page("episode_detail", Episode.objects))
def episode_end(request: TenantRequest, pk: int) -> HttpResponse:
    """End the pregnancy in two steps: a valid date and reason first show the page again with the card asking
    to confirm them (nothing stored); the confirmation's POST ends it through the service."""
    episode = _episode_for_form(pk)
    form = EndEpisodeForm(request.POST)
    if form.is_valid() and not form.cleaned_data["confirmed"]:
        form.asks_confirmation = True
        return _episode_page(request, episode, _episode_context(request, episode, bound={"end_form": form}))

    def end(*, actor: Any, end_date: Any, end_reason: str, confirmed: bool) -> Episode:
        return services.episode_end(episode=episode, actor=actor, end_date=end_date, end_reason=end_reason)

    return _episode_form_post(
        request, episode, form, end, _("The episode was ended."), form_key="end_form", anchor="end"
    )


def _today_types(professional: Any) -> list[EventType]:
    """What the day list logs: kraamzorg hours first (what a maternity carer logs every day), then other
    hours (labour assistance) and observations; the rest is on the episode page."""
    types = selectors.event_types_for(professional=professional)
    return sorted(
        (t for t in types if t.unit == "hour" or t.code == TODAY_OBSERVATION),
        key=lambda t: (not t.is_kraamzorg_hours, t.unit != "hour", t.code),
    )


TODAY_OBSERVATION = "KZ_OBS"


def _today_form(episode: Episode, types: list[EventType], data: Any = None) -> CareEventForm:
    initial = {"occurred_at": timezone.localtime().strftime("%Y-%m-%dT%H:%M"), "quantity": 4}
    if types:
        initial["event_type"] = types[0].pk
    form = CareEventForm(data, event_types=types, auto_id=f"id_today{episode.pk}_%s", initial=initial)
    # In the day list's order (kraamzorg hours first), with nothing to choose before them.
    field = form.fields["event_type"]
    order = Case(*(When(pk=t.pk, then=Value(i)) for i, t in enumerate(types)), default=Value(len(types)))
    field.queryset = field.queryset.order_by(order)  # type: ignore[attr-defined]
    field.empty_label = None  # type: ignore[attr-defined]
    form.fields["quantity"].widget.attrs.update({"step": "0.25", "min": "0.25", "class": "input-hours"})
    form.fields["note"].widget = forms.TextInput(attrs={"maxlength": 4000})
    return form


def _indication_form(episode: Episode, data: Any = None) -> IndicationForm:
    return IndicationForm(
        data,
        auto_id=f"id_indication{episode.pk}_%s",
        initial={"hours": episode.kraamzorg_indicated_hours, "indicated_on": timezone.localdate()},
    )


@tenant_view(rules.can_log_care)
def today(request: TenantRequest) -> HttpResponse:
    return _today_page(request)


def _today_page(
    request: TenantRequest, episode: Episode | None = None, refused: dict[str, Any] | None = None
) -> HttpResponse:
    """The day list. `refused` (a card's form by its name, `log_form` or `indication_form`) is the form
    submitted for `episode`, shown again on its card with what she typed and the errors at the fields (400).
    An htmx request about `episode` gets only that card: refused, or fresh after a valid entry, with the
    messages on it, so that the phone keeps its place on the list."""
    status = 400 if refused else 200
    episodes = selectors.my_clients_today(user=request.user)
    only_card = request.htmx and episode is not None
    if only_card:
        episodes = [e for e in episodes if e.pk == episode.pk]  # type: ignore[union-attr]
    services.access_log_many(
        user=request.user, clients=[e.client for e in episodes], action=AccessAction.VIEW, detail="day list"
    )
    professional = services.professional_for(user=request.user)
    types = _today_types(professional)
    for e in episodes:
        e.log_form = _today_form(e, types)  # type: ignore[attr-defined]
        e.indication_form = _indication_form(e)  # type: ignore[attr-defined]
        e.hours_label = services.number(e.kraamzorg_hours)  # type: ignore[attr-defined]
        if episode is not None and e.pk == episode.pk:
            for name, form in (refused or {}).items():
                setattr(e, name, form)
    if refused and not any(episode is not None and e.pk == episode.pk for e in episodes):
        # Not (or no longer) on her list, so no card to show the form on: the errors as messages, which name
        # the client (so her name is in the access log too).
        services.access_log(
            user=request.user,
            client=episode.client,  # type: ignore[union-attr]
            action=AccessAction.VIEW,
            obj=episode,
            detail="day list",
        )
        for form in refused.values():
            for errors in form.errors.values():
                messages.error(request, f"{episode.client}: {' '.join(str(e) for e in errors)}")  # type: ignore[union-attr]
    context: dict[str, Any] = {
        "episodes": episodes,
        "professional": professional,
        "can_log": bool(types),
        "max_hours": services.KRAAMZORG_MAX_HOURS,
    }
    if only_card:
        if not episodes:  # her list changed under her: the whole list again
            return HttpResponseClientRedirect(
                reverse("care_today", kwargs={"tenant_slug": request.tenant.slug})
            )
        context.update({"e": episodes[0], "card_messages": True})
        return render(request, "pregnancies/partials/today_card.html", context, status=status)
    return render(request, "pregnancies/today.html", context, status=status)


def _back_to_today(request: TenantRequest, episode: Episode) -> HttpResponse:
    """After a valid entry: the day list at her card (Post/Redirect/Get), or for htmx the fresh card."""
    if request.htmx:
        return _today_page(request, episode)
    url = reverse("care_today", kwargs={"tenant_slug": request.tenant.slug})
    return redirect(f"{url}#today-{episode.pk}")


@tenant_view(rules.can_log_care)
@post_only(back=form_page("care_today", Episode.objects, to=lambda e: {}))
def today_log(request: TenantRequest, pk: int) -> HttpResponse:
    """Log hours or an observation from the day list. Refused (or to be confirmed first), the day list is
    shown again with the form on its card as she filled it in (400); a reload of that address (GET) goes
    back to the list, never a 405."""
    episode = get_object_or_404(Episode.objects.select_related("client"), pk=pk)
    types = _today_types(services.professional_for(user=request.user))
    form = _today_form(episode, types, request.POST)
    if form.is_valid():
        data = form.cleaned_data
        if data["event_type"].code == TODAY_OBSERVATION and not data["note"].strip():
            form.add_error("note", _("Write down what you observed."))
        else:
            try:
                event, created, warnings = _log_from_form(request, episode, data)
            except ValidationError as exc:
                add_form_errors(form, exc)
            else:
                for warning in warnings:
                    messages.warning(request, warning)
                if created:
                    messages.success(
                        request,
                        _("%(type)s logged for %(client)s.")
                        % {"type": event.event_type.name, "client": episode.client},
                    )
                return _back_to_today(request, episode)
    focus_first_error(form)
    return _today_page(request, episode, {"log_form": form})


@tenant_view(rules.can_log_care)
@post_only(back=form_page("care_today", Episode.objects, to=lambda e: {}))
def today_indication(request: TenantRequest, pk: int) -> HttpResponse:
    """Record or change the hours indicated (LIP) from the day list; refused, the day list again with the
    form on its card, open, as she filled it in (400)."""
    episode = get_object_or_404(Episode.objects.select_related("client"), pk=pk)
    form = _indication_form(episode, request.POST)
    if form.is_valid():
        try:
            services.episode_set_kraamzorg_indication(
                episode=episode,
                actor=request.user,
                hours=form.cleaned_data["hours"],
                indicated_on=form.cleaned_data["indicated_on"],
            )
        except ValidationError as exc:
            add_form_errors(form, exc)
        else:
            messages.success(
                request, _("The hours indicated for %(client)s were saved.") % {"client": episode.client}
            )
            return _back_to_today(request, episode)
    focus_first_error(form)
    return _today_page(request, episode, {"indication_form": form})


@tenant_view(rules.can_log_care)
def care_home(request: TenantRequest) -> HttpResponse:
    """The clinician's home: her caseload with what needs attention, her recent clients, a search box. Each
    row's "log" opens the episode with the entry its phase most needs preselected (pregnancies/caseload.py)."""
    now = timezone.now()
    professional = services.professional_for(user=request.user)
    rows = caseload.caseload(professional=professional, now=now)
    recent = caseload.recent_episodes(user_id=request.user.pk, now=now)
    types = selectors.event_types_for(professional=professional, now=now)
    first_of_phase = {}
    for phase in Phase.values:
        ordered = selectors.care_list_order(types, phase=phase)
        first_of_phase[phase] = ordered[0].code if ordered else ""
    for row in rows:
        row.log_type = first_of_phase[row.phase]
        row.url = reverse("episode_detail", kwargs={"tenant_slug": request.tenant.slug, "pk": row.episode.pk})
    # NEN 7513: the page names each of these clients; one entry per client, in one INSERT.
    services.access_log_many(
        user=request.user,
        clients=[r.client for r in rows] + [e.client for e in recent],
        action=AccessAction.VIEW,
        detail="caseload",
    )
    return render(
        request,
        "pregnancies/home.html",
        {
            "rows": rows,
            "recent": recent,
            "professional": professional,
            "flagged": sum(1 for r in rows if r.flags),
            "search_form": ClientSearchForm(),
            "today": timezone.localdate(now),
        },
    )


@tenant_view(rules.can_view_catalogue)
def catalogue(request: TenantRequest) -> HttpResponse:
    can_manage = rules.can_manage_members(request.tenant_roles)
    form = EventTypeForm(request.POST or None)
    if request.method == "POST":
        if not can_manage:
            raise PermissionDenied
        if form.is_valid():
            try:
                data = form.cleaned_data
                services.event_type_create(
                    tenant=request.tenant,
                    actor=request.user,
                    code=data["code"],
                    name_nl=data["name_nl"],
                    name_en=data["name_en"],
                    phase=data["phase"],
                    unit=data["unit"],
                    disciplines=data["disciplines"],
                    max_quantity=data["max_quantity"],
                )
            except ValidationError as exc:
                add_form_errors(form, exc)
            else:
                messages.success(request, _("The catalogue entry was added."))
                return redirect("catalogue", tenant_slug=request.tenant.slug)
    return render(
        request,
        "pregnancies/catalogue.html",
        {
            "types": EventType.objects.order_by("phase", "code"),
            "form": form,
            "can_manage": can_manage,
            "disciplines": dict(Discipline.choices),
        },
        status=400 if request.method == "POST" else 200,
    )


@tenant_view(rules.can_manage_members)
@post_only(back=form_page("catalogue", EventType.objects, to=lambda _type: {}))
def catalogue_toggle(request: TenantRequest, pk: int) -> HttpResponse:
    event_type = get_object_or_404(EventType.objects, pk=pk)
    services.event_type_set_active(event_type=event_type, actor=request.user, active=not event_type.is_active)
    return redirect("catalogue", tenant_slug=request.tenant.slug)


@tenant_view(rules.can_manage_members)
def access_log_list(request: TenantRequest) -> HttpResponse:
    client = None
    if request.GET.get("client", "").isdecimal():
        client = get_object_or_404(Client.objects, pk=int(request.GET["client"]))
    form = AccessLogFilterForm(request.GET or None)
    filters = form.cleaned_data if form.is_valid() else {}
    entries = selectors.access_log_search(
        client=client,
        user_email=filters.get("user") or "",
        action=filters.get("action") or "",
        since=filters.get("since"),
        until=filters.get("until"),
    )
    page = Paginator(entries, 100).get_page(request.GET.get("page"))
    # The page names the clients of its entries (and the client it is filtered on): each is logged once,
    # after the page's rows are read, so these entries are not on the page that caused them.
    shown = [client] if client is not None else []
    shown += [e.client for e in page.object_list]
    services.access_log_many(user=request.user, clients=shown, action=AccessAction.VIEW, detail="access log")
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "pregnancies/access_log.html",
        {
            "page": page,
            "rows": describe_entries(page.object_list),
            "client": client,
            "form": form,
            "query": query.urlencode(),
        },
    )


ACCESS_EXPORT_HEADER = (
    "at", "user", "on_behalf_of", "action", "object_type", "object_id", "detail", "user_name",
    "on_behalf_of_name", "description",
)  # fmt: skip


@tenant_view(rules.can_manage_members)
def access_log_export(request: TenantRequest, pk: int) -> HttpResponse:
    client = get_object_or_404(Client.objects, pk=pk)
    services.access_log(user=request.user, client=client, action=AccessAction.EXPORT, detail="access history")
    describe = AccessDescriber()
    # The users as they were named when each entry was written, not as they are named now.
    rows = (
        (
            timezone.localtime(e.at).isoformat(),
            e.user_email,
            e.on_behalf_of_email,
            e.action,
            e.object_type,
            e.object_id,
            e.detail,
            e.user_name,
            e.on_behalf_of_name,
            describe(e),
        )
        for e in selectors.access_log_search(client=client).iterator()
    )
    convention = csv_convention(request.GET.get("convention"))
    response = HttpResponse(
        csv_bytes(ACCESS_EXPORT_HEADER, rows, convention=convention), content_type="text/csv; charset=utf-8"
    )
    response["Content-Disposition"] = content_disposition_header(
        True, csv_filename(f"access-history-client-{client.pk}", convention)
    )
    return response
