"""Screens for IGO administrators: member organisations and professionals."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _

from igo import rules
from igo.banking import mask_iban
from igo.http import TenantRequest
from igo.views import add_form_errors, focus_first_error, form_page, post_only, tenant_view
from providers import selectors, services
from providers.forms import EndMembershipForm, OrganisationForm, ProfessionalForm
from providers.models import Discipline, MemberOrganisation, OrganisationKind, Professional

ORGANISATION_FIELDS = (
    "name", "kind", "agb_code", "member_from", "member_until", "iban", "bic", "account_holder",
)  # fmt: skip
PROFESSIONAL_FIELDS = ("full_name", "discipline", "organisation", "agb_code", "big_number", "user")


def _fields(form: forms.Form, names: tuple[str, ...]) -> dict[str, Any]:
    """The cleaned values of a valid form that a create or update service takes as keyword arguments."""
    return {name: form.cleaned_data[name] for name in names}


@tenant_view(rules.can_view_members)
def organisation_list(request: TenantRequest) -> HttpResponse:
    q = request.GET.get("q", "").strip()
    kind = request.GET.get("kind", "")
    kind = kind if kind in OrganisationKind.values else ""
    page = Paginator(selectors.organisation_list(q=q, kind=kind), 50).get_page(request.GET.get("page"))
    context = {
        "page": page,
        "q": q,
        "kind": kind,
        "kinds": OrganisationKind.choices,
        "can_manage": rules.can_manage_members(request.tenant_roles),
    }
    template = (
        "providers/partials/organisation_table.html" if request.htmx else "providers/organisation_list.html"
    )
    return render(request, template, context)


@tenant_view(rules.can_manage_members)
def organisation_create(request: TenantRequest) -> HttpResponse:
    form = OrganisationForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            org = services.organisation_create(
                tenant=request.tenant,
                actor=request.user,
                **_fields(form, ORGANISATION_FIELDS),
            )
        except ValidationError as exc:
            add_form_errors(form, exc)
        else:
            messages.success(request, _("%(name)s was added.") % {"name": org.name})
            return redirect("organisation_list", tenant_slug=request.tenant.slug)
    return render(
        request,
        "providers/form.html",
        {"form": form, "title": _("New member organisation")},
        status=400 if request.method == "POST" else 200,
    )


@tenant_view(rules.can_view_members)
def organisation_detail(request: TenantRequest, pk: int) -> HttpResponse:
    org = get_object_or_404(MemberOrganisation.objects, pk=pk)
    can_manage = rules.can_manage_members(request.tenant_roles)
    form = OrganisationForm(
        request.POST or None,
        initial={k: getattr(org, k) for k in ORGANISATION_FIELDS},
    )
    if request.method == "POST":
        if not can_manage:
            return HttpResponse(status=403)
        if form.is_valid():
            try:
                services.organisation_update(
                    organisation=org,
                    actor=request.user,
                    **_fields(form, ORGANISATION_FIELDS),
                )
            except ValidationError as exc:
                add_form_errors(form, exc)
            else:
                messages.success(request, _("The changes were saved."))
                return redirect("organisation_detail", tenant_slug=request.tenant.slug, pk=org.pk)
    return _organisation_page(request, org, form, status=400 if request.method == "POST" else 200)


def _organisation_page(
    request: TenantRequest,
    org: MemberOrganisation,
    form: OrganisationForm,
    end_form: EndMembershipForm | None = None,
    *,
    status: int,
) -> HttpResponse:
    """The organisation's page, with a refused form (its own or the end of membership) shown again (400)."""
    return render(
        request,
        "providers/organisation_detail.html",
        {
            "org": org,
            "masked_iban": mask_iban(org.iban),
            "form": form,
            "can_manage": rules.can_manage_members(request.tenant_roles),
            "professionals": org.professionals.select_related("user").order_by("full_name"),
            "end_form": end_form or EndMembershipForm(),
        },
        status=status,
    )


@tenant_view(rules.can_manage_members)
@post_only(back=form_page("organisation_detail", MemberOrganisation.objects))
def organisation_end(request: TenantRequest, pk: int) -> HttpResponse:
    """End a membership; a refused date shows the organisation's page again with it at its field (400)."""
    org = get_object_or_404(MemberOrganisation.objects, pk=pk)
    form = EndMembershipForm(request.POST)
    if form.is_valid():
        try:
            services.organisation_end_membership(
                organisation=org, actor=request.user, until=form.cleaned_data["until"]
            )
        except ValidationError as exc:
            add_form_errors(form, exc, aliases={"member_until": "until"})
        else:
            messages.success(
                request,
                _("The membership of %(name)s ends on %(date)s.")
                % {"name": org.name, "date": form.cleaned_data["until"].strftime("%d-%m-%Y")},
            )
            return redirect("organisation_detail", tenant_slug=request.tenant.slug, pk=org.pk)
    focus_first_error(form)
    initial = {k: getattr(org, k) for k in ORGANISATION_FIELDS}
    return _organisation_page(request, org, OrganisationForm(initial=initial), form, status=400)


@tenant_view(rules.can_view_members)
def professional_list(request: TenantRequest) -> HttpResponse:
    q = request.GET.get("q", "").strip()
    discipline = request.GET.get("discipline", "")
    discipline = discipline if discipline in Discipline.values else ""
    include_inactive = request.GET.get("inactive") == "1"
    page = Paginator(
        selectors.professional_list(q=q, discipline=discipline, include_inactive=include_inactive), 50
    ).get_page(request.GET.get("page"))
    context = {
        "page": page,
        "q": q,
        "discipline": discipline,
        "disciplines": Discipline.choices,
        "include_inactive": include_inactive,
        "can_manage": rules.can_manage_members(request.tenant_roles),
    }
    template = (
        "providers/partials/professional_table.html" if request.htmx else "providers/professional_list.html"
    )
    return render(request, template, context)


@tenant_view(rules.can_manage_members)
def professional_create(request: TenantRequest) -> HttpResponse:
    form = ProfessionalForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            prof = services.professional_create(
                tenant=request.tenant,
                actor=request.user,
                **_fields(form, PROFESSIONAL_FIELDS),
            )
        except ValidationError as exc:
            add_form_errors(form, exc)
        else:
            messages.success(request, _("%(name)s was added.") % {"name": prof.full_name})
            return redirect("professional_list", tenant_slug=request.tenant.slug)
    return render(
        request,
        "providers/form.html",
        {"form": form, "title": _("New professional")},
        status=400 if request.method == "POST" else 200,
    )


@tenant_view(rules.can_manage_members)
def professional_edit(request: TenantRequest, pk: int) -> HttpResponse:
    prof = get_object_or_404(Professional.objects.select_related("organisation", "user"), pk=pk)
    initial = {k: getattr(prof, k) for k in PROFESSIONAL_FIELDS}
    form = ProfessionalForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            services.professional_update(
                professional=prof,
                actor=request.user,
                **_fields(form, PROFESSIONAL_FIELDS),
            )
        except ValidationError as exc:
            add_form_errors(form, exc)
        else:
            messages.success(request, _("The changes were saved."))
            return redirect("professional_list", tenant_slug=request.tenant.slug)
    return render(
        request,
        "providers/form.html",
        {"form": form, "title": prof.full_name, "professional": prof},
        status=400 if request.method == "POST" else 200,
    )


@tenant_view(rules.can_manage_members)
@post_only(back=form_page("professional_list", Professional.objects, to=lambda _prof: {}))
def professional_toggle(request: TenantRequest, pk: int) -> HttpResponse:
    prof = get_object_or_404(Professional.objects, pk=pk)
    services.professional_set_active(professional=prof, actor=request.user, active=not prof.is_active)
    messages.success(
        request,
        _("%(name)s is now %(state)s.")
        % {"name": prof.full_name, "state": _("active") if prof.is_active else _("inactive")},
    )
    return redirect("professional_list", tenant_slug=request.tenant.slug)
