"""Serializer fields shared by the APIs."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext_lazy as _
from rest_framework import serializers


class CodeRelatedField(serializers.SlugRelatedField):
    """An object named by a code (UZOVI code, catalogue code). A NUL character is refused here, as DRF's
    CharField does: PostgreSQL cannot compare text containing one and would answer with an error."""

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, str) and "\x00" in data:
            raise serializers.ValidationError(_("Null characters are not allowed."))
        return super().to_internal_value(data)
