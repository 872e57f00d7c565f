"""The raw-SQL bounds of bench/national.py: a read-only aggregate and a write-inclusive set-based billing.

(a) read-only: per episode, phase and organisation SUM(quantity x internal rate) over the active events of
    the phases that ended in the month (bench/billing_run.py's aggregate, restricted to the month's phases).
(b) write-inclusive: the same writes as the pipeline for the month, in hand-written set-based SQL: one claim
    line per ended phase (tariff of the contract of the insurer on file at the start of the phase; the phase
    an early ending interrupted at the percentage of the contract's rule for its end reason, phase and week
    band, and no line without one), the allocations of every line (overhead and reserve of the split rule in
    force, members by fixed shares or care points with the guaranteed minimum, rounded to cents by largest
    remainder) with the same JSON basis, and the billing-state row of every episode the run checks; foreign
    keys checked per row (SET CONSTRAINTS ALL IMMEDIATE), then ROLLBACK.
    Skipped: work items (none are due in this data: the bench's contracts state a rule for every early ending
    in it), the re-split comparison of already billed lines (it writes nothing here), retiring/crediting
    lines, the sequence of line numbers, several rounds of the minimum rule (one is enough with one
    organisation holding a minimum), the partial rule of the contract at the intake when the insurer changed
    (the phase's own contract is used).
"""

from __future__ import annotations

import threading
import time
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from bench.common import query_times

TZ = "Europe/Amsterdam"

# The phases of an episode with their dates, as billing.services.rollup.ended_phases computes them.
PHASES = f"""
    SELECT e.id AS episode_id, e.tenant_id, e.client_id, e.intake_date, e.end_reason, e.status, e.end_date,
           e.gestational_age_at_intake AS g_in, p.phase, p.start, p.finish,
           (e.status = 'ended' AND e.end_reason <> 'completed'
            AND (p.phase = 'prenatal' AND e.labour_started_at IS NULL
                 OR p.phase = 'postnatal' AND e.postnatal_ended_on IS NULL)) AS interrupted
    FROM pregnancies_episode e
    CROSS JOIN LATERAL (VALUES
        ('prenatal', e.intake_date,
         CASE WHEN e.labour_started_at IS NOT NULL THEN (e.labour_started_at AT TIME ZONE '{TZ}')::date
              WHEN e.status = 'ended' THEN e.end_date END),
        ('natal', (e.labour_started_at AT TIME ZONE '{TZ}')::date,
         CASE WHEN e.placenta_plus_2h_at IS NOT NULL THEN (e.placenta_plus_2h_at AT TIME ZONE '{TZ}')::date END),
        ('postnatal', (e.placenta_plus_2h_at AT TIME ZONE '{TZ}')::date,
         CASE WHEN e.placenta_plus_2h_at IS NOT NULL
              THEN coalesce(e.postnatal_ended_on, CASE WHEN e.status = 'ended' THEN e.end_date END) END)
    ) AS p(phase, start, finish)
    WHERE e.tenant_id = ANY(%(t)s) AND p.finish BETWEEN %(first)s AND %(last)s
"""  # noqa: S608 - constant SQL

READ_BOUND = f"""
    WITH phases AS ({PHASES})
    SELECT ev.episode_id, ev.phase, ev.organisation_id, SUM(ev.quantity * r.rate) AS points
    FROM phases ph
    JOIN pregnancies_careevent ev ON ev.episode_id = ph.episode_id AND ev.phase = ph.phase AND ev.status = 'active'
    JOIN billing_splitrule s ON s.tenant_id = ph.tenant_id AND s.year = extract(year FROM ph.start)
    JOIN billing_internalrate r ON r.rule_id = s.id AND r.event_type_id = ev.event_type_id
    GROUP BY ev.episode_id, ev.phase, ev.organisation_id
"""  # noqa: S608

INSERT_LINES = f"""
    WITH phases AS ({PHASES}
        AND NOT EXISTS (SELECT 1 FROM billing_claimline l WHERE l.episode_id = e.id AND l.phase = p.phase
                        AND l.is_current AND l.sign = 'debit')
    ), priced AS (
        SELECT ph.*, ins.insurer_id, ins.policy_number, c.id AS contract_id, tf.id AS tariff_id,
               tf.prestatie_code, tf.amount AS tariff,
               CASE WHEN NOT ph.interrupted THEN 100
                    ELSE (SELECT pr.percentage FROM billing_partialrule pr
                          WHERE pr.contract_id = c.id AND pr.end_reason = ph.end_reason AND pr.phase = ph.phase
                            AND (ph.g_in + (ph.end_date - ph.intake_date)) / 7
                                >= coalesce(pr.from_week, 0)
                            AND (pr.until_week IS NULL
                                 OR (ph.g_in + (ph.end_date - ph.intake_date)) / 7 < pr.until_week)
                          LIMIT 1) END AS pct
        FROM phases ph
        JOIN pregnancies_clientinsurance ins ON ins.client_id = ph.client_id AND ins.valid_from <= ph.start
             AND (ins.valid_until IS NULL OR ins.valid_until >= ph.start)
        JOIN billing_contract c ON c.tenant_id = ph.tenant_id AND c.insurer_id = ins.insurer_id
             AND c.valid_from <= ph.start AND (c.valid_until IS NULL OR c.valid_until >= ph.start)
        JOIN billing_contracttariff tf ON tf.contract_id = c.id AND tf.phase = ph.phase
    )
    INSERT INTO billing_claimline (tenant_id, episode_id, phase, sign, number, prestatie_code, contract_id,
        tariff_id, explanation, percentage, insurer_id, policy_number, service_start, service_end, amount,
        status, is_current, created_at)
    SELECT tenant_id, episode_id, phase, 'debit', episode_id || '-' || upper(left(phase, 3)) || '-D1',
           prestatie_code, contract_id, tariff_id, '{{}}'::jsonb, pct, insurer_id, policy_number, start, finish,
           round(tariff * pct / 100, 2), 'ready', true, now()
    FROM priced
    WHERE pct IS NOT NULL
"""  # noqa: S608

# Largest remainder to the cent: floor every exact part, then give the missing cents to the largest
# fractions (ties by key). Two levels: the line into overhead / reserve / members, the members' part
# into organisations.
# The new lines and the split rule of each, read back into two temporary tables with fresh statistics (as
# the pipeline reads its new lines back; without them the planner expects ~80 new lines and loops).
READ_BACK = [
    """CREATE TEMP TABLE nl ON COMMIT DROP AS
       SELECT l.id, l.tenant_id, l.episode_id, l.phase, l.service_start, l.amount
       FROM billing_claimline l
       WHERE l.tenant_id = ANY(%(t)s) AND l.created_at = now() AND l.sign = 'debit'""",
    """CREATE TEMP TABLE rule ON COMMIT DROP AS
       SELECT nl.id AS line_id, r.id AS rule_id, r.overhead_pct, r.reserve_pct, sp.id AS sp_id, sp.method
       FROM nl
       CROSS JOIN LATERAL (SELECT id, overhead_pct, reserve_pct FROM billing_splitrule r
                           WHERE r.tenant_id = nl.tenant_id AND r.valid_from <= nl.service_start
                           ORDER BY r.valid_from DESC, r.version DESC LIMIT 1) r
       JOIN billing_splitphase sp ON sp.rule_id = r.id AND sp.phase = nl.phase""",
    "ANALYZE nl",
    "ANALYZE rule",
]

# Largest remainder to the cent: floor every exact part, then give the missing cents to the largest
# fractions (ties by key). Two levels: the line into overhead / reserve / members, the members' part
# into organisations.
INSERT_ALLOCATIONS = """
    WITH pts AS (
        SELECT rule.line_id, ev.organisation_id, sum(ev.quantity * ir.rate) AS points,
               array_agg(ev.id ORDER BY ev.id) AS events
        FROM rule JOIN nl ON nl.id = rule.line_id
        JOIN pregnancies_careevent ev ON ev.episode_id = nl.episode_id AND ev.phase = nl.phase
             AND ev.status = 'active'
        JOIN billing_internalrate ir ON ir.rule_id = rule.rule_id AND ir.event_type_id = ev.event_type_id
             AND ir.rate > 0
        WHERE rule.method = 'care'
        GROUP BY rule.line_id, ev.organisation_id
    ), minimums AS (
        SELECT rule.line_id, s.organisation_id, s.minimum_pct / 100 AS minimum
        FROM rule JOIN billing_splitshare s ON s.split_phase_id = rule.sp_id AND s.minimum_pct > 0
        WHERE rule.method = 'care'
    ), care AS (
        SELECT coalesce(p.line_id, m.line_id) AS line_id, coalesce(p.organisation_id, m.organisation_id)
               AS organisation_id, coalesce(p.points, 0) AS points, p.events, coalesce(m.minimum, 0) AS minimum
        FROM pts p FULL JOIN minimums m ON m.line_id = p.line_id AND m.organisation_id = p.organisation_id
    ), care_total AS (
        SELECT *, sum(points) OVER (PARTITION BY line_id) AS total FROM care
    ), care_fixed AS (
        SELECT *, (points / total < minimum) AS fixed FROM care_total WHERE total > 0
    ), weights AS (
        SELECT line_id, organisation_id, 'care' AS method, points, events,
               CASE WHEN fixed THEN minimum
                    ELSE (1 - sum(CASE WHEN fixed THEN minimum ELSE 0 END) OVER w) * points
                         / nullif(sum(CASE WHEN fixed THEN 0 ELSE points END) OVER w, 0) END AS w
        FROM care_fixed WINDOW w AS (PARTITION BY line_id)
        UNION ALL
        SELECT rule.line_id, sh.organisation_id, 'fixed', NULL, NULL, sh.share_pct / 100
        FROM rule JOIN billing_splitshare sh ON sh.split_phase_id = rule.sp_id AND sh.share_pct > 0
        WHERE rule.method = 'fixed'
    ), head AS (
        SELECT nl.id AS line_id, k.kind, k.ord, nl.amount * k.pct / 100 AS exact, k.pct
        FROM nl JOIN rule ON rule.line_id = nl.id
        CROSS JOIN LATERAL (VALUES ('overhead', 1, rule.overhead_pct), ('reserve', 2, rule.reserve_pct),
                                   ('member', 3, 100 - rule.overhead_pct - rule.reserve_pct)) k(kind, ord, pct)
    ), head_r AS (
        SELECT h.*, floor(exact * 100) / 100 AS base,
               row_number() OVER (PARTITION BY line_id ORDER BY exact * 100 - floor(exact * 100) DESC, ord) AS rn,
               round((nl.amount - sum(floor(exact * 100) / 100) OVER (PARTITION BY line_id)) * 100) AS missing
        FROM head h JOIN nl ON nl.id = h.line_id
    ), head_a AS (
        SELECT line_id, kind, pct, base + CASE WHEN rn <= missing THEN 0.01 ELSE 0 END AS amount FROM head_r
    ), member AS (
        SELECT w.*, m.amount AS pool, m.amount * w.w AS exact
        FROM weights w JOIN head_a m ON m.line_id = w.line_id AND m.kind = 'member' WHERE w.w > 0
    ), member_r AS (
        SELECT *, floor(exact * 100) / 100 AS base,
               row_number() OVER (PARTITION BY line_id ORDER BY exact * 100 - floor(exact * 100) DESC,
                                  organisation_id) AS rn,
               round((pool - sum(floor(exact * 100) / 100) OVER (PARTITION BY line_id)) * 100) AS missing
        FROM member
    ), rows AS (
        SELECT h.line_id, h.kind, NULL::bigint AS organisation_id, h.amount, jsonb_build_object('percentage', h.pct::text) AS basis
        FROM head_a h WHERE h.kind <> 'member' AND h.amount <> 0
        UNION ALL
        SELECT line_id, 'member', organisation_id, base + CASE WHEN rn <= missing THEN 0.01 ELSE 0 END,
               CASE WHEN method = 'care'
                    THEN jsonb_build_object('method', method, 'share', w::text, 'points', points::text,
                                            'events', coalesce(to_jsonb(events), '[]'::jsonb))
                    ELSE jsonb_build_object('method', method, 'share', w::text) END
        FROM member_r
    )
    INSERT INTO billing_allocation (tenant_id, claim_line_id, kind, organisation_id, amount, split_rule_id, basis,
                                    created_at, is_current)
    SELECT nl.tenant_id, r.line_id, r.kind, r.organisation_id, r.amount, rule.rule_id, r.basis, now(), true
    FROM rows r JOIN nl ON nl.id = r.line_id JOIN rule ON rule.line_id = r.line_id
"""

# The billing state of every episode the run checks (billing.services.run._candidates, without the clause for
# lines left unallocated: there are none): new, changed, marked; by the day, one with a key date on or after the
# day its last check billed by and on or before today, or waiting in a work item (a check without that day:
# every active one, every ended one whose end was not behind it).
UPSERT_STATES = """
    INSERT INTO billing_episodebillingstate (tenant_id, episode_id, checked_at, checked_for, seen_changed_at,
                                             seen_rules, recheck)
    SELECT e.tenant_id, e.id, now(), %(today)s, e.changed_at, '', false
    FROM pregnancies_episode e LEFT JOIN billing_episodebillingstate s ON s.episode_id = e.id
    WHERE e.tenant_id = ANY(%(t)s)
      AND (s.id IS NULL OR e.changed_at IS DISTINCT FROM s.seen_changed_at OR s.recheck
           OR (s.checked_for < %(today)s AND (
               (e.labour_started_at AT TIME ZONE 'Europe/Amsterdam')::date BETWEEN s.checked_for AND %(today)s
               OR (e.placenta_plus_2h_at AT TIME ZONE 'Europe/Amsterdam')::date BETWEEN s.checked_for AND %(today)s
               OR e.postnatal_ended_on BETWEEN s.checked_for AND %(today)s
               OR e.end_date BETWEEN s.checked_for AND %(today)s))
           OR (s.checked_at < %(midnight)s AND (
               (s.checked_for IS NULL AND (
                   e.status = 'active' OR e.end_date >= (s.checked_at AT TIME ZONE 'Europe/Amsterdam')::date))
               OR EXISTS (SELECT 1 FROM billing_workitem w WHERE w.episode_id = e.id AND w.resolved_at IS NULL
                          AND w.reason = ANY(%(waiting)s)))))
    ON CONFLICT (episode_id) DO UPDATE
      SET checked_at = EXCLUDED.checked_at, checked_for = EXCLUDED.checked_for,
          seen_changed_at = EXCLUDED.seen_changed_at, recheck = false
"""


def read_bound(url: str, tenant_ids: list[int], first: date, last: date, repeat: int = 5) -> dict[str, Any]:
    """(a): the aggregate, rows fetched into Python; best and all of `repeat` after a warm-up."""
    import psycopg

    params = {"t": tenant_ids, "first": first, "last": last}
    with psycopg.connect(_conninfo(url)) as conn, conn.cursor() as cur:
        times, rows = query_times(cur, READ_BOUND, params, repeat)
        cur.execute(f"SELECT count(*) FROM ({PHASES}) x", params)  # noqa: S608 - constant SQL
        phases = (cur.fetchone() or [0])[0]
    return {"best_s": min(times), "times": times, "rows": len(rows), "phases": phases,
            "events_rows": len({(r[0], r[1]) for r in rows})}  # fmt: skip


def _conninfo(url: str) -> str:
    return url.replace("postgres://", "postgresql://", 1)


def _write_one(
    url: str,
    tenant_ids: list[int],
    params: dict[str, Any],
    out: dict[int, Any],
    key: int,
    barrier: threading.Barrier,
) -> None:
    import psycopg

    with psycopg.connect(_conninfo(url)) as conn:
        with conn.cursor() as cur:
            cur.execute("SELECT pg_backend_pid()")
            barrier.wait()
            started = time.perf_counter()
            p = {**params, "t": tenant_ids}
            cur.execute("SET CONSTRAINTS ALL IMMEDIATE")
            steps: dict[str, float] = {}
            t = time.perf_counter()
            cur.execute(INSERT_LINES, p)
            lines = cur.rowcount
            steps["lines"] = time.perf_counter() - t
            t = time.perf_counter()
            for statement in READ_BACK:
                cur.execute(statement, p)
            cur.execute(INSERT_ALLOCATIONS, p)
            allocations = cur.rowcount
            steps["allocations"] = time.perf_counter() - t
            t = time.perf_counter()
            cur.execute(UPSERT_STATES, p)
            states = cur.rowcount
            steps["states"] = time.perf_counter() - t
            wall = time.perf_counter() - started
            cur.execute(
                "SELECT count(*) FROM billing_claimline l LEFT JOIN (SELECT claim_line_id, sum(amount) s "
                "FROM billing_allocation WHERE created_at = now() GROUP BY claim_line_id) a "
                "ON a.claim_line_id = l.id WHERE l.tenant_id = ANY(%(t)s) AND l.created_at = now() "
                "AND a.s IS DISTINCT FROM l.amount",
                p,
            )
            mismatches = (cur.fetchone() or [0])[0]
        conn.rollback()
    out[key] = {"wall": wall, "lines": lines, "allocations": allocations, "states": states,
                "steps": steps, "mismatches": mismatches}  # fmt: skip


def write_bound(
    url: str,
    groups: list[list[int]],
    first: date,
    last: date,
    midnight: datetime,
    waiting: list[str],
    repeat: int = 3,
) -> dict[str, Any]:
    """(b): the set-based writes in one transaction per connection (tenants divided over the connections
    as the workers would take them), started together; rolled back. Best of `repeat`."""
    params = {
        "first": first,
        "last": last,
        "midnight": midnight,
        "today": midnight.astimezone(ZoneInfo(TZ)).date(),
        "waiting": waiting,
    }
    runs: list[dict[str, Any]] = []
    for _ in range(repeat):
        out: dict[int, Any] = {}
        barrier = threading.Barrier(len(groups) + 1)
        threads = [
            threading.Thread(target=_write_one, args=(url, g, params, out, i, barrier))
            for i, g in enumerate(groups)
        ]
        for th in threads:
            th.start()
        barrier.wait()
        for th in threads:
            th.join()
        if len(out) != len(groups):
            raise RuntimeError("a connection of the write bound failed")
        # From the start of both to the end of the last write (the checking query and ROLLBACK excluded).
        wall = max(out[i]["wall"] for i in range(len(groups)))
        runs.append({"wall": wall, "parts": [out[i] for i in range(len(groups))]})
    best = min(runs, key=lambda r: r["wall"])
    total = {k: sum(p[k] for p in best["parts"]) for k in ("lines", "allocations", "states", "mismatches")}
    return {"best_s": best["wall"], "times": [r["wall"] for r in runs], **total, "parts": best["parts"]}
