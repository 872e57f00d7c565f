"""The README's first command on its embedded defaults: `make run` migrates a fresh SQLite database and seeds the
demo with tasks in-process (scripts/run.sh), and every demo user can then walk her pages.

The rest of the suite runs on PostgreSQL, so a PostgreSQL-only statement on a path the demo takes (an ordered
string aggregate, an array parameter) went unnoticed and broke `make run` on a fresh machine. Here the same
steps run in a child process on a SQLite file with no Redis (the demo's settings, not the suite's), and then a
walk signs in as each demo user and follows the links of her pages, two levels deep, as a person trying the demo
would: no page may fail. The midwife also logs care from an episode page, as the page's form sends it (htmx).
Then finance changes Zilveren Kruis's postnatal tariff retroactively to an amount with cents and makes this
month's draft again: credits and rebills in one batch, whose sums SQLite adds as floats (billing migration 0017).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# Runs inside the demo's process (manage.py shell): the shared walk (tests/scenarios/walk.py).
WALK = "from tests.scenarios.walk import demo_walk_json; print(demo_walk_json())"
# And the re-pricing (tests/scenarios/demo_reprice.py).
REPRICE = (
    "from tests.scenarios.demo_reprice import demo_reprice_rebuild_json; print(demo_reprice_rebuild_json())"
)


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

    # 1480.00 -> 1500.33: each IGO's rebuilt draft holds credits of the sent postnatal lines and their rebills
    # (8116.32 + -4440.00 = 3676.32, which SQLite's float sum made 3676.3199999999997 and the check refused).
    out = manage(env, "shell", stdin=REPRICE)
    repriced = json.loads(out.split("REPRICED ", 1)[1])
    assert repriced, "no IGO of the demo has a draft to Zilveren Kruis"
    for slug, batch in repriced.items():
        debit, credit, total = (Decimal(batch[k]) for k in ("debit", "credit", "total"))
        assert credit < 0, (slug, batch)  # credits of the sent lines next to their rebills at 1500.33
        assert total == debit + credit and batch["books"] == [], (slug, batch)
