"""Render docs/kz301.md from the Vektis record tables (billing/files/vektis.py) and its prose template."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from billing.files.layout_doc import render_doc


class Command(BaseCommand):
    help = "Render the KZ301/KZ302 record specification (docs/kz301.md) from the layout tables."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--write", metavar="PATH", help="write to this file instead of standard output")

    def handle(self, *args: Any, **options: Any) -> None:
        text = render_doc()
        if options["write"]:
            Path(options["write"]).write_text(text, encoding="utf-8")
            self.stdout.write(f"wrote {options['write']}")
        else:
            self.stdout.write(text, ending="")
