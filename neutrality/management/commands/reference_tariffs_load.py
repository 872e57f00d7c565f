"""Load the monodisciplinary reference tariffs (verloskunde, kraamzorg) from a CSV file: operator data."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from neutrality.services import REFERENCE_COLUMNS, reference_tariffs_load


class Command(BaseCommand):
    help = f"Load reference tariffs from a CSV file with the columns {', '.join(REFERENCE_COLUMNS)}."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path", type=Path)

    def handle(self, *args: Any, path: Path, **options: Any) -> None:
        try:
            added, changed = reference_tariffs_load(text=path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise CommandError(str(exc)) from exc
        except ValidationError as exc:
            raise CommandError("\n".join(exc.messages)) from exc
        self.stdout.write(f"{added} added, {changed} changed")
