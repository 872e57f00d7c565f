"""The README's first command on its embedded defaults: `make run` migrates a fresh SQLite database and seeds the
demo with tasks in-process (scripts/run.sh), and every demo user can then walk her pages.

The rest of the suite runs on PostgreSQL, so a PostgreSQL-only statement on a path the demo takes (an ordered
string aggregate, an array parameter) went unnoticed and broke `make run` on a fresh machine. Here the same
steps run in a child process on a SQLite file with no Redis (the demo's settings, not the suite's), and then a
walk signs in as each demo user and follows the links of her pages, two levels deep, as a person trying the demo
would: no page may fail. The midwife also logs care from an episode page, as the page's form sends it (htmx).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# Runs inside the demo's process (manage.py shell): signs in as each demo user (a second factor enrolled on
# this throwaway database, as the activation flow does) and follows her pages' links breadth first.
WALK = r"""
import json, re, uuid
from collections import deque
from allauth.mfa.models import Authenticator
from allauth.mfa.totp.internal.auth import TOTP, generate_totp_secret
from django.test import Client
from django.utils import timezone
from igo.models import User
from billing.reconcile import books_check
from igo.models import Tenant
from igo.tenancy import tenant_scope

SKIP = re.compile(r"/(accounts|admin|static|media|i18n)/|logout|\.pdf|/fhir/export/|/download")
HREF = re.compile(r'href="(/[^"#]*)"')
result = {"pages": 0, "failures": [], "users": 0, "logged": None, "books": {}}
for user in User.objects.filter(is_active=True).order_by("email"):
    if not Authenticator.objects.filter(user=user).exists():
        TOTP.activate(user, generate_totp_secret())
    client = Client(SERVER_NAME="127.0.0.1")
    client.force_login(user)
    result["users"] += 1
    seen, queue = set(), deque([("/", 0)])
    while queue and len(seen) < 40:
        url, depth = queue.popleft()
        if url in seen or SKIP.search(url):
            continue
        seen.add(url)
        response = client.get(url, follow=True)
        result["pages"] += 1
        if response.status_code >= 500:
            result["failures"].append([user.email, url, response.status_code])
            continue
        if depth < 2 and "html" in response.get("Content-Type", ""):
            for link in HREF.findall(response.content.decode()):
                queue.append((link.replace("&amp;", "&"), depth + 1))
    if user.email == "verloskundige@rijnmond.demo":
        episode = next((u for u in sorted(seen) if re.fullmatch(r"/t/[\w-]+/episodes/\d+/", u)), None)
        page = client.get(episode).content.decode()
        action = re.search(r'hx-post="([^"]+/events/)"', page).group(1)
        option = re.search(r'<option value="(\d+)"', page).group(1)
        now = timezone.localtime().strftime("%Y-%m-%dT%H:%M")
        data = {"event_type": option, "occurred_at": now, "quantity": "1", "location": "", "note": "",
                "submission_key": str(uuid.uuid4()), "confirm_duplicate": "on", "confirm_over_limit": "on"}
        answer = client.post(action, data, headers={"HX-Request": "true"})
        result["logged"] = [answer.status_code, answer.content.decode().count('data-testid="event-row"')]
for tenant in Tenant.objects.all():
    with tenant_scope(tenant):
        report = books_check(tenant=tenant)
        result["books"][tenant.slug] = [str(p) for p in report.problems] + ([] if report.lines else ["no lines"])
print("WALK " + json.dumps(result))
"""


def demo_environment(database: Path) -> dict[str, str]:
    """The demo's environment (scripts/run.sh) on a fresh SQLite file: none of the suite's services."""
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "REDIS_", "CELERY_", "IGO_"))
    }
    env.pop("LD_PRELOAD", None)  # a moved clock (scripts/dated.sh) is the suite's, not the demo's
    env.update(
        DATABASE_URL=f"sqlite:///{database}",
        DEBUG="1",
        IGO_ALLOW_DEV_SECRET="1",
        EMAIL_BACKEND="django.core.mail.backends.locmem.EmailBackend",
        PYTHONDONTWRITEBYTECODE="1",
    )
    return env


def manage(env: dict[str, str], *args: str, stdin: str | None = None) -> str:
    done = subprocess.run(  # noqa: S603 - this interpreter and manage.py, fixed arguments
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, (
        f"manage.py {' '.join(args)} failed:\n{done.stdout[-3000:]}\n{done.stderr[-6000:]}"
    )
    return done.stdout


def test_make_run_on_sqlite_seeds_the_demo_and_every_page_opens(tmp_path: Path) -> None:
    env = demo_environment(tmp_path / "demo.sqlite3")
    manage(env, "migrate", "--noinput", "-v0")
    seeded = manage(env, "seed_demo")
    assert "demo-igo-2026" in seeded  # the logins are printed, as the README says

    out = manage(env, "shell", stdin=WALK)
    walk = json.loads(out.split("WALK ", 1)[1])
    assert walk["failures"] == []
    assert walk["users"] >= 16 and walk["pages"] >= 300, walk  # every demo user walked her pages
    status, rows = walk["logged"]
    assert (status, rows) == (201, 1)  # the htmx answer: the new row, placed on SQLite too
    assert walk["books"] and all(problems == [] for problems in walk["books"].values()), walk["books"]
