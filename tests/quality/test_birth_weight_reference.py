"""The birth-weight reference for SGA: loaded platform-wide by the platform operator from a CSV file, all or
nothing with every error by row and field in Dutch, listed on the operator's page, and closed to everyone
else. Every table here is the SYNTHETIC test table of tests.scenarios.sga (made-up numbers, not real
percentiles)."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.exceptions import PermissionDenied
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from django.utils import translation

from igo.models import AuditEntry, Role
from quality import birth_weight
from quality.models import BirthWeightP10, BirthWeightReference
from tests.scenarios.clock import local
from tests.scenarios.people import TenantWorld
from tests.scenarios.sga import SYNTHETIC_SOURCE, load_synthetic, operator, synthetic_csv, synthetic_p10

pytestmark = [pytest.mark.django_db, pytest.mark.clock(local(2026, 1, 15, 12))]
URL = "/platform/birth-weight/"


def post(client: Client, content: bytes, **fields: Any) -> Any:
    data = {"source": SYNTHETIC_SOURCE, "version": "test-1", **fields}
    data["file"] = SimpleUploadedFile("reference.csv", content, content_type="text/csv")
    return client.post(URL, data, HTTP_ACCEPT_LANGUAGE="nl")


def errors_of(response: Any) -> list[tuple[int, str, str]]:
    return [(e.row, e.field, e.message) for e in response.context["errors"]]


def test_the_operator_loads_a_table_by_day_and_the_page_lists_it(client_for) -> None:
    who = operator()
    http = client_for(who)
    assert 'data-testid="no-reference"' in http.get(URL).content.decode()
    response = post(http, synthetic_csv())
    assert response.status_code == 302
    reference = BirthWeightReference.objects.get()
    assert (reference.source, reference.version, reference.by_week, reference.loaded_by) == (
        SYNTHETIC_SOURCE, "test-1", False, who,
    )  # fmt: skip
    assert BirthWeightP10.objects.filter(reference=reference).count() == 2 * 133  # 168..300 days, two sexes
    assert birth_weight.table_in_force().lookup("male", 280) == synthetic_p10("male", 280) == 2444
    page = http.get(URL).content.decode()
    assert SYNTHETIC_SOURCE in page and "40+0" in page and "2444" in page
    entry = AuditEntry.objects.get(action="birth_weight.import")
    assert entry.details["rows"] == 266 and entry.details["version"] == "test-1"


def test_weeks_and_days_and_a_weekly_table_are_read() -> None:
    content = b"sex;gestational_age;p10_grams\n" + b"".join(
        f"{sex};{w}+0;{1000 + 100 * w}\n".encode() for sex in ("meisje", "jongen") for w in range(30, 43)
    )
    reference = birth_weight.reference_import(actor=operator(), content=content, source="S", version="1")
    assert reference.by_week
    table = birth_weight.table_in_force()
    assert (table.lookup("female", 30 * 7 + 6), table.lookup("male", 42 * 7 + 6)) == (4000, 5200)
    assert table.lookup("female", 43 * 7) is None


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (
            b"sex;gestational_age_days;p10_grams\nfemale;280;2344\nvrouw;281;2356\nmale;280;0\n"
            b"male;999;2444\nfemale;280;2300\n",
            [
                (3, "sex", "Vul female of male in."),
                (4, "p10_grams", "Vul een heel aantal grammen in van 100 tot 7000."),
                (5, "gestational_age_days", "De zwangerschapsduur moet liggen tussen 20 en 45 weken."),
                (6, "gestational_age_days", "Dit geslacht en deze zwangerschapsduur staan al in rij 2."),
            ],
        ),
        (
            b"sex;gestational_age_days;p10_grams\nfemale;280;2344\nfemale;282;2368\n",
            [
                (0, "gestational_age_days", "Meisje: de zwangerschapsduren lopen zonder gat dag voor dag; er ontbreekt: 40+1."),
                (0, "sex", "Het bestand heeft geen rijen voor jongen."),
            ],
        ),
        (
            b"sex;weeks;p10_grams\nfemale;40;2344\n",
            [
                (1, "file", "Onbekende kolom “weeks”; de kopregel is sex;gestational_age_days;gestational_age;p10_grams."),
                (1, "file", "Geef de zwangerschapsduur in één kolom: gestational_age_days (dagen) of gestational_age (weken+dagen)."),
            ],
        ),
        (b"sex;gestational_age;p10_grams\nfemale;40;2344\n", [(2, "gestational_age", "Vul de zwangerschapsduur in als weken+dagen, bijvoorbeeld 37+0.")]),
        (b"sex;gestational_age_days;p10_grams\n", [(0, "file", "Het bestand bevat geen rijen, alleen een kop.")]),
    ],
)  # fmt: skip
def test_a_bad_file_is_refused_with_every_error_in_dutch_and_nothing_is_stored(
    client_for, content: bytes, expected: list[tuple[int, str, str]]
) -> None:
    http = client_for(operator())
    response = post(http, content)
    assert response.status_code == 400
    with translation.override("nl"):
        assert errors_of(response) == sorted(expected)
    assert 'data-testid="import-errors"' in response.content.decode()
    assert not BirthWeightReference.objects.exists() and not BirthWeightP10.objects.exists()
    assert AuditEntry.objects.get(action="birth_weight.import_refused").details["errors"] == len(expected)


def test_source_and_version_are_required(client_for) -> None:
    response = post(client_for(operator()), synthetic_csv(), source="", version="")
    assert response.status_code == 400
    assert set(response.context["form"].errors) == {"source", "version"}
    with pytest.raises(birth_weight.ReferenceImportError) as exc:
        birth_weight.reference_import(actor=operator(), content=synthetic_csv(), source=" ", version="1")
    assert [(e.row, e.field) for e in exc.value.errors] == [(0, "source")]
    assert not BirthWeightReference.objects.exists()


def test_only_the_platform_operator_may_load_or_withdraw(world_a: TenantWorld, client_for) -> None:
    load_synthetic()
    for role in (Role.IGO_ADMIN, Role.IGO_FINANCE, Role.MIDWIFE):
        user = world_a.user(role)
        http = client_for(user)
        assert http.get(URL).status_code == 403
        assert post(http, synthetic_csv(shift=500)).status_code == 403
        assert http.post(reverse("birth_weight_withdraw")).status_code == 403
        with pytest.raises(PermissionDenied):
            birth_weight.reference_import(actor=user, content=synthetic_csv(), source="S", version="2")
        with pytest.raises(PermissionDenied):
            birth_weight.reference_withdraw(actor=user)
    assert Client().get(URL).status_code == 302  # to the sign-in page
    assert BirthWeightReference.objects.count() == 1
    assert birth_weight.table_in_force().lookup("female", 280) == 2344  # unchanged


def test_the_operator_withdraws_it(client_for) -> None:
    reference = load_synthetic()
    http = client_for(reference.loaded_by)
    assert http.get(URL).status_code == 200
    assert http.post(reverse("birth_weight_withdraw")).status_code == 302
    assert not BirthWeightReference.objects.exists() and not birth_weight.table_in_force()
    assert AuditEntry.objects.filter(action="birth_weight.withdraw").exists()


def test_the_platform_page_links_to_it(client_for) -> None:
    page = client_for(operator()).get("/platform/").content.decode()
    assert f'href="{URL}"' in page
