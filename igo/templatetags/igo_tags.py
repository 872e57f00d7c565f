from typing import Any

from django import template

register = template.Library()


@register.filter
def get_item(mapping: Any, key: Any) -> Any:
    """Look up a key in a dict from a template: {{ labels|get_item:code }}."""
    try:
        return mapping.get(key)
    except AttributeError:
        return None
