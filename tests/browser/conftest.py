"""Playwright configuration for the browser tests: Debian's Chromium, a Dutch browser, patient assertions."""

from __future__ import annotations

import os
from typing import Any

import pytest
from playwright.sync_api import expect

# pytest-playwright drives the browser from an asyncio loop in the main thread; the ORM calls the tests
# make there (factories, assertions on the database) are synchronous and safe.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

# The live server runs Django in a thread of this process; on a loaded CI machine the first requests
# (template compilation, password hashing) can be slower than Playwright's 5 s default.
expect.set_options(timeout=15_000)


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    """Use the Chromium from Debian (never `playwright install`)."""
    return {
        **browser_type_launch_args,
        "executable_path": "/usr/bin/chromium",
        "args": [
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--disable-dev-shm-usage",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
        ],
    }


@pytest.fixture(scope="session")
def base_url(live_server) -> str:
    """Relative `page.goto("/…")` targets pytest-django's live server.

    This also replaces pytest-playwright's fallback `base_url` fixture, which pytest 9 warns about
    (session-scoped fixture defined as an instance method).
    """
    return live_server.url


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args: dict[str, Any]) -> dict[str, Any]:
    """A Dutch browser, like the platform's users: Accept-Language nl-NL.

    Chromium otherwise sends en-US, and LocaleMiddleware would serve English before any choice was made.
    """
    return {**browser_context_args, "locale": "nl-NL", "timezone_id": "Europe/Amsterdam"}


# Reported to the console by the page itself, from a listener added before any page script runs: the
# browser's own "Refused to ..." console lines are not reliably passed on by every Playwright version.
CSP_LISTENER = """
document.addEventListener("securitypolicyviolation", (e) => {
  console.error(`CSP violation: ${e.effectiveDirective} blocked ${e.blockedURI || "inline"} at ${e.sourceFile}:${e.lineNumber}`);
});
"""


@pytest.fixture(autouse=True)
def _fresh_sign_in_rate_limits() -> None:
    """Each journey signs in as a person would, once: allauth counts sign-ins per address (30 a minute,
    settings.ACCOUNT_RATE_LIMITS) in the shared cache with time.time(), which a clock marker moves to the
    same moment in every journey that shares it. Without this, the 31st journey's sign-in within a real
    minute gets 429 Too Many Requests. A journey that tests the limits makes its own attempts after this."""
    from django.core.cache import cache

    pattern = cache.make_key("allauth:rl:*")
    backend = getattr(cache, "_cache", None)
    if backend is not None and hasattr(backend, "get_client"):  # django's RedisCache
        client = backend.get_client(None, write=True)
        for key in client.scan_iter(match=pattern):
            client.delete(key)
    else:  # a per-process cache (never in the suite on real services)
        cache.clear()


@pytest.fixture(autouse=True)
def fail_on_csp_violation(request: pytest.FixtureRequest) -> Any:
    """Every browser test doubles as a check of the content security policy: a page that breaks it fails."""
    if "page" not in request.fixturenames:
        yield
        return
    page = request.getfixturevalue("page")
    violations: list[str] = []
    page.add_init_script(CSP_LISTENER)

    def on_console(message: Any) -> None:
        text = message.text
        if "CSP violation" in text or "Content Security Policy" in text:
            violations.append(f"{page.url}: {text}")

    page.on("console", on_console)
    yield
    assert violations == [], "the page broke the content security policy:\n" + "\n".join(violations)
