"""Talking to the platform over HTTP: an API client with a user's personal key, and the text of a page's row."""

from __future__ import annotations

import re

from rest_framework.test import APIClient

from igo import services
from igo.models import User


def api(user: User | None = None) -> APIClient:
    """An API client that authenticates with a personal key `user` made for herself; without a user, an
    anonymous one."""
    client = APIClient()
    if user is not None:
        _token, key = services.personal_token_create(user=user, name="tests")
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    return client


def row(html: str, testid: str) -> str:
    """The text of the table row (or element) with this data-testid, tags stripped, spaces collapsed."""
    match = re.search(rf'<(\w+)[^>]*data-testid="{re.escape(testid)}"[^>]*>(.*?)</\1>', html, re.S)
    assert match, f"no element {testid}"
    text = re.sub(r"<[^>]+>", " ", match.group(2)).replace("&nbsp;", " ").replace("\xa0", " ")
    return re.sub(r"\s+", " ", text).strip()
