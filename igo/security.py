"""Response headers that the browser enforces: the content security policy, the permissions policy,
cross-origin resource isolation, and no caching of pages with personal or medical data.

Django 5.2 sets nosniff, the referrer policy, the opener policy, X-Frame-Options and HSTS itself
(settings.py); this middleware adds what it lacks. docs/operations.md explains each choice.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils.cache import add_never_cache_headers
from django.utils.translation import gettext as _

# Everything from our own origin, nothing inline, no eval, no plugins, never framed. Templates keep to it:
# scripts and styles are static files, behaviour hangs on data- attributes (static/js/app.js), htmx runs
# without eval and without its injected indicator style (the htmx-config meta tag in base.html), and the
# SVG charts use presentation attributes, not style attributes. `data:` images: the empty favicon and the
# QR code of the TOTP set-up page.
POLICY: dict[str, str] = {
    "default-src": "'self'",
    "script-src": "'self'",
    "style-src": "'self'",
    "img-src": "'self' data:",
    "font-src": "'self'",
    "connect-src": "'self'",
    "object-src": "'none'",
    "base-uri": "'none'",
    "form-action": "'self'",
    "frame-ancestors": "'none'",
}

# Browser features the platform never uses; a script that got in anyway cannot ask for them either.
PERMISSIONS_POLICY = ", ".join(
    f"{feature}=()"
    for feature in (
        "accelerometer",
        "browsing-topics",
        "camera",
        "display-capture",
        "geolocation",
        "gyroscope",
        "hid",
        "magnetometer",
        "microphone",
        "midi",
        "payment",
        "serial",
        "usb",
        "xr-spatial-tracking",
    )
)


def content_security_policy(extra: dict[str, str] | None = None) -> str:
    directives = {**POLICY, **(extra or {})}
    report_uri = getattr(settings, "CSP_REPORT_URI", "")
    if report_uri:
        directives["report-uri"] = report_uri
    return "; ".join(f"{name} {value}" for name, value in directives.items())


def csp_header_name() -> str:
    # CSP_REPORT_ONLY=1 lets an operator try a changed policy on production traffic without breaking pages.
    if getattr(settings, "CSP_REPORT_ONLY", False):
        return "Content-Security-Policy-Report-Only"
    return "Content-Security-Policy"


class SecurityHeadersMiddleware:
    """Adds the headers to every response that passes, static files included (they come from WhiteNoise,
    later in the chain), except `Cache-Control: no-store`, which only answers to a signed-in user get.

    A view that needs another policy sets its own Content-Security-Policy header; it is left alone.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response
        self.policy = content_security_policy()
        self.header = csp_header_name()

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        # Django's debug pages (DEBUG only, never in production) are built from inline styles and scripts.
        debug_page = settings.DEBUG and response.status_code in (404, 500)
        if not debug_page and not any(
            name in response.headers
            for name in ("Content-Security-Policy", "Content-Security-Policy-Report-Only")
        ):
            response.headers[self.header] = self.policy
        response.headers.setdefault("Permissions-Policy", PERMISSIONS_POLICY)
        response.headers.setdefault("Cross-Origin-Resource-Policy", "same-origin")
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            # Pages, API answers and downloads of a signed-in user carry client data (names, BSNs, care,
            # claims): no copy in the browser's cache or a proxy, none restored from disk after sign-out.
            add_never_cache_headers(response)
        return response


class RequestSizeLimitMiddleware:
    """Refuse a request whose declared body is larger than MAX_REQUEST_BYTES with 413, before anything reads
    it: Django's own limit (DATA_UPLOAD_MAX_MEMORY_SIZE) leaves uploaded files out, so a 50 MB upload was
    read whole before the view refused it. The largest legitimate upload (a return file) is 5 MB; the paths
    of LARGE_REQUEST_PATHS (pattern, bytes) have a limit of their own, which their views enforce as well."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response
        self.larger = [(re.compile(rx), n) for rx, n in getattr(settings, "LARGE_REQUEST_PATHS", [])]

    def __call__(self, request: HttpRequest) -> HttpResponse:
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        limit = next((n for rx, n in self.larger if rx.match(request.path_info)), settings.MAX_REQUEST_BYTES)
        if length > limit:
            return HttpResponse(
                _("The upload is larger than %(mb)s MB.") % {"mb": limit // 2**20},
                status=413,
                content_type="text/plain; charset=utf-8",
            )
        return self.get_response(request)
