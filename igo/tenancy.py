"""Tenant scoping: every query on tenant-owned data must name its tenant, or it raises.

The current tenant lives in a context variable that the request middleware (and the Celery base
task) set for the duration of one request or job. `TenantManager` filters on it and refuses to
run without it, so a query that forgets the tenant fails loudly instead of leaking rows of another
IGO. Code that really is cross-tenant (the platform operator, a user's own list of tenants, the
insurer portal) uses the model's `unscoped` manager, which makes the intent visible in review.
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from django.db import models

if TYPE_CHECKING:
    from igo.models import Tenant


class TenantScopeError(RuntimeError):
    """Raised when tenant-owned data is queried with no tenant in scope."""


_current_tenant: contextvars.ContextVar[Tenant | None] = contextvars.ContextVar("igo_tenant", default=None)


def current_tenant() -> Tenant:
    tenant = _current_tenant.get()
    if tenant is None:
        raise TenantScopeError(
            "No tenant in scope. Wrap the code in igo.tenancy.tenant_scope(tenant), "
            "or use Model.unscoped where cross-tenant access is intended."
        )
    return tenant


def current_tenant_or_none() -> Tenant | None:
    return _current_tenant.get()


@contextmanager
def tenant_scope(tenant: Tenant) -> Iterator[Tenant]:
    token = _current_tenant.set(tenant)
    try:
        yield tenant
    finally:
        _current_tenant.reset(token)


def activate(tenant: Tenant | None) -> contextvars.Token[Tenant | None]:
    """Low-level: set the tenant; pair with `deactivate(token)`. Prefer `tenant_scope`."""
    return _current_tenant.set(tenant)


def deactivate(token: contextvars.Token[Tenant | None]) -> None:
    _current_tenant.reset(token)


class TenantQuerySet(models.QuerySet):
    pass


class TenantManager(models.Manager):
    """Default manager of tenant-owned models: filtered on the tenant in scope, never unscoped."""

    def get_queryset(self) -> models.QuerySet[Any]:
        return super().get_queryset().filter(tenant=current_tenant())


class TenantOwned(models.Model):
    """Abstract base for rows that belong to one IGO."""

    tenant = models.ForeignKey("igo.Tenant", on_delete=models.PROTECT, related_name="+")

    objects = TenantManager()
    unscoped = models.Manager()  # noqa: DJ012 - two managers, the scoped one is the default

    class Meta:
        abstract = True
