from django.contrib import admin
from django.contrib.auth.decorators import login_required
from django.urls import URLPattern, URLResolver, include, path
from django.views.i18n import JavaScriptCatalog
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from igo import account_views, views
from igo.api import views as api_views

tenant_patterns: list[URLPattern | URLResolver] = [
    path("", views.tenant_dashboard, name="tenant_dashboard"),
    path("users/", views.membership_list, name="membership_list"),
    path("users/<int:pk>/", views.membership_detail, name="membership_detail"),
    path("users/<int:pk>/end/", views.membership_end, name="membership_end"),
    path("users/<int:pk>/email/", account_views.membership_email, name="membership_email"),
    path("invitations/new/", views.invitation_create, name="invitation_create"),
    path("invitations/<int:pk>/revoke/", views.invitation_revoke, name="invitation_revoke"),
    path("audit/", views.audit_list, name="audit_list"),
    path("settings/", views.tenant_settings, name="tenant_settings"),
    path("", include("providers.urls")),
    path("", include("pregnancies.urls")),
    path("", include("billing.urls")),
    path("", include("quality.urls")),
    path("", include("neutrality.urls")),
    path("", include("whatif.urls")),
    path("", include("fhir_io.urls")),
]

api_tenant_patterns: list[URLPattern | URLResolver] = [
    path("users/", api_views.MembershipListView.as_view(), name="api_membership_list"),
    path("users/<int:pk>/", api_views.MembershipDetailView.as_view(), name="api_membership_detail"),
    path("", include("pregnancies.api.urls")),
    path("", include("billing.api.urls")),
    path("", include("fhir_io.api_urls")),
]

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", views.healthz, name="healthz"),
    path("switch/", views.tenant_switch, name="tenant_switch"),
    path("t/<slug:tenant_slug>/", include(tenant_patterns)),
    path("invite/<str:token>/", views.invitation_accept, name="invitation_accept"),
    path("insurer/", include("billing.insurer.urls")),
    path("platform/", views.platform_tenants, name="platform_tenants"),
    path("platform/<int:pk>/admin-invitation/", views.platform_admin_invite, name="platform_admin_invite"),
    path("platform/insurers/", views.platform_insurers, name="platform_insurers"),
    path("platform/insurers/<int:pk>/users/", views.platform_insurer_users, name="platform_insurer_users"),
    path(
        "platform/insurers/<int:pk>/users/<int:link_pk>/end/",
        views.platform_insurer_user_end,
        name="platform_insurer_user_end",
    ),
    path(
        "platform/insurers/<int:pk>/invitations/<int:invitation_pk>/withdraw/",
        views.platform_insurer_invitation_revoke,
        name="platform_insurer_invitation_revoke",
    ),
    path("platform/birth-weight/", include("quality.platform_urls")),
    # Our own address page before allauth's (igo/account_views.py says why).
    path("accounts/email/", account_views.email_change, name="account_email_change"),
    path("accounts/email/confirm/<str:token>/", account_views.email_confirm, name="account_email_confirm"),
    path("accounts/unlock/<str:token>/", account_views.account_unlock, name="account_unlock"),
    path("api-keys/", views.personal_tokens, name="personal_tokens"),
    path("api-keys/<int:pk>/revoke/", views.personal_token_revoke, name="personal_token_revoke"),
    path("accounts/", include("allauth.urls")),
    path("i18n/", include("django.conf.urls.i18n")),
    path("jsi18n/", JavaScriptCatalog.as_view(), name="javascript-catalog"),
    path("admin/", admin.site.urls),
    path("api/me/", api_views.MeView.as_view(), name="api_me"),
    path("api/t/<slug:tenant_slug>/", include(api_tenant_patterns)),
    path("api/insurer/", include("billing.insurer.api_urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api_schema"),
    # The split view serves its start-up script from a URL of its own: no inline script (CSP). Schema and
    # documentation are for signed-in users with a second factor or an insurer key (SPECTACULAR_SETTINGS'
    # SERVE_PERMISSIONS); a browser that is not signed in is sent to the sign-in page.
    path(
        "api/docs/",
        login_required(
            SpectacularSwaggerSplitView.as_view(url_name="api_schema", template_name="igo/api_docs.html")
        ),
        name="api_docs",
    ),
]
