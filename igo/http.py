"""Request types for annotations: what the middleware has attached by the time a view runs."""

from django.http import HttpRequest
from django_htmx.middleware import HtmxDetails

from igo.models import Tenant, User


class AuthedRequest(HttpRequest):
    user: User


class TenantRequest(AuthedRequest):
    tenant: Tenant
    tenant_roles: frozenset[str]
    htmx: HtmxDetails
