"""`manage.py return_codes_load FILE`: bring the Vektis return codes (COD954) up to the operator's list."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import translation
from django.utils.translation import gettext as _

from billing.services.return_codes import ReturnCodeListError, return_code_list_parse, return_codes_load


class Command(BaseCommand):
    help = (
        "Load the Vektis return-code list (COD954) from a CSV file with the header "
        "code;description;valid_from;valid_until (dates YYYY-MM-DD): new codes are added, a new description "
        "from a later date becomes a new version, an end date ends a code. Loading the same file again "
        "changes nothing. Prints what changed."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", help="the CSV file (billing/reference/cod954.csv has the format)")
        parser.add_argument("--language", default=settings.LANGUAGE_CODE, choices=["nl", "en"])

    def handle(self, *args: Any, **options: Any) -> None:
        with translation.override(options["language"]):
            path = Path(options["file"])
            try:
                content = path.read_bytes()
            except OSError as exc:
                raise CommandError(
                    _("Cannot read %(file)s: %(error)s") % {"file": path, "error": exc}
                ) from exc
            try:
                rows = return_code_list_parse(content)
            except ReturnCodeListError as exc:
                raise CommandError(
                    "\n".join(f"{e.row}: {e.field_label}: {e.message}" for e in exc.errors)
                ) from exc
            changes = return_codes_load(rows=rows)
            for line in changes:
                self.stdout.write(line)
            self.stdout.write(_("%(n)s change(s).") % {"n": len(changes)})
