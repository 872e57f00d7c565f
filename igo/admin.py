"""Admin site for platform operators. Operators work across tenants, so querysets are unscoped."""

from typing import Any

from allauth.mfa.models import Authenticator
from django import forms
from django.contrib import admin, messages
from django.contrib.auth import REDIRECT_FIELD_NAME
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.contrib.auth.forms import AdminPasswordChangeForm
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.html import format_html
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from igo import services
from igo.models import (
    AuditEntry,
    Insurer,
    InsurerMembership,
    Invitation,
    KeysRevokedBecause,
    Membership,
    Tenant,
    User,
)
from igo.tenancy import tenant_scope


def admin_login(request: HttpRequest, extra_context: Any = None) -> HttpResponse:
    """The admin's sign-in is the platform's own (allauth: password, second factor, the account lock and the
    rate limits); Django's admin login form checked the password alone. This view never reads a password:
    it sends a visitor to `account_login`, with the admin page she asked for as `next`."""
    wanted = request.GET.get(REDIRECT_FIELD_NAME) or request.POST.get(REDIRECT_FIELD_NAME) or ""
    if not url_has_allowed_host_and_scheme(wanted, allowed_hosts={request.get_host()}, require_https=False):
        wanted = ""
    wanted = wanted or reverse("admin:index")
    if request.user.is_authenticated:
        if admin.site.has_permission(request):
            return redirect(wanted)
        raise PermissionDenied  # signed in, not an operator: sending her to sign in again would loop
    return redirect_to_login(wanted, login_url=reverse("account_login"))


admin.site.login = admin_login  # type: ignore[method-assign]


class TenantChosenForm(forms.ModelForm):
    """Validates a tenant-owned row in the scope of the tenant chosen on the form.

    Unique and constraint checks query the model's default manager, which refuses to run without a tenant in
    scope (an operator's request has none): adding or changing a membership answered 500 (issue 16). The
    checks run in the scope of the row's own tenant, which is where a duplicate would be.
    """

    def _post_clean(self) -> None:  # model validation: constraints and unique checks
        tenant = self.cleaned_data.get("tenant")
        if tenant is None:  # the tenant field has its own error
            super()._post_clean()  # type: ignore[misc]
            return
        with tenant_scope(tenant):
            super()._post_clean()  # type: ignore[misc]


class UnscopedAdmin(admin.ModelAdmin):
    form = TenantChosenForm

    def get_queryset(self, request):
        return self.model.unscoped.all()


class OperatorPasswordForm(AdminPasswordChangeForm):
    """An operator sets a user's password (her account is being recovered): the keys she made are revoked,
    as when she changes or resets it herself."""

    def save(self, commit: bool = True) -> Any:
        user = super().save(commit=commit)
        services.api_keys_revoke_for_user(
            user=user, because=KeysRevokedBecause.OPERATOR_PASSWORD, actor=getattr(self, "operator", None)
        )
        return user


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    change_password_form = OperatorPasswordForm

    def user_change_password(self, request: HttpRequest, id: str, form_url: str = "") -> HttpResponse:
        OperatorPasswordForm.operator = request.user  # type: ignore[attr-defined]
        return super().user_change_password(request, id, form_url)

    ordering = ["email"]
    list_display = ["email", "full_name", "is_staff", "is_active", "last_login"]
    search_fields = ["email", "full_name"]
    fieldsets = (
        (None, {"fields": ("email", "password")}),
        (_("Personal info"), {"fields": ("full_name",)}),
        (_("Permissions"), {"fields": ("is_active", "is_staff", "is_superuser")}),
        (_("Important dates"), {"fields": ("last_login", "date_joined")}),
    )
    add_fieldsets = (
        (None, {"classes": ("wide",), "fields": ("email", "full_name", "password1", "password2")}),
    )
    filter_horizontal = ()
    list_filter = ["is_staff", "is_active"]


@admin.register(Tenant)
class TenantAdmin(admin.ModelAdmin):
    """IGOs are added on /platform/ only (igo.services.tenant_create): a row added here had no catalogue,
    no audit entry and no invitation for its first administrator."""

    list_display = ["name", "slug", "agb_code", "is_active", "created_at"]
    search_fields = ["name", "slug", "agb_code"]

    def has_add_permission(self, request):
        return False

    def changelist_view(self, request, extra_context=None):
        if request.method == "GET":
            self.message_user(
                request,
                format_html(
                    gettext(
                        'Add an IGO, or invite its administrator again, on <a href="{}">the platform page</a>.'
                    ),
                    reverse("platform_tenants"),
                ),
                messages.INFO,
            )
        return super().changelist_view(request, extra_context)


@admin.register(Membership)
class MembershipAdmin(UnscopedAdmin):
    list_display = ["user", "tenant", "role", "is_active"]
    list_filter = ["tenant", "role", "is_active"]
    autocomplete_fields = ["user"]


@admin.register(Invitation)
class InvitationAdmin(UnscopedAdmin):
    """Read-only: an invitation added here had no nonce, was never sent and blocked a real one to the same
    address. IGO administrators invite their people; the operator invites an IGO's administrator (again)
    on /platform/ (igo.services.tenant_admin_invite)."""

    list_display = [
        "email",
        "tenant",
        "role",
        "insurer",
        "created_at",
        "expires_at",
        "sent_at",
        "accepted_at",
        "revoked_at",
    ]
    list_filter = ["tenant", "role", "insurer"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Insurer)
class InsurerAdmin(admin.ModelAdmin):
    list_display = ["name", "uzovi_code", "is_active"]
    search_fields = ["name", "uzovi_code"]


@admin.register(InsurerMembership)
class InsurerMembershipAdmin(admin.ModelAdmin):
    """Read-only: insurer users are invited, and their access ended, on /platform/insurers/
    (igo.services.insurer_user_invite and insurer_user_end): there she sets her own password and the
    change is audited."""

    list_display = ["user", "insurer", "is_active", "created_at"]
    list_filter = ["insurer", "is_active"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def changelist_view(self, request, extra_context=None):
        if request.method == "GET":
            self.message_user(
                request,
                format_html(
                    gettext(
                        'Invite insurer users, or end their access, on <a href="{}">the platform page</a>.'
                    ),
                    reverse("platform_insurers"),
                ),
                messages.INFO,
            )
        return super().changelist_view(request, extra_context)


@admin.register(AuditEntry)
class AuditEntryAdmin(admin.ModelAdmin):
    """Operators see who did what to which object, and the NAMES of the details only: the details of an
    IGO's entries are the IGO's to read (on its audit page), and older entries of clinical changes kept
    values from the client's record."""

    list_display = ["at", "tenant", "actor", "action", "object_type", "object_id"]
    list_filter = ["action"]
    fields = (
        "at",
        "tenant",
        "actor_name",
        "actor_email",
        "action",
        "object_type",
        "object_id",
        "detail_names",
    )
    readonly_fields = fields

    @admin.display(description=_("details"))
    def detail_names(self, obj: AuditEntry) -> str:
        return ", ".join(sorted(obj.details)) if isinstance(obj.details, dict) else ""

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def has_add_permission(self, request):
        return False


# allauth's own admin lists every authenticator with its `data`: TOTP secrets and recovery-code seeds, in
# the clear, for every user (issue 16). Operators see only which kind a user has and when it was used, and
# may delete one (a lost phone or key: the user sets up a new one at her next sign-in), audited.
admin.site.unregister(Authenticator)


@admin.register(Authenticator)
class AuthenticatorAdmin(admin.ModelAdmin):
    list_display = ["user", "type", "created_at", "last_used_at"]
    list_filter = ["type"]
    search_fields = ["user__email", "user__full_name"]
    fields = ["user", "type", "created_at", "last_used_at"]
    readonly_fields = ["user", "type", "created_at", "last_used_at"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def delete_model(self, request, obj):
        services.authenticator_reset(authenticator=obj, actor=request.user)

    def delete_queryset(self, request, queryset):
        for authenticator in queryset.select_related("user"):
            services.authenticator_reset(authenticator=authenticator, actor=request.user)
