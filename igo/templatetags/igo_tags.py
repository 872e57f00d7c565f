from typing import Any

from django import template
from django.utils.safestring import mark_safe

register = template.Library()


@register.filter
def get_item(mapping: Any, key: Any) -> Any:
    """Look up a key in a dict from a template: {{ labels|get_item:code }}."""
    try:
        return mapping.get(key)
    except AttributeError:
        return None


@register.filter
def css_string(value: Any) -> str:
    """Text for a quoted CSS string (`content: "{{ title|css_string }}"` in a PDF's page margins).

    CSS escapes a character as a backslash, its code point in hex and a space; `escapejs` writes JavaScript's
    `\\u002D`, which CSS reads as the letter u and the digits: "Brabant-Oost" printed as "Brabantu002DOost".
    Only what could end the string or the style block is escaped; every other character is itself.
    """
    out = []
    for char in str(value):
        if char in "\"\\<>&'" or ord(char) < 0x20 or ord(char) == 0x7F:
            out.append(f"\\{ord(char):x} ")
        else:
            out.append(char)
    # Nothing HTML or CSS could read as markup is left, so autoescaping (which would print "&amp;" inside a
    # <style> element, where HTML entities are not decoded) must not run over it.
    return mark_safe("".join(out))  # noqa: S308
