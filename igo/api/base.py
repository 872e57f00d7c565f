"""Base classes for tenant API views: authenticate, check membership, then put the tenant in scope."""

from __future__ import annotations

from collections.abc import Callable
from contextvars import Token
from typing import Any

from django.http import HttpRequest
from rest_framework.exceptions import NotFound, PermissionDenied
from rest_framework.request import Request
from rest_framework.response import Response

from igo import selectors
from igo.models import Tenant
from igo.tenancy import activate, deactivate


class TenantAPIMixin:
    """Mix into any DRF view whose URL has `<tenant_slug>`.

    Membership is checked after DRF authentication (token users are unknown to the middleware). A user
    outside the tenant gets 404; inside it, `tenant_rule` decides on 403. The tenant stays in scope
    until the response is finalised.
    """

    tenant_rule: Callable[[frozenset[str]], bool] | None = None
    _tenant_token: Token[Tenant | None] | None = None

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)  # type: ignore[misc]
        tenant = Tenant.objects.filter(slug=kwargs.get("tenant_slug"), is_active=True).first()
        if tenant is None:
            raise NotFound
        roles = selectors.user_roles(user=request.user, tenant=tenant)  # type: ignore[arg-type]
        if not roles:
            raise NotFound
        rule = type(self).tenant_rule
        if rule is not None and not rule(roles):
            raise PermissionDenied
        self._tenant_token = activate(tenant)
        request.tenant = tenant  # type: ignore[attr-defined]
        request.tenant_roles = roles  # type: ignore[attr-defined]

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
        # finalize_response is skipped when a view raises something DRF does not handle (a 500): leave
        # no tenant in scope for the next request of this worker thread whatever happens.
        try:
            return super().dispatch(request, *args, **kwargs)  # type: ignore[misc]
        finally:
            token = getattr(self, "_tenant_token", None)
            if token is not None:
                deactivate(token)
                self._tenant_token = None

    def finalize_response(
        self, request: HttpRequest, response: Response, *args: Any, **kwargs: Any
    ) -> Response:
        token = getattr(self, "_tenant_token", None)
        if token is not None:
            deactivate(token)
            self._tenant_token = None
        return super().finalize_response(request, response, *args, **kwargs)  # type: ignore[misc]
