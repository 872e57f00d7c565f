"""The checks on sums of two-decimal numbers compare within half a cent (half a hundredth of a percent): exact
on PostgreSQL, where the difference of such numbers is a whole number of cents, and right on SQLite (the
demo), which adds decimals as floats (8116.32 + -4440.00 = 3676.3199999999997 refused a right batch total)."""

from decimal import Decimal

import django.db.models.expressions
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("billing", "0019_member_repayment"),
    ]

    operations = [
        migrations.RemoveConstraint(
            model_name="claimbatch",
            name="claim_batch_total_adds_up",
        ),
        migrations.RemoveConstraint(
            model_name="splitrule",
            name="split_rule_percentages_valid",
        ),
        migrations.AddConstraint(
            model_name="claimbatch",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    (
                        "total__gt",
                        django.db.models.expressions.CombinedExpression(
                            django.db.models.expressions.CombinedExpression(
                                models.F("debit_total"), "+", models.F("credit_total")
                            ),
                            "-",
                            models.Value(Decimal("0.005")),
                        ),
                    ),
                    (
                        "total__lt",
                        django.db.models.expressions.CombinedExpression(
                            django.db.models.expressions.CombinedExpression(
                                models.F("debit_total"), "+", models.F("credit_total")
                            ),
                            "+",
                            models.Value(Decimal("0.005")),
                        ),
                    ),
                ),
                name="claim_batch_total_adds_up",
            ),
        ),
        migrations.AddConstraint(
            model_name="splitrule",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    ("overhead_pct__gte", 0),
                    ("overhead_pct__lte", 100),
                    ("reserve_pct__gte", 0),
                    ("reserve_pct__lte", 100),
                    (
                        "overhead_pct__lt",
                        django.db.models.expressions.CombinedExpression(
                            django.db.models.expressions.CombinedExpression(
                                models.Value(100), "-", models.F("reserve_pct")
                            ),
                            "+",
                            models.Value(Decimal("0.005")),
                        ),
                    ),
                ),
                name="split_rule_percentages_valid",
            ),
        ),
    ]
