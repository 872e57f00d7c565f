"""`manage.py books_check [--tenant slug] [--period YYYY-MM]`: do the books reconcile? Exit 1 if not."""

from __future__ import annotations

import json
import sys
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import translation
from django.utils.translation import gettext as _

from billing import reconcile
from igo.models import Tenant


class Command(BaseCommand):
    help = (
        "Check that every ended phase is claimed once, allocations add up to their lines, credits mirror "
        "what they correct, batches total to their lines, the ledger's month totals equal the member "
        "statements, payouts add up to the entries paid in them, and the insurers' answers and payments "
        "agree with the batches. Exits 1 when something does not reconcile."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--tenant", help="slug of one IGO (default: all)")
        parser.add_argument(
            "--period",
            help="YYYY-MM: only prestaties that ended in that month, that month's batches and payout run, "
            "and the ledger's entries booked in it",
        )
        parser.add_argument("--language", default=settings.LANGUAGE_CODE, choices=["nl", "en"])
        parser.add_argument("--json", action="store_true", help="print the report as JSON")

    def handle(self, *args: Any, **options: Any) -> None:
        tenant = None
        if options["tenant"]:
            tenant = Tenant.objects.filter(slug=options["tenant"]).first()
            if tenant is None:
                raise CommandError(f"no IGO with slug {options['tenant']!r}")
        period = None
        if options["period"]:
            try:
                period = reconcile.period_from_text(options["period"])
            except ValueError:
                raise CommandError("--period takes a month as YYYY-MM") from None
        with translation.override(options["language"]):  # the problems' sentences are made in the check
            report = reconcile.books_check(tenant=tenant, period=period)
            if options["json"]:
                self.stdout.write(json.dumps(reconcile.as_dict(report), default=str, indent=2))
            else:
                for line in reconcile.summary_lines(report):
                    self.stdout.write(line)
                for line in reconcile.problem_lines(report):
                    self.stdout.write(line)
                if report.ok:
                    self.stdout.write(self.style.SUCCESS(_("OK: the books reconcile.")))
                else:
                    self.stdout.write(
                        self.style.ERROR(
                            _("%(n)s problem(s): the books do not reconcile.") % {"n": len(report.problems)}
                        )
                    )
        if not report.ok:
            sys.exit(1)
