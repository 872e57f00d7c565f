"""A walk through the demo as the people who try it: each active user signs in (a second factor enrolled, as the
activation flow makes one) and follows the links of her pages breadth first, a few levels deep; the midwife
also logs care from an episode page as its form sends it (htmx). What failed is collected, not raised, so that
one walk reports every page that broke.

Used in the suite's process (tests/demo/test_walk.py, on PostgreSQL at several moments) and in the demo's own
process on SQLite (tests/demo/test_run_sqlite.py runs `demo_walk_json` through `manage.py shell`)."""

from __future__ import annotations

import json
import re
import uuid
from collections import deque
from dataclasses import asdict, dataclass, field

from django.test import Client
from django.utils import timezone

from billing.reconcile import books_check
from igo.models import Tenant, User
from igo.tenancy import tenant_scope
from tests.scenarios.people import give_totp, sign_in

# Not walked: sign-out and account pages, Django's admin, static files, the language switch, and files that
# take seconds each to make (PDFs, the FHIR period export); their own tests open them.
SKIP = re.compile(r"/(accounts|admin|static|media|i18n)/|logout|\.pdf|/pdf/|/fhir/export/")
HREF = re.compile(r'href="(/[^"#]*)"')
EPISODE = re.compile(r"/t/[\w-]+/episodes/\d+/")
LOGGING_USER = "verloskundige@rijnmond.demo"


@dataclass
class Walk:
    users: int = 0
    pages: int = 0
    failures: list[tuple[str, str, int]] = field(default_factory=list)
    logged: tuple[int, int] | None = None  # the htmx logging POST: status, rows in its answer
    books: dict[str, list[str]] = field(default_factory=dict)  # per IGO: books_check's problems


def demo_walk(*, pages_per_user: int = 40, depth: int = 2, host: str = "testserver") -> Walk:
    walk = Walk()
    for user in User.objects.filter(is_active=True).order_by("email"):
        give_totp(user)
        client = sign_in(Client(SERVER_NAME=host), user)
        walk.users += 1
        seen = _follow(client, user.email, walk, pages_per_user=pages_per_user, depth=depth)
        if user.email == LOGGING_USER:
            walk.logged = _log_care(client, seen)
    for tenant in Tenant.objects.order_by("slug"):
        with tenant_scope(tenant):
            report = books_check(tenant=tenant)
        walk.books[tenant.slug] = [str(p) for p in report.problems] + (
            [] if report.lines else ["no claim lines"]
        )
    return walk


def _follow(client: Client, email: str, walk: Walk, *, pages_per_user: int, depth: int) -> set[str]:
    seen: set[str] = set()
    queue = deque([("/", 0)])
    while queue and len(seen) < pages_per_user:
        url, level = queue.popleft()
        if url in seen or SKIP.search(url):
            continue
        seen.add(url)
        response = client.get(url, follow=True)
        walk.pages += 1
        if response.status_code >= 500:
            walk.failures.append((email, url, response.status_code))
            continue
        if level < depth and "html" in response.get("Content-Type", ""):
            queue.extend(
                (link.replace("&amp;", "&"), level + 1) for link in HREF.findall(response.content.decode())
            )
    return seen


def _log_care(client: Client, seen: set[str]) -> tuple[int, int]:
    """Log the first entry of the logging form on the first episode page she saw; the answer's status and the
    number of timeline rows in it (one: the new row, out of band)."""
    episode = min((u for u in seen if EPISODE.fullmatch(u)), default=None)
    assert episode is not None, "the midwife's walk reached no episode page"
    page = client.get(episode).content.decode()
    form = re.search(r'hx-post="([^"]+/events/)"', page)
    option = re.search(r'<option value="(\d+)"', page)
    assert form is not None and option is not None, "no logging form on the episode page"
    data = {
        "event_type": option.group(1),
        "occurred_at": timezone.localtime().strftime("%Y-%m-%dT%H:%M"),
        "quantity": "1",
        "location": "",
        "note": "",
        "submission_key": str(uuid.uuid4()),
        "confirm_duplicate": "on",
        "confirm_over_limit": "on",
    }
    answer = client.post(form.group(1), data, headers={"HX-Request": "true"})
    return answer.status_code, answer.content.decode().count('data-testid="event-row"')


def demo_walk_json(host: str = "127.0.0.1") -> str:
    """The walk as one JSON line, for a child process to print."""
    return "WALK " + json.dumps(asdict(demo_walk(host=host)))
