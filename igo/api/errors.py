"""The API's exception handler: a service's django `ValidationError` answers 400, as a serializer's does.

Services validate and raise django's `ValidationError` (the HTML forms show it as it is); API views call
them without a try/except of their own. The 400 keeps the error's field keys, with `__all__` (and an
error tied to no field) under `non_field_errors`. A view whose request names fields otherwise than its
service defines `service_error_detail(exc)` to give the error the request's shape.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.core.exceptions import NON_FIELD_ERRORS
from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.views import exception_handler as drf_exception_handler

from igo.api.permissions import SecondFactorMissing


def validation_error_detail(
    exc: DjangoValidationError, rename: Mapping[str, str] | None = None
) -> dict[str, list[str]]:
    """The service's messages by field key (`rename` maps a service's key to the request's)."""
    if not hasattr(exc, "error_dict"):
        return {api_settings.NON_FIELD_ERRORS_KEY: exc.messages}
    rename = rename or {}
    detail: dict[str, list[str]] = {}
    for field, messages in exc.message_dict.items():
        key = api_settings.NON_FIELD_ERRORS_KEY if field == NON_FIELD_ERRORS else rename.get(field, field)
        detail.setdefault(key, []).extend(messages)
    return detail


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF's handler, which also knows a service's django `ValidationError` (otherwise a 500)."""
    if isinstance(exc, DjangoValidationError):
        reshape = getattr(context.get("view"), "service_error_detail", None)
        exc = ValidationError(reshape(exc) if reshape is not None else validation_error_detail(exc))
    response = drf_exception_handler(exc, context)
    if isinstance(exc, SecondFactorMissing) and response is not None:
        response.data["code"] = exc.default_code  # a client can tell this 403 from a role's
    return response
