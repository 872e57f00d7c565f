"""Views for sign-in landing, tenant dashboards, users and roles, invitations, the platform operator."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from allauth.account.decorators import reauthentication_required
from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db import connection
from django.db.models import Q
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseNotAllowed,
    HttpResponseRedirect,
    JsonResponse,
)
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _

from igo import dashboard, landing, rules, selectors, services
from igo.describe import describe_audit, summarise_audit
from igo.forms import (
    AcceptInvitationForm,
    AdminInviteForm,
    InsurerUserInviteForm,
    InvitationForm,
    PersonalTokenForm,
    TenantCreateForm,
    TenantSettingsForm,
)
from igo.http import AuthedRequest, TenantRequest
from igo.models import (
    AuditEntry,
    Insurer,
    InsurerMembership,
    Invitation,
    Membership,
    PersonalApiToken,
    Role,
    User,
)

View = Callable[..., HttpResponse]


def tenant_view(rule: Callable[[frozenset[str]], bool] | None = None) -> Callable[[View], View]:
    """For views under /t/<tenant_slug>/: the middleware has checked membership; this checks the role."""

    def decorator(view: View) -> View:
        @wraps(view)
        def wrapped(request: HttpRequest, tenant_slug: str, *args: Any, **kwargs: Any) -> HttpResponse:
            if getattr(request, "tenant", None) is None:  # the middleware did not run: refuse
                raise PermissionDenied
            if rule is not None and not rule(request.tenant_roles):  # type: ignore[attr-defined]
                raise PermissionDenied
            return view(request, *args, **kwargs)

        return wrapped

    return decorator


Back = Callable[..., str]


def post_only(back: Back) -> Callable[[View], View]:
    """For a form's POST-only address, in place of `require_POST`. A browser left on that address by a
    refused form sends a GET there on a reload or a language switch: it is sent on (303) to the page that
    holds the form instead of a blank 405. `back(request, **url_kwargs)` gives that page's address and
    resolves the URL's objects in the tenant on the way, so another tenant's object or a missing one still
    answers 404; placed under `tenant_view`, a member without the right still gets 403 first. On a POST,
    `request.form_page` gives the same address to the language switch (only when a page is rendered)."""

    def decorator(view: View) -> View:
        @wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if request.method == "POST":
                request.form_page = lambda: _form_page_or_blank(back, request, kwargs)  # type: ignore[attr-defined]
                return view(request, *args, **kwargs)
            if request.method in ("GET", "HEAD"):
                response = HttpResponseRedirect(back(request, **kwargs))
                response.status_code = 303
                return response
            return HttpResponseNotAllowed(["POST"])

        return wrapped

    return decorator


def _form_page_or_blank(back: Back, request: HttpRequest, kwargs: dict[str, Any]) -> str:
    try:
        return back(request, **kwargs)
    except Http404:  # the form's object is gone (a discarded batch): the switch stays on the address
        return ""


def form_page(
    url_name: str,
    find: Any = None,
    *,
    to: Callable[[Any], dict[str, Any]] | None = None,
    tenant: bool = True,
    anchor: str = "",
) -> Back:
    """A `back` for `post_only`: the page `url_name`, in the request's tenant unless `tenant=False`. With
    `find` (a model's manager or queryset, or `find(request, pk)`), the object of the URL's `pk` is looked
    up first (404 when it is not there) and the page is the object's: `to(obj)` gives its URL arguments
    (default its own pk)."""

    def back(request: HttpRequest, **kwargs: Any) -> str:
        url_kwargs: dict[str, Any] = {"tenant_slug": request.tenant.slug} if tenant else {}  # type: ignore[attr-defined]
        if find is not None:
            obj = find(request, kwargs["pk"]) if callable(find) else get_object_or_404(find, pk=kwargs["pk"])
            url_kwargs.update(to(obj) if to else {"pk": obj.pk})
        url = reverse(url_name, kwargs=url_kwargs)
        return f"{url}#{anchor}" if anchor else url

    return back


def healthz(request: HttpRequest) -> JsonResponse:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return JsonResponse({"status": "ok"})


@login_required
def home(request: AuthedRequest) -> HttpResponse:
    tenants, tenant = landing.tenant_to_open(user=request.user, last_slug=request.session.get("last_tenant"))
    if tenant is not None:
        roles = selectors.user_roles(user=request.user, tenant=tenant)
        return redirect(landing.tenant_home_url(tenant_slug=tenant.slug, roles=roles))
    insurers = selectors.user_insurers(user=request.user)
    if not tenants and insurers:
        return redirect("insurer_dashboard")
    if not tenants and request.user.is_staff:
        return redirect("platform_tenants")
    return render(request, "igo/choose_tenant.html", {"tenants": tenants, "insurers": insurers})


@login_required
def tenant_switch(request: AuthedRequest) -> HttpResponse:
    return render(
        request,
        "igo/choose_tenant.html",
        {
            "tenants": selectors.user_tenants(user=request.user),
            "insurers": selectors.user_insurers(user=request.user),
        },
    )


@tenant_view()
def tenant_dashboard(request: TenantRequest) -> HttpResponse:
    roles = request.tenant_roles
    context: dict[str, Any] = {
        "roles": roles,
        "is_admin": rules.can_manage_members(roles),
        "is_finance": Role.IGO_FINANCE in roles,
        "is_clinician": rules.can_log_care(roles),
        "summary": selectors.tenant_summary(),
        "role_labels": dict(Role.choices),
    }
    # What the apps above igo add (billing: finance's money figures instead of head counts), igo.dashboard.
    context.update(dashboard.parts_for(request))
    if context["is_admin"]:
        context["open_invitations"] = selectors.invitation_list(open_only=True)[:10]
        context["recent_audit"] = summarise_audit(
            AuditEntry.objects.filter(tenant=request.tenant).select_related("actor")[:8]
        )
    return render(request, "igo/dashboard.html", context)


@tenant_view(rules.can_view_members)
def membership_list(request: TenantRequest) -> HttpResponse:
    q = request.GET.get("q", "").strip()
    role = request.GET.get("role", "")
    if role not in Role.values:
        role = ""
    include_ended = request.GET.get("ended") == "1"
    page = Paginator(selectors.membership_list(q=q, role=role, include_ended=include_ended), 50).get_page(
        request.GET.get("page")
    )
    context = {
        "page": page,
        "q": q,
        "role": role,
        "include_ended": include_ended,
        "roles": Role.choices,
        "can_manage": rules.can_manage_members(request.tenant_roles),
        "invitations": selectors.invitation_list(open_only=True),
        "form": InvitationForm(),
    }
    template = "igo/partials/membership_table.html" if request.htmx else "igo/membership_list.html"
    return render(request, template, context)


@tenant_view(rules.can_manage_members)
def invitation_create(request: TenantRequest) -> HttpResponse:
    form = InvitationForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            invitation = services.invitation_create(
                tenant=request.tenant,
                actor=request.user,
                **form.cleaned_data,
            )
        except ValidationError as exc:
            add_form_errors(form, exc)
        else:
            messages.success(request, _("Invitation sent to %(email)s.") % {"email": invitation.email})
            if request.htmx:
                response = HttpResponse(status=204)
                response["HX-Redirect"] = reverse(
                    "membership_list",
                    kwargs={"tenant_slug": request.tenant.slug},
                )
                return response
            return redirect("membership_list", tenant_slug=request.tenant.slug)
    status = 400 if request.method == "POST" else 200
    template = "igo/partials/invitation_form.html" if request.htmx else "igo/invitation_form.html"
    return render(request, template, {"form": form}, status=status)


@tenant_view(rules.can_manage_members)
@post_only(back=form_page("membership_list", Invitation.objects, to=lambda _invitation: {}))
def invitation_revoke(request: TenantRequest, pk: int) -> HttpResponse:
    invitation = get_object_or_404(Invitation.objects, pk=pk)
    try:
        services.invitation_revoke(invitation=invitation, actor=request.user)
        messages.success(
            request, _("The invitation for %(email)s was withdrawn.") % {"email": invitation.email}
        )
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    return redirect("membership_list", tenant_slug=request.tenant.slug)


@tenant_view(rules.can_view_members)
def membership_detail(request: TenantRequest, pk: int) -> HttpResponse:
    membership = get_object_or_404(Membership.objects.select_related("user"), pk=pk)
    return membership_detail_page(request, membership)


def membership_detail_page(
    request: TenantRequest, membership: Membership, *, email_form: Any = None, status: int = 200
) -> HttpResponse:
    from igo.forms import UserEmailForm

    history = AuditEntry.objects.filter(
        Q(object_type="igo.membership", object_id=str(membership.pk))
        | Q(object_type="igo.user", object_id=str(membership.user_id)),
        tenant=request.tenant,
    )
    return render(
        request,
        "igo/membership_detail.html",
        {
            "membership": membership,
            "history": history,
            "can_manage": rules.can_manage_members(request.tenant_roles),
            "email_form": email_form or UserEmailForm(),
            **_end_keys_context(membership),
        },
        status=status,
    )


def _end_keys_context(membership: Membership) -> dict[str, Any]:
    """What ending this role does to the keys she made: her personal keys stop when it is her last active
    role; the member-system keys she made in this IGO are listed for the administrator to revoke or keep."""
    if not membership.is_active:
        return {}
    last_role = (
        not Membership.unscoped.filter(user_id=membership.user_id, is_active=True)
        .exclude(pk=membership.pk)
        .exists()
    )
    return {
        "personal_keys": services.personal_tokens_usable(user=membership.user) if last_role else [],
        "organisational_keys": services.organisational_keys(user=membership.user, tenant=membership.tenant),
    }


def revoke_keys_chosen(request: HttpRequest) -> bool:
    """The end-of-access form's checkbox. A form without the choice (an old page) revokes: fail safe."""
    if "keys_choice" not in request.POST:
        return True
    return request.POST.get("revoke_keys") == "on"


@tenant_view(rules.can_manage_members)
@post_only(back=form_page("membership_detail", Membership.objects))
def membership_end(request: TenantRequest, pk: int) -> HttpResponse:
    membership = get_object_or_404(Membership.objects.select_related("user"), pk=pk)
    try:
        services.membership_end(
            membership=membership, actor=request.user, revoke_keys=revoke_keys_chosen(request)
        )
        messages.success(request, _("The role of %(name)s has been ended.") % {"name": membership.user})
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    return redirect("membership_list", tenant_slug=request.tenant.slug)


@tenant_view(rules.can_manage_members)
def audit_list(request: TenantRequest) -> HttpResponse:
    entries = AuditEntry.objects.filter(tenant=request.tenant).select_related("actor")
    page = Paginator(entries, 100).get_page(request.GET.get("page"))
    return render(request, "igo/audit_list.html", {"page": page, "rows": describe_audit(page.object_list)})


@tenant_view(rules.can_manage_members)
def tenant_settings(request: TenantRequest) -> HttpResponse:
    """The administrator's settings of her IGO (four eyes on claim batches); each change is audited."""
    tenant = request.tenant
    # Bound on any POST: an unticked box sends nothing, and an empty POST is a choice (off), not a GET.
    form = TenantSettingsForm(
        request.POST if request.method == "POST" else None,
        initial={"batch_four_eyes": tenant.batch_four_eyes},
    )
    if request.method == "POST" and form.is_valid():
        services.tenant_batch_four_eyes_set(
            tenant=tenant, actor=request.user, on=form.cleaned_data["batch_four_eyes"]
        )
        messages.success(request, _("The settings of the IGO were saved."))
        return redirect("tenant_settings", tenant_slug=tenant.slug)
    history = AuditEntry.objects.filter(tenant=tenant, action="tenant.batch_four_eyes").select_related(
        "actor"
    )[:20]
    return render(
        request,
        "igo/tenant_settings.html",
        {"form": form, "history": describe_audit(history)},
        status=400 if request.method == "POST" else 200,
    )


def invitation_accept(request: HttpRequest, token: str) -> HttpResponse:
    invitation = selectors.invitation_by_token(token=token)
    if invitation is None:
        return render(
            request,
            "igo/invitation_invalid.html",
            {
                "reason": _("This invitation link is not valid. Check that you copied the whole link."),
            },
            status=404,
        )
    try:
        services.invitation_check_open(invitation)
    except ValidationError as exc:
        return render(request, "igo/invitation_invalid.html", {"reason": " ".join(exc.messages)}, status=410)
    has_account = User.objects.filter(email__iexact=invitation.email).exists()
    form = AcceptInvitationForm(request.POST or None) if not has_account else None
    error = ""
    if request.method == "POST":
        try:
            if has_account:
                user, _membership = services.invitation_accept(
                    invitation=invitation,
                    user=_signed_in(request),
                )
            elif form is not None and form.is_valid():
                user, _membership = services.invitation_accept(
                    invitation=invitation,
                    user=_signed_in(request),
                    full_name=form.cleaned_data["full_name"],
                    password=form.cleaned_data["password1"],
                )
                login(request, user, backend="django.contrib.auth.backends.ModelBackend")
            else:
                user = None
        except ValidationError as exc:
            if form is not None and hasattr(exc, "error_dict"):
                add_form_errors(form, exc)
            else:
                error = " ".join(exc.messages)
            user = None
        if user is not None and invitation.insurer is not None:
            # Her second factor comes next: the MFA middleware sends her to set one up.
            messages.success(request, _("Welcome to %(igo)s.") % {"igo": invitation.insurer.name})
            return redirect("insurer_dashboard")
        if user is not None and invitation.tenant is not None:
            messages.success(request, _("Welcome to %(igo)s.") % {"igo": invitation.tenant.name})
            roles = selectors.user_roles(user=user, tenant=invitation.tenant)
            return redirect(landing.tenant_home_url(tenant_slug=invitation.tenant.slug, roles=roles))
    return render(
        request,
        "igo/invitation_accept.html",
        {
            "invitation": invitation,
            "form": form,
            "has_account": has_account,
            "error": error,
        },
        status=400 if request.method == "POST" else 200,
    )


@login_required
def platform_tenants(request: AuthedRequest) -> HttpResponse:
    if not request.user.is_staff:
        raise PermissionDenied
    form = TenantCreateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            tenant, invitation = services.tenant_create(actor=request.user, **form.cleaned_data)
        except ValidationError as exc:
            add_form_errors(form, exc)
        else:
            messages.success(
                request,
                _("%(igo)s was created; an invitation went to %(email)s.")
                % {"igo": tenant.name, "email": invitation.email},
            )
            return redirect("platform_tenants")
    return render(
        request,
        "igo/platform_tenants.html",
        {"form": form, "rows": selectors.platform_tenant_list()},
        status=400 if request.method == "POST" else 200,
    )


@login_required
def platform_admin_invite(request: AuthedRequest, pk: int) -> HttpResponse:
    """The operator invites an IGO's administrator (again): a typo, an expired link, a mail that never
    arrived. The pending administrator invitation is withdrawn (igo.services.tenant_admin_invite)."""
    if not request.user.is_staff:
        raise PermissionDenied
    rows = selectors.platform_tenant_list(pk=pk)
    if not rows:
        raise Http404
    row = rows[0]
    tenant = row.tenant
    pending = row.admin_invitation
    initial = {"email": pending.email} if pending is not None else {}
    form = AdminInviteForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            invitation = services.tenant_admin_invite(
                tenant=tenant, actor=request.user, email=form.cleaned_data["email"]
            )
        except ValidationError as exc:
            add_form_errors(form, exc)
        else:
            messages.success(
                request,
                _("An invitation to administer %(igo)s went to %(email)s.")
                % {"igo": tenant.name, "email": invitation.email},
            )
            return redirect("platform_tenants")
    return render(
        request,
        "igo/platform_admin_invite.html",
        {"form": form, "row": row},
        status=400 if request.method == "POST" else 200,
    )


def _operator(request: AuthedRequest) -> None:
    if not request.user.is_staff:
        raise PermissionDenied


@login_required
def platform_insurers(request: AuthedRequest) -> HttpResponse:
    """The operator's list of insurers, each with its users and open invitations."""
    _operator(request)
    return render(request, "igo/platform_insurers.html", {"rows": selectors.platform_insurer_list()})


@login_required
def platform_insurer_users(request: AuthedRequest, pk: int) -> HttpResponse:
    """An insurer's users (invited, active, ended; last sign-in) and the form to invite one (again): the
    e-mailed link lets her set her own password; her second factor follows at her first sign-in."""
    _operator(request)
    insurer = get_object_or_404(Insurer, pk=pk)
    form = InsurerUserInviteForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            invitation = services.insurer_user_invite(
                insurer=insurer,
                actor=request.user,
                email=form.cleaned_data["email"],
                full_name=form.cleaned_data["full_name"],
            )
        except ValidationError as exc:
            add_form_errors(form, exc)
        else:
            messages.success(
                request,
                _("An invitation to work for %(insurer)s went to %(email)s.")
                % {"insurer": insurer.name, "email": invitation.email},
            )
            return redirect("platform_insurer_users", pk=insurer.pk)
    return render(
        request,
        "igo/platform_insurer_users.html",
        {"insurer": insurer, "form": form, "rows": selectors.platform_insurer_users(insurer=insurer)},
        status=400 if request.method == "POST" else 200,
    )


def _insurer_users_page(request: HttpRequest, pk: int, **_kwargs: Any) -> str:
    return reverse("platform_insurer_users", kwargs={"pk": pk})


@login_required
@post_only(back=_insurer_users_page)
def platform_insurer_user_end(request: AuthedRequest, pk: int, link_pk: int) -> HttpResponse:
    _operator(request)
    link = get_object_or_404(InsurerMembership.objects.select_related("user"), pk=link_pk, insurer_id=pk)
    try:
        services.insurer_user_end(link=link, actor=request.user, revoke_keys=revoke_keys_chosen(request))
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, _("%(email)s no longer has access.") % {"email": link.user.email})
    return redirect("platform_insurer_users", pk=pk)


@login_required
@post_only(back=_insurer_users_page)
def platform_insurer_invitation_revoke(request: AuthedRequest, pk: int, invitation_pk: int) -> HttpResponse:
    _operator(request)
    invitation = get_object_or_404(Invitation.unscoped, pk=invitation_pk, insurer_id=pk)
    try:
        services.invitation_revoke(invitation=invitation, actor=request.user)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(
            request, _("The invitation for %(email)s was withdrawn.") % {"email": invitation.email}
        )
    return redirect("platform_insurer_users", pk=pk)


# --- personal API keys (issue 16) -----------------------------------------------------------------


@login_required
@reauthentication_required(allow_get=True)
def personal_tokens(request: AuthedRequest) -> HttpResponse:
    """The user's own API keys: listed, made (after signing in again: allauth keeps a POST that needed it
    and replays it afterwards), shown once."""
    form = PersonalTokenForm(request.POST or None)
    new_key = ""
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            try:
                _token, new_key = services.personal_token_create(
                    user=request.user, name=form.cleaned_data["name"], days=form.cleaned_data["days"]
                )
            except ValidationError as exc:
                add_form_errors(form, exc)
            else:
                status = 201
                form = PersonalTokenForm()
    tokens = PersonalApiToken.objects.filter(user=request.user)
    response = render(
        request,
        "igo/personal_tokens.html",
        {"form": form, "tokens": tokens, "new_key": new_key},
        status=status,
    )
    response["Cache-Control"] = "private, no-store"  # the new key is on this page, once
    return response


@login_required
@post_only(
    back=form_page(
        "personal_tokens",
        lambda request, pk: get_object_or_404(PersonalApiToken.objects.filter(user=request.user), pk=pk),
        to=lambda _token: {},
        tenant=False,
    )
)
def personal_token_revoke(request: AuthedRequest, pk: int) -> HttpResponse:
    token = get_object_or_404(PersonalApiToken.objects.filter(user=request.user), pk=pk)
    try:
        services.personal_token_revoke(token=token, actor=request.user)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, _("The key %(name)s was revoked.") % {"name": token.name})
    return redirect("personal_tokens")


def _signed_in(request: HttpRequest) -> User | None:
    return request.user if isinstance(request.user, User) and request.user.is_authenticated else None


def focus_first_error(form: Any) -> None:
    """Autofocus the first field with an error of a form shown again: on a phone the browser scrolls to
    it, so a refused form further down a long page is not left out of sight."""
    for name in form.errors:
        if name in form.fields:
            form.fields[name].widget.attrs["autofocus"] = True
            return


def add_form_errors(form: Any, exc: ValidationError, aliases: dict[str, str] | None = None) -> None:
    """Put a service's field errors on the form; `aliases` maps service fields to differently named form fields."""
    if hasattr(exc, "error_dict"):
        for field, errors in exc.message_dict.items():
            field = (aliases or {}).get(field, field)
            form.add_error(field if field in form.fields else None, errors)
    else:
        form.add_error(None, exc.messages)
