"""The billing services (writes), one module per job:

- `contracts`: insurer contract versions; `split_rules`: versions of the verdeelmodel (split rules);
- `rollup`: from an episode's care path to its claim lines; `split`: from a claim line to allocations;
- `claim_lines`: line references, taking a line out of use (withdrawal, or an opposite line), sending;
- `work_items`: opening and resolving what finance must look at;
- `run`: the billing run, in set-based batches, safe to repeat and to run concurrently;
- `batches`: monthly claim batches to insurers; `returns`: the insurer's return information;
- `quality_claims`: quality agreements and their bonus or malus lines;
- `repricing`: retroactive tariff changes (a contract version under claims already made, priced again);
- `repayments`: a former member's debt paid back outside the platform, booked as a ledger entry.

The pipeline's public functions are re-exported here (`services.billing_run`, `services.contract_create`);
batches, returns and quality claims are used through their modules.
"""

from billing.services.claim_lines import care_episode_id, claim_lines_mark_sent, retire_line
from billing.services.contracts import contract_create, contract_end, contract_new_version
from billing.services.rollup import (
    PHASES,
    BillablePhase,
    RollupResult,
    ended_phases,
    gestational_week,
    interrupted_phase,
    partial_rule_for,
    phase_due,
    rollup_episodes,
    submission_deadline,
)
from billing.services.run import RunResult, billing_run, billing_run_batch, split_rules_seen
from billing.services.split import (
    AllocationRow,
    SplitContext,
    SplitResult,
    compute_allocations,
    member_weights,
    resplit_changed,
    rule_for,
    split_lines,
)
from billing.services.split_rules import split_rule_create

__all__ = [
    "PHASES",
    "AllocationRow",
    "BillablePhase",
    "RollupResult",
    "RunResult",
    "SplitContext",
    "SplitResult",
    "billing_run",
    "billing_run_batch",
    "care_episode_id",
    "claim_lines_mark_sent",
    "compute_allocations",
    "contract_create",
    "contract_end",
    "contract_new_version",
    "ended_phases",
    "gestational_week",
    "interrupted_phase",
    "member_weights",
    "partial_rule_for",
    "phase_due",
    "resplit_changed",
    "retire_line",
    "rollup_episodes",
    "rule_for",
    "split_lines",
    "split_rule_create",
    "split_rules_seen",
    "submission_deadline",
]
