"""Prestatie codes that do not fit the KZ301 declaration file (rubriek 0416, AN 6: at most 6 capitals or digits)
are mapped, deterministically, in contract tariffs and in the prestatie code list: upper case, anything but
A–Z and 0–9 dropped, cut to 6 (`IGB-PRE` -> `IGBPRE`, `DEMO-POST` -> `DEMOPO`). A code that keeps nothing is left
as it is: the pre-send check then holds its lines until finance corrects the contract. Claim lines keep the code
they were made with (a sent line is never changed); the billing run makes new lines from the corrected tariffs."""

import re

from django.db import migrations

FITS = re.compile(r"[A-Z0-9]{1,6}")


def fitted(code: str) -> str:
    if FITS.fullmatch(code):
        return code
    cleaned = re.sub(r"[^A-Z0-9]", "", code.upper())[:6]
    return cleaned or code


def forwards(apps, schema_editor):
    for name in ("ContractTariff", "PrestatieCode"):
        model = apps.get_model("billing", name)
        for row in model.objects.all().order_by("pk"):
            code = fitted(row.code if name == "PrestatieCode" else row.prestatie_code)
            if name == "PrestatieCode" and code != row.code:
                if not model.objects.filter(code=code, valid_from=row.valid_from).exists():
                    row.code = code
                    row.save(update_fields=["code"])
            elif name == "ContractTariff" and code != row.prestatie_code:
                row.prestatie_code = code
                row.save(update_fields=["prestatie_code"])


class Migration(migrations.Migration):
    dependencies = [("billing", "0011_ledger_indexes")]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
