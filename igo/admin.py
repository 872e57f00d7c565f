"""Admin site for platform operators. Operators work across tenants, so querysets are unscoped."""

from allauth.mfa.models import Authenticator
from django import forms
from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from igo import services
from igo.models import AuditEntry, Insurer, InsurerMembership, Invitation, Membership, Tenant, User
from igo.tenancy import tenant_scope


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


@admin.register(User)
class UserAdmin(BaseUserAdmin):
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
        "created_at",
        "expires_at",
        "sent_at",
        "accepted_at",
        "revoked_at",
    ]
    list_filter = ["tenant", "role"]

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
    list_display = ["user", "insurer", "is_active"]
    autocomplete_fields = ["user"]


@admin.register(AuditEntry)
class AuditEntryAdmin(admin.ModelAdmin):
    list_display = ["at", "tenant", "actor", "action", "object_type", "object_id"]
    list_filter = ["action"]

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
