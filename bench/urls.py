"""URLs of the load test's server: the platform's own URLs plus `/bench/bare/` (see bench/settings.py)."""

from django.http import HttpRequest, HttpResponse
from django.urls import URLPattern, URLResolver, include, path


def bare(request: HttpRequest) -> HttpResponse:
    """No database, no template: what remains is WSGI, URL routing and the middleware stack."""
    return HttpResponse(b"ok", content_type="text/plain")


urlpatterns: list[URLPattern | URLResolver] = [
    path("bench/bare/", bare, name="bench_bare"),
    path("", include("igo.urls")),
]
