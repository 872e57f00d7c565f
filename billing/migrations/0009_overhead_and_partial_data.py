"""Overhead and reserve move from the insurer contracts to the split rules; partial-trajectory rules become
rules per interrupted phase and week band (the stated mapping is in the functions' docstrings and in
docs/billing.md)."""

from datetime import date

from django.db import migrations


def move_overhead_to_split_rules(apps, schema_editor):
    """Each split rule takes the overhead and reserve of its IGO's contracts in force in its year: where they
    differ, those of the contract with the most claim lines in that year. No allocation is changed: a line
    already split keeps its overhead and reserve when a re-split under the same rule version divides it
    again (billing.services.split), so no euro already allocated moves."""
    SplitRule = apps.get_model("billing", "SplitRule")
    Contract = apps.get_model("billing", "Contract")
    ClaimLine = apps.get_model("billing", "ClaimLine")
    for rule in SplitRule.objects.all():
        year_start, year_end = date(rule.year, 1, 1), date(rule.year, 12, 31)
        contracts = [
            c
            for c in Contract.objects.filter(tenant_id=rule.tenant_id, valid_from__lte=year_end).order_by(
                "pk"
            )
            if c.valid_until is None or c.valid_until >= year_start
        ] or list(Contract.objects.filter(tenant_id=rule.tenant_id).order_by("pk"))
        if not contracts:
            continue
        used = {
            c.pk: ClaimLine.objects.filter(
                contract_id=c.pk, service_start__gte=year_start, service_start__lte=year_end
            ).count()
            for c in contracts
        }
        chosen = max(contracts, key=lambda c: (used[c.pk], -c.pk))
        rule.overhead_pct, rule.reserve_pct = chosen.overhead_pct, chosen.reserve_pct
        rule.save(update_fields=["overhead_pct", "reserve_pct"])


def partial_rules_by_phase(apps, schema_editor):
    """The stated mapping (docs/billing.md): an old rule "end reason, before week W, phases P, x %" becomes,
    for each phase in P, a rule "end reason, that phase interrupted, weeks [previous W of the same end reason,
    W), x %". A phase the old rule did not list gets no rule: an episode interrupted there waits for finance's
    decision. Old rules of one end reason are nested thresholds (< 16, < 24, none); as bands they follow one
    another, so they do not overlap. Of two old rules with the same threshold only the first (lowest id) ever
    applied (the old roll-up took the lowest threshold, then the lowest id): the other is dropped."""
    PartialRule = apps.get_model("billing", "PartialRule")
    old_rules: dict[tuple[int, str], list] = {}
    for rule in PartialRule.objects.all().order_by("pk"):
        old_rules.setdefault((rule.contract_id, rule.end_reason), []).append(rule)
    for (_contract_id, _reason), rules in old_rules.items():
        rules.sort(key=lambda r: (r.before_week is None, r.before_week or 0, r.pk))
        previous = None
        seen: set[int | None] = set()
        for rule in rules:
            band = (previous, rule.before_week)
            previous = rule.before_week if rule.before_week is not None else previous
            phases = [p for p in ("prenatal", "natal", "postnatal") if p in (rule.phases or [])]
            if not phases or rule.before_week in seen:
                seen.add(rule.before_week)
                rule.delete()
                continue
            seen.add(rule.before_week)
            for i, phase in enumerate(phases):
                target = (
                    rule
                    if i == 0
                    else PartialRule(
                        tenant_id=rule.tenant_id,
                        contract_id=rule.contract_id,
                        end_reason=rule.end_reason,
                        percentage=rule.percentage,
                    )
                )
                target.phase, target.from_week, target.until_week = phase, band[0], band[1]
                target.save()


class Migration(migrations.Migration):
    dependencies = [("billing", "0008_payouts_and_partial")]

    operations = [
        migrations.RunPython(move_overhead_to_split_rules, migrations.RunPython.noop),
        migrations.RunPython(partial_rules_by_phase, migrations.RunPython.noop),
    ]
