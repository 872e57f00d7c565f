# The reasons of a work item as choices (billing.WorkReason); the stored values do not change.

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('billing', '0006_billing_state_seen'),
    ]

    operations = [
        migrations.AlterField(
            model_name='workitem',
            name='reason',
            field=models.CharField(choices=[('no_insurance', 'No insurance on file'), ('no_contract', 'No contract with the insurer'), ('not_covered', 'Phase not covered by the contract'), ('no_split_rule', 'No split rule'), ('no_care_basis', 'No care to divide by'), ('presend_bsn', 'BSN not valid'), ('presend_policy', 'Insured number missing'), ('presend_deadline', 'Submission deadline passed'), ('presend_prestatie', 'Prestatie not contracted'), ('identical_pair', 'Waits for the next batch'), ('rejected', 'Rejected by the insurer')], max_length=32),
        ),
    ]
