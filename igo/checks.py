"""System checks for a production installation (`manage.py check --deploy --database default`)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from django.core.checks import CheckMessage, Error, Tags, Warning, register
from django.db import DatabaseError, connections

SUPERUSER_ID = "igo.W001"
BYPASSRLS_ID = "igo.W002"


def database_role_messages(*, role: str, rolsuper: bool, rolbypassrls: bool) -> list[CheckMessage]:
    """What the deploy check says about the database role the application connects as.

    A superuser ignores every privilege and can switch off the triggers that keep released batches and the
    access log unchanged, and BYPASSRLS would pass any row-level security the tenancy may add: a bug or an
    injected query in the application must meet the database's own walls.
    """
    messages: list[CheckMessage] = []
    if rolsuper:
        messages.append(
            Warning(
                f"The application connects to PostgreSQL as the superuser role {role!r}.",
                hint="Create a role without SUPERUSER that owns the database (see docs/operations.md) "
                "and connect as that role.",
                id=SUPERUSER_ID,
            )
        )
    if rolbypassrls:
        messages.append(
            Warning(
                f"The database role {role!r} of the application has BYPASSRLS.",
                hint=f"ALTER ROLE {role} NOBYPASSRLS;",
                id=BYPASSRLS_ID,
            )
        )
    return messages


def database_role(alias: str = "default") -> tuple[str, bool, bool] | None:
    """(role, rolsuper, rolbypassrls) of the current user of a PostgreSQL connection; None elsewhere."""
    connection = connections[alias]
    if connection.vendor != "postgresql":
        return None
    with connection.cursor() as cursor:
        cursor.execute("SELECT rolname, rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user")
        row = cursor.fetchone()
    return (str(row[0]), bool(row[1]), bool(row[2])) if row else None


@register(Tags.database, Tags.security, deploy=True)
def check_database_role(
    app_configs: Sequence[Any] | None = None, databases: Iterable[str] | None = None, **kwargs: Any
) -> list[CheckMessage]:
    # Like Django's own database checks, this one only queries when asked (`--database default`).
    messages: list[CheckMessage] = []
    for alias in databases or ():
        try:
            found = database_role(alias)
        except DatabaseError as exc:
            messages.append(Warning(f"Could not read the database role of {alias!r}: {exc}", id="igo.W003"))
            continue
        if found is not None:
            role, rolsuper, rolbypassrls = found
            messages.extend(database_role_messages(role=role, rolsuper=rolsuper, rolbypassrls=rolbypassrls))
    return messages


PER_PROCESS_CACHE_ID = "igo.E004"
_PER_PROCESS_CACHES = (
    "django.core.cache.backends.locmem.LocMemCache",
    "django.core.cache.backends.dummy.DummyCache",
)


def cache_messages(caches: dict[str, dict[str, Any]]) -> list[CheckMessage]:
    """What the deploy check says about the default cache.

    The sign-in lockout, allauth's rate limits and the API throttles count in the default cache. A cache of
    one process (or none) gives each gunicorn worker its own counters: with 3 workers an attacker gets three
    times the tries and the lockout of one account is forgotten by the next worker.
    """
    backend = caches.get("default", {}).get("BACKEND", "")
    if backend in _PER_PROCESS_CACHES:
        return [
            Error(
                f"The default cache ({backend}) is not shared between processes: sign-in lockouts, rate limits "
                "and API throttles would be counted per worker.",
                hint="Set REDIS_URL so that the default cache is Redis (docs/operations.md).",
                id=PER_PROCESS_CACHE_ID,
            )
        ]
    return []


@register(Tags.caches, Tags.security, deploy=True)
def check_shared_cache(app_configs: Sequence[Any] | None = None, **kwargs: Any) -> list[CheckMessage]:
    from django.conf import settings

    return cache_messages(settings.CACHES)
