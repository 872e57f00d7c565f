"""Views of a user's own account (her sign-in address) and an administrator's change of a user's address.

The page /accounts/email/ replaces allauth's address management: allauth let a user add any address and
make it primary without verification (docs/operations.md, "Identities").
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _

from igo import identity, lockout, rules
from igo.forms import EmailChangeForm, UserEmailForm
from igo.http import AuthedRequest, TenantRequest
from igo.models import Membership
from igo.views import add_form_errors, form_page, membership_detail_page, post_only, tenant_view


@login_required
def email_change(request: AuthedRequest) -> HttpResponse:
    form = EmailChangeForm(request.POST if request.method == "POST" else None, user=request.user)
    if request.method == "POST" and form.is_valid():
        try:
            change = identity.email_change_request(user=request.user, email=form.cleaned_data["email"])
        except ValidationError as exc:
            add_form_errors(form, exc)
        else:
            messages.success(
                request,
                _("We sent a link to %(email)s. Open it to confirm; until then you sign in with %(old)s.")
                % {"email": change.new, "old": change.old},
            )
            return redirect("account_email_change")
    return render(
        request, "igo/email_change.html", {"form": form}, status=400 if request.method == "POST" else 200
    )


@login_required
def email_confirm(request: AuthedRequest, token: str) -> HttpResponse:
    # The GET only shows what will change: a mail scanner that opens the link must not make the change.
    try:
        change = identity.email_change_read(token=token, user=request.user)
    except ValidationError as exc:
        return render(request, "igo/email_confirm.html", {"error": " ".join(exc.messages)}, status=410)
    if request.method == "POST":
        try:
            identity.email_change_confirm(token=token, user=request.user)
        except ValidationError as exc:
            return render(
                request,
                "igo/email_confirm.html",
                {"change": change, "error": " ".join(exc.messages)},
                status=400,
            )
        messages.success(request, _("From now on you sign in with %(email)s.") % {"email": change.new})
        return redirect("account_email_change")
    return render(request, "igo/email_confirm.html", {"change": change})


@tenant_view(rules.can_manage_members)
@post_only(back=form_page("membership_detail", Membership.objects))
def membership_email(request: TenantRequest, pk: int) -> HttpResponse:
    membership = get_object_or_404(Membership.objects.select_related("user"), pk=pk)
    form = UserEmailForm(request.POST)
    if form.is_valid():
        try:
            identity.user_email_set(
                tenant=request.tenant,
                actor=request.user,
                user=membership.user,
                email=form.cleaned_data["email"],
            )
        except ValidationError as exc:
            add_form_errors(form, exc)
        else:
            messages.success(
                request,
                _("The sign-in address of %(name)s is now %(email)s.")
                % {"name": membership.user, "email": form.cleaned_data["email"]},
            )
            return redirect("membership_detail", tenant_slug=request.tenant.slug, pk=membership.pk)
    return membership_detail_page(request, membership, email_form=form, status=400)


def account_unlock(request: HttpRequest, token: str) -> HttpResponse:
    """The link in the lockout mail. The GET only asks; the POST lifts the lock (mail scanners open links)."""
    email = lockout.unlock_token_email(token)
    if email is None:
        return render(request, "igo/unlock.html", {"invalid": True}, status=410)
    if request.method == "POST":
        lockout.clear(email)
        messages.success(request, _("Your account is unlocked. You can sign in again."))
        return redirect("account_login")
    return render(request, "igo/unlock.html", {"invalid": False})
