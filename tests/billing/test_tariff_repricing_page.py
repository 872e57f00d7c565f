"""The retroactive tariff change on the contract's pages (billing.views.contract_reprice): finance fills in
the 2027 tariffs, sees per phase what changes (not sent, sent, old and new amounts, the difference), and
confirms; bad input is refused on its field in Dutch with nothing stored; another IGO's finance gets 404 and
a clinician may not. The world is tests.scenarios.repricing (ZK 2026 at 1200/900/1500, prolonged)."""

from __future__ import annotations

import datetime as dt
import time
from decimal import Decimal

import pytest
from django.urls import reverse

from billing import tasks as billing_tasks
from billing.models import ClaimLine, Contract, ContractTariff
from igo.models import AuditEntry, Role
from tests.scenarios.http import row
from tests.scenarios.payouts import PayoutWorld, accept_all, bill, send_batch
from tests.scenarios.repricing import (
    at,
    born_in_january,
    current_version,
    miscarriage_in_february,
    repricing_world,
)

pytestmark = [pytest.mark.dated, pytest.mark.clock(at(2027, 3, 15))]

D = Decimal
POST = {
    "valid_from": "2027-01-01",
    "valid_until": "",
    "name": "ZK 2027",
    "code_prenatal": "IGBPRE",
    "amount_prenatal": "1300.00",
    "code_natal": "IGBNAT",
    "amount_natal": "950.00",
    "code_postnatal": "IGBPOS",
    "amount_postnatal": "1600.00",
}


@pytest.fixture
def pw(world_a) -> PayoutWorld:
    """The January birth sent and accepted in February's batch; the miscarriage billed, not sent."""
    pw = repricing_world(world_a)
    born_in_january(pw)
    bill(pw, at(2027, 2, 21))
    accept_all(send_batch(pw, dt.date(2027, 2, 1), at(2027, 2, 25)), at(2027, 3, 1))
    miscarriage_in_february(pw)
    bill(pw, at(2027, 3, 2))
    return pw


def url(pw: PayoutWorld, contract: Contract) -> str:
    return reverse("contract_reprice", kwargs={"tenant_slug": pw.tenant.slug, "pk": contract.pk})


def run_job(pw: PayoutWorld, progress: str) -> None:
    """Run the queued confirmation of this progress page in this process (the test's transaction never
    commits, so its message is never sent; the worker's own run is test_the_worker_confirms_the_change)."""
    billing_tasks.contract_reprice_job(pw.tenant.pk, progress.rstrip("/").rsplit("/", 1)[-1])


def stored(pw: PayoutWorld) -> tuple[int, int, int]:
    return Contract.unscoped.count(), ContractTariff.unscoped.count(), ClaimLine.unscoped.count()


def test_finance_previews_and_confirms_the_2027_tariffs(pw, client_for):
    client = client_for(pw.finance)
    old = current_version(pw)
    detail = client.get(reverse("contract_detail", kwargs={"tenant_slug": pw.tenant.slug, "pk": old.pk}))
    assert url(pw, old) in detail.content.decode()
    page = client.get(url(pw, old))
    assert page.status_code == 200
    assert page.context["form"]["amount_natal"].value() == D("900.00")  # starts from the current tariffs

    before = stored(pw)
    shown = client.post(url(pw, old), {**POST, "preview": "1"})
    assert shown.status_code == 200
    html = shown.content.decode()
    assert stored(pw) == before  # a preview stores nothing
    # Prenatal: the miscarriage (not sent) 600.00 -> 650.00; natal and postnatal of the birth, sent.
    assert row(html, "reprice-prenatal") == "Prenataal 1 0 0 0 € 600,00 € 650,00 € 50,00"
    assert row(html, "reprice-natal") == "Nataal 0 1 0 0 € 900,00 € 950,00 € 50,00"
    assert row(html, "reprice-postnatal") == "Postnataal 0 1 0 0 € 1.500,00 € 1.600,00 € 100,00"
    assert row(html, "reprice-total") == "Totaal 1 2 0 0 € 3.000,00 € 3.200,00 € 200,00"
    expected = shown.context["form"]["expected"].value()
    assert expected and f'value="{expected}"' in html

    # The confirmation is queued: the answer is its progress page, and a second click joins the same job.
    queued = client.post(url(pw, old), {**POST, "expected": expected, "confirm": "1"})
    assert queued.status_code == 302
    progress = queued["Location"]
    assert client.post(url(pw, old), {**POST, "expected": expected, "confirm": "1"})["Location"] == progress
    waiting = client.get(progress)
    assert (
        "wachten op de worker" in waiting.content.decode()
        and 'hx-trigger="every 2s"' in waiting.content.decode()
    )
    assert stored(pw) == before

    run_job(pw, progress)  # what the worker does with the message once the request committed
    new = Contract.unscoped.get(name="ZK 2027")
    assert ClaimLine.unscoped.filter(sign="credit").count() == 2
    entry = AuditEntry.objects.get(action="contract.reprice")
    assert (entry.details["credited"], entry.details["rebilled"], entry.details["repriced_in_place"]) == (
        2,
        2,
        1,
    )
    assert entry.details["total"]["difference"] == "200.00"
    assert entry.actor == pw.finance

    done = client.get(progress, HTTP_HX_REQUEST="true")  # the part htmx polls: no more polling
    html = done.content.decode()
    assert "every 2s" not in html
    assert row(html, "reprice-total") == "Totaal 1 2 0 0 € 3.000,00 € 3.200,00 € 200,00"
    assert row(html, "reprice-done").replace(" .", ".") == (  # the amount is a tag of its own
        "De tarieven vanaf 01-01-2027 zijn opgeslagen als nieuwe versie: 1 declaratie(s) vóór verzending opnieuw "
        "geprijsd, 2 gecrediteerd en 2 opnieuw gedeclareerd voor de volgende batch; verschil € 200,00."
    )
    assert reverse("contract_detail", kwargs={"tenant_slug": pw.tenant.slug, "pk": new.pk}) in html
    # A new confirmation after the job ended starts a new job, which the service refuses (the version changed).
    again = client.post(url(pw, old), {**POST, "expected": expected, "confirm": "1"})
    assert again.status_code == 400 and Contract.unscoped.filter(name="ZK 2027").count() == 1


def test_a_confirmation_without_a_preview_only_shows_the_preview(pw, client_for):
    before = stored(pw)
    response = client_for(pw.finance).post(url(pw, current_version(pw)), {**POST, "confirm": "1"})
    assert response.status_code == 200 and response.context["impact"] is not None
    assert stored(pw) == before


def test_a_stale_preview_is_refused_with_the_new_one(pw, client_for):
    client = client_for(pw.finance)
    old = current_version(pw)
    expected = client.post(url(pw, old), {**POST, "preview": "1"}).context["form"]["expected"].value()
    before = stored(pw)
    # The form changed since the preview: the natal price is 960.00 now.
    response = client.post(
        url(pw, old), {**POST, "amount_natal": "960.00", "expected": expected, "confirm": "1"}
    )
    assert response.status_code == 400
    assert "sinds de preview" in response.content.decode()
    assert stored(pw) == before
    assert row(response.content.decode(), "reprice-natal") == "Nataal 0 1 0 0 € 900,00 € 960,00 € 60,00"


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        (
            {"valid_from": "2025-12-01"},
            "valid_from",
            "Een wijziging met terugwerkende kracht begint op of na het begin van de versie die zij "
            "vervangt (01-01-2026). Voeg voor een periode daarvoor een apart contract met een einddatum toe.",
        ),
        ({"amount_natal": "-950.00"}, "amount_natal", "Een prijs kan niet negatief zijn."),
        ({"valid_until": "2026-12-01"}, "valid_until", "Het einde ligt voor het begin."),
        (
            {"valid_until": "2027-01-05"},
            "valid_until",
            "Declaraties gebruiken dit contract voor zorg die nog op 10-01-2027 begint; de nieuwe versie "
            "moet ze dekken: laat haar op of na die dag eindigen, of laat het einde leeg.",
        ),
        (
            {"code_natal": "", "amount_natal": ""},
            "code_natal",
            "1 declaratie(s) van deze periode declareren de fase nataal: de nieuwe versie moet haar dekken.",
        ),
    ],
)
def test_bad_input_is_refused_on_its_field_in_dutch_and_nothing_is_stored(
    pw, client_for, change, field, message
):
    before = stored(pw)
    response = client_for(pw.finance).post(url(pw, current_version(pw)), {**POST, **change, "preview": "1"})
    assert response.status_code == 400
    assert response.context["form"].errors[field] == [message]
    assert stored(pw) == before
    assert current_version(pw).valid_until is None


def test_a_period_that_overlaps_another_contract_is_refused_on_its_end(pw, client_for):
    from billing.services.contracts import contract_new_version
    from igo.tenancy import tenant_scope
    from tests.scenarios.clock import travel

    with travel(at(2027, 3, 10)), tenant_scope(pw.tenant):
        later = contract_new_version(
            contract=current_version(pw), actor=pw.finance, valid_from=dt.date(2027, 7, 1)
        )
    old = Contract.unscoped.get(valid_from=dt.date(2026, 1, 1))
    before = stored(pw)
    response = client_for(pw.finance).post(
        url(pw, old), {**POST, "valid_until": "2027-12-31", "confirm": "1"}
    )
    assert response.status_code == 400
    assert response.context["form"].errors["valid_until"] == [
        f"Deze periode overlapt het contract {later.name} met Zilveren Kruis (vanaf 01-07-2027): beëindig de "
        "nieuwe versie vóór die dag."
    ]
    assert stored(pw) == before
    # Without an end the new tariffs run to where the 2026 version ends (30 June 2027).
    response = client_for(pw.finance).post(url(pw, old), {**POST, "preview": "1"})
    assert response.status_code == 200


def test_another_igos_finance_gets_404_and_a_clinician_may_not(pw, client_for, world_a, world_b):
    old = current_version(pw)
    other = client_for(world_b.user(Role.IGO_FINANCE))
    assert other.get(url(pw, old)).status_code == 404
    assert other.post(url(pw, old), {**POST, "preview": "1"}).status_code == 404
    midwife = client_for(world_a.user(Role.MIDWIFE))
    assert midwife.get(url(pw, old)).status_code == 403
    before = stored(pw)
    assert midwife.post(url(pw, old), {**POST, "confirm": "1", "expected": "x"}).status_code == 403
    admin = client_for(pw.admin)  # the IGO's administrator sees contracts but does not change them
    assert admin.get(url(pw, old)).status_code == 403
    assert stored(pw) == before
    assert ClaimLine.unscoped.get(phase="natal", is_current=True).amount == D("900.00")


def test_a_plan_changed_while_queued_is_refused_on_the_progress_page(pw, client_for):
    client = client_for(pw.finance)
    old = current_version(pw)
    expected = client.post(url(pw, old), {**POST, "preview": "1"}).context["form"]["expected"].value()
    progress = client.post(url(pw, old), {**POST, "expected": expected, "confirm": "1"})["Location"]
    # Meanwhile another miscarriage is billed in the period: the plan is no longer the one confirmed.
    miscarriage_in_february(pw, policy="ZK-203")
    bill(pw, at(2027, 3, 16))
    before = stored(pw)
    run_job(pw, progress)
    assert stored(pw) == before and current_version(pw) == old
    assert not AuditEntry.objects.filter(action="contract.reprice").exists()
    html = client.get(progress).content.decode()
    assert "De declaraties van deze periode zijn gewijzigd sinds de preview" in html
    assert "Er is niets opgeslagen." in html and "every 2s" not in html
    # Its button asks for the new preview with the same values; the new plan has two miscarriages.
    again = client.post(url(pw, old), {**dict(POST), "preview": "1"})
    assert (
        row(again.content.decode(), "reprice-prenatal") == "Prenataal 2 0 0 0 € 1.200,00 € 1.300,00 € 100,00"
    )
    assert 'name="amount_natal" value="950.00"' in html


def test_another_igos_job_is_404_and_a_clinician_may_not_follow_one(pw, client_for, world_a, world_b):
    client = client_for(pw.finance)
    old = current_version(pw)
    expected = client.post(url(pw, old), {**POST, "preview": "1"}).context["form"]["expected"].value()
    progress = client.post(url(pw, old), {**POST, "expected": expected, "confirm": "1"})["Location"]
    job = progress.rstrip("/").rsplit("/", 1)[-1]
    assert client.get(progress).status_code == 200
    finance_b = world_b.user(Role.IGO_FINANCE)
    mine = reverse(
        "contract_reprice_progress", kwargs={"tenant_slug": world_b.tenant.slug, "pk": old.pk, "job": job}
    )
    assert client_for(finance_b).get(mine).status_code == 404  # B's address, A's job and contract
    b_contract = Contract.unscoped.filter(tenant=world_b.tenant).first()
    if b_contract is not None:
        on_b = reverse(
            "contract_reprice_progress",
            kwargs={"tenant_slug": world_b.tenant.slug, "pk": b_contract.pk, "job": job},
        )
        assert client_for(finance_b).get(on_b).status_code == 404  # A's job id under B's own contract
    assert client_for(finance_b).get(progress).status_code == 404  # A's address: not a member
    assert client_for(world_a.user(Role.MIDWIFE)).get(progress).status_code == 403
    assert client_for(pw.admin).get(progress).status_code == 403
    unknown = progress.replace(job, "00000000-0000-4000-8000-000000000000")
    assert client.get(unknown).status_code == 404


@pytest.mark.real_worker
@pytest.mark.django_db(transaction=True)
def test_the_worker_confirms_the_change_and_the_page_shows_it(pw, client_for, needs_worker):
    client = client_for(pw.finance)
    old = current_version(pw)
    expected = client.post(url(pw, old), {**POST, "preview": "1"}).context["form"]["expected"].value()
    progress = client.post(url(pw, old), {**POST, "expected": expected, "confirm": "1"})["Location"]
    html = ""
    for _ in range(120):  # at most a minute
        html = client.get(progress, HTTP_HX_REQUEST="true").content.decode()
        if "every 2s" not in html:
            break
        time.sleep(0.5)
    assert 'data-testid="reprice-done"' in html, html
    assert row(html, "reprice-total") == "Totaal 1 2 0 0 € 3.000,00 € 3.200,00 € 200,00"
    new = Contract.unscoped.get(name="ZK 2027")
    assert ClaimLine.unscoped.filter(sign="credit").count() == 2
    assert AuditEntry.objects.get(action="contract.reprice").actor == pw.finance
    assert current_version(pw) == new


def test_a_change_from_the_versions_first_day_says_it_replaces_the_version_whole(pw, client_for):
    """From 1 January 2026, ZK 2026's own first day: every claim of the version is priced again, also the
    January birth's prenatal phase of 2026 (1200.00 -> 1300.00): old 1200 + 900 + 1500 + 600 = 4200.00,
    new 1300 + 950 + 1600 + 650 = 4500.00."""
    client = client_for(pw.finance)
    old = current_version(pw)
    shown = client.post(url(pw, old), {**POST, "valid_from": "2026-01-01", "preview": "1"})
    assert shown.status_code == 200
    html = shown.content.decode()
    assert 'data-testid="reprice-whole"' in html and "over haar hele periode" in html
    impact = shown.context["impact"]
    assert (impact.total.old_amount, impact.total.new_amount) == (D("4200.00"), D("4500.00"))
    from_2027 = client.post(url(pw, old), {**POST, "preview": "1"})
    assert 'data-testid="reprice-whole"' not in from_2027.content.decode()
    assert from_2027.context["impact"].fingerprint != impact.fingerprint
