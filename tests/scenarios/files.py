"""Reading the files the platform writes, as a person opening them would."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path


def pdf_text(pdf: bytes, tmp_path: Path, name: str = "doc") -> tuple[str, int]:
    """The text of a PDF (pdftotext -layout) and its page count (pdfinfo), both from poppler-utils."""
    path = tmp_path / f"{name}.pdf"
    path.write_bytes(pdf)

    def poppler(tool: str, *args: str) -> str:
        exe = shutil.which(tool)
        assert exe, f"{tool} (poppler-utils) is not installed"
        # Fixed arguments and a file this test wrote: no untrusted input reaches the command line.
        done = subprocess.run([exe, *args], capture_output=True, check=True)  # noqa: S603
        return done.stdout.decode()

    text = poppler("pdftotext", "-layout", str(path), "-")
    match = re.search(r"^Pages:\s+(\d+)", poppler("pdfinfo", str(path)), re.MULTILINE)
    assert match
    return text.replace("\xa0", " "), int(match.group(1))
