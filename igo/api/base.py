"""Base classes for API views: tenant views (membership, role, scope) and querysets that need the request."""

from __future__ import annotations

from collections.abc import Callable
from contextvars import Token
from typing import Any

from django.db.models import QuerySet
from django.http import HttpRequest
from rest_framework.exceptions import PermissionDenied
from rest_framework.request import Request
from rest_framework.response import Response

from igo import selectors
from igo.models import Tenant
from igo.tenancy import TenantOwned, activate, deactivate


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
        # The same resolution as the web pages' (TenantMiddleware): the same 404s.
        tenant, roles = selectors.tenant_for_member(slug=kwargs.get("tenant_slug", ""), user=request.user)
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


# `get_queryset` for views whose rows depend on the request (its tenant, its insurer): a view names its
# `model` and writes `scoped_queryset()`. Schema generation calls `get_queryset` with no request and no
# tenant in scope, only to learn the model; it gets an empty queryset of `model`. A comment, not a
# docstring: drf-spectacular would publish a docstring as the description of the views' operations.
class ScopedQuerysetMixin:
    model: type[TenantOwned]

    def get_queryset(self) -> QuerySet[Any]:
        if getattr(self, "swagger_fake_view", False):  # schema generation: no request, no tenant
            return self.model.unscoped.none()
        return self.scoped_queryset()

    def scoped_queryset(self) -> QuerySet[Any]:
        raise NotImplementedError
