"""URLs of the load test's server: the platform's own URLs plus two bare views (see bench/settings.py)."""

from django.http import HttpRequest, HttpResponse
from django.urls import URLPattern, URLResolver, include, path


def bare(request: HttpRequest, tenant_slug: str | None = None) -> HttpResponse:
    """No database, no template: what remains is WSGI, URL routing and the middleware stack. Under
    `/t/<slug>/` the tenant middleware runs too (membership and roles), as before every tenant page."""
    return HttpResponse(b"ok", content_type="text/plain")


urlpatterns: list[URLPattern | URLResolver] = [
    path("bench/bare/", bare, name="bench_bare"),
    path("t/<slug:tenant_slug>/bench/bare/", bare, name="bench_bare_tenant"),
    path("", include("igo.urls")),
]
