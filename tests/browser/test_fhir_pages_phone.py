"""The FHIR import and export pages (issue 21) on a phone (390 × 844) and a laptop (1366 × 768), walked in
Chromium as the IGO administrator uses them: the export of a period (downloaded), the CSV import with its
templates (downloaded) and a refused file's errors by row and column, the import jobs, the row of FHIR links
they share (templates/fhir_io/_links.html), and, as the midwife, the episode page's FHIR hand-over.

On every page: no sideways scroll, no two links or controls on top of each other, every control and every
link that stands on its own (not in a sentence) at least 24 px high (WCAG 2.2's minimum target size; the
platform sets no larger one), every control inside its form and each field with its label visible, no word
split over two lines where it has no place to break (a table column squeezed to a letter a line); the texts
in Dutch (the browser asks for nl), and once more in English after the language switch.

The world: IGO Alpha's pregnancy delivered at home on 10 November 2026 (tests.scenarios.fhir_export), seen
that afternoon at 16:00 in Amsterdam.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from pathlib import Path

import pytest
from django.urls import reverse
from playwright.sync_api import Download, Page, expect

from fhir_io.models import FhirImportJob, ImportJobStatus
from fhir_io.services import member_key_create
from igo.models import Role
from pregnancies.models import CareEvent
from tests.scenarios.browser import VIEWPORTS, assert_fits_viewport, sign_in_to_tenant
from tests.scenarios.care import Care
from tests.scenarios.fhir_export import NOW, delivered

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True), pytest.mark.clock(NOW)]

UNKNOWN_BSN = "111222333"  # passes the eleven-test; nobody's in this world

# WCAG 2.2, success criterion 2.5.8 (level AA): a target at least 24 × 24 CSS px.
MIN_TARGET = 24

# What a person taps or types in, as the boxes the browser drew: an inline link that wraps has one box per
# line. Returned: pairs of elements whose boxes overlap (one inside the other is not an overlap), controls
# and stand-alone links lower than MIN_TARGET, controls sticking out of their form, and fields whose label
# is missing, hidden, or outside the window.
MEASURE = r"""([scope, minTarget]) => {
    const root = document.querySelector(scope);
    const shown = (el) => el.getClientRects().length > 0 && getComputedStyle(el).visibility !== 'hidden';
    const name = (el) => `${el.tagName.toLowerCase()}[${(el.getAttribute('name') || el.textContent || '')
        .trim().slice(0, 30)}]`;
    const targets = [...root.querySelectorAll(
        'a[href], button, input:not([type=hidden]), select, textarea, summary')].filter(shown);
    const overlaps = [];
    for (let i = 0; i < targets.length; i++) {
        for (let j = i + 1; j < targets.length; j++) {
            const a = targets[i], b = targets[j];
            if (a.contains(b) || b.contains(a)) continue;
            const hit = [...a.getClientRects()].some((r) => [...b.getClientRects()].some((s) =>
                Math.min(r.right, s.right) - Math.max(r.left, s.left) > 1
                && Math.min(r.bottom, s.bottom) - Math.max(r.top, s.top) > 1));
            if (hit) overlaps.push([name(a), name(b)]);
        }
    }
    // A link inside a sentence may be as low as its line (WCAG's exception); links standing on their own
    // (a row of links, a list of downloads) and every control may not.
    const inSentence = (el) => el.tagName === 'A' && el.closest('p, td, small, h1, dd') && !el.closest('nav');
    const small = targets.filter((el) => !inSentence(el))
        .filter((el) => el.getBoundingClientRect().height < minTarget - 0.5)
        .map((el) => `${name(el)} ${Math.round(el.getBoundingClientRect().height)} px`);
    const outside = [];
    const unlabelled = [];
    const width = document.documentElement.clientWidth;
    for (const field of root.querySelectorAll('form input:not([type=hidden]), form select, form textarea')) {
        if (!shown(field)) continue;
        const f = field.getBoundingClientRect(), box = field.form.getBoundingClientRect();
        if (f.left < box.left - 0.5 || f.right > box.right + 0.5) outside.push(name(field));
        const label = field.labels && field.labels[0];
        const l = label && label.getBoundingClientRect();
        if (!label || !shown(label) || l.left < 0 || l.right > width + 0.5) unlabelled.push(name(field));
    }
    for (const button of root.querySelectorAll('form button')) {
        if (!shown(button)) continue;
        const b = button.getBoundingClientRect(), box = button.form.getBoundingClientRect();
        if (b.left < box.left - 0.5 || b.right > box.right + 0.5) outside.push(name(button));
    }
    // Words split over two lines where they have no place to break (a hyphen or a slash is one): a column
    // squeezed to a few letters, a label cut in two. A code string (a line of column names) may break.
    const broken = [];
    const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
        if (!node.parentElement || !shown(node.parentElement) || node.parentElement.closest('code, pre')) continue;
        for (const match of node.textContent.matchAll(/[^\s\-\/]+[\-\/]?/g)) {
            const range = document.createRange();
            range.setStart(node, match.index);
            range.setEnd(node, match.index + match[0].length);
            const tops = new Set([...range.getClientRects()].filter((r) => r.width > 0).map((r) => Math.round(r.top)));
            if (tops.size > 1) broken.push(match[0]);
        }
    }
    return {overlaps, small, outside, unlabelled, broken: broken.slice(0, 12), count: targets.length};
}"""


def assert_usable(page: Page, scope: str = "main") -> None:
    """The page fits the window, and what can be tapped in `scope` is apart, big enough and labelled."""
    assert_fits_viewport(page)
    found = page.evaluate(MEASURE, [scope, MIN_TARGET])
    assert found["count"] > 0
    problems = {
        key: found[key] for key in ("overlaps", "small", "outside", "unlabelled", "broken") if found[key]
    }
    assert not problems, f"{page.url}: {problems}"


def open_page(page: Page, url: str, heading: str) -> None:
    response = page.goto(url)
    assert response is not None and response.status == 200, (url, response and response.status)
    expect(page.get_by_role("heading", level=1)).to_have_text(heading)
    assert_usable(page)


def links_row(page: Page, names: list[str], here: str) -> None:
    """The row of FHIR links under the heading: every page of the set, in the page's language, the page
    itself marked as the current one."""
    row = page.get_by_test_id("fhir-links")
    for name in names:
        expect(row.get_by_role("link", name=name, exact=True)).to_be_visible()
    expect(row.locator("[aria-current=page]")).to_have_text(here)


def downloaded(page: Page, click: Callable[[], None]) -> tuple[Download, bytes]:
    """What a click saves: the download and its bytes."""
    with page.expect_download() as info:
        click()
    download = info.value
    path = download.path()
    assert path is not None
    return download, Path(path).read_bytes()


def bad_csv(care: Care) -> bytes:
    """A practice's file with five errors on four rows (2 to 6, the header is row 1): an unknown code on
    row 3, a date and a time in words on row 4, a BSN of nobody on row 5, and the row identifier of row 2
    again on row 6; row 2 itself is good."""
    good = ["HIS-1", care.client.bsn, "", care.midwife.agb_code, "PRE_CHECK", "20-08-2026", "10:30", ""]
    rows = [
        good,
        ["HIS-2", care.client.bsn, "", care.midwife.agb_code, "ONBEKEND-CONTROLE", "21-08-2026", "10:30", ""],
        ["HIS-3", care.client.bsn, "", care.midwife.agb_code, "PRE_CHECK", "gisteren", "half elf", ""],
        ["HIS-4", UNKNOWN_BSN, "", care.midwife.agb_code, "PRE_CHECK", "24-08-2026", "10:30", ""],
        ["HIS-1", care.client.bsn, "", care.midwife.agb_code, "PRE_CHECK", "22-08-2026", "10:30", ""],
    ]
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=";", lineterminator="\r\n")
    writer.writerow(["row_id", "bsn", "episode", "agb", "code", "date", "time", "quantity"])
    writer.writerows(rows)
    return buffer.getvalue().encode("utf-8")


def a_finished_and_a_queued_job(care: Care) -> tuple[FhirImportJob, FhirImportJob]:
    key, _plain = member_key_create(
        tenant=care.tenant, actor=care.user(Role.IGO_ADMIN), organisation=care.practice, name="HIS"
    )
    done = FhirImportJob.unscoped.create(
        tenant=care.tenant, organisation=care.practice, key=key, body_sha256="-", status=ImportJobStatus.DONE,
        entries=50000, stored=50000, created=49000, corrected=600, voided=12, unchanged=388,
    )  # fmt: skip
    queued = FhirImportJob.unscoped.create(
        tenant=care.tenant, organisation=care.practice, key=key, body=b"{}", body_sha256="-"
    )
    return done, queued


DUTCH_LINKS = ["Systeemsleutels van leden", "Codekoppeling", "FHIR-importtaken", "Onbekende BSN's", "CSV-import",
               "FHIR-export van een periode"]  # fmt: skip
ENGLISH_LINKS = [
    "Member system keys",
    "Code mapping",
    "FHIR import jobs",
    "Unknown BSNs",
    "CSV import",
    "FHIR export of a period",
]


@pytest.mark.parametrize("screen", VIEWPORTS)
def test_the_administrator_exports_and_imports_on_a_phone_and_a_laptop(
    page: Page, care: Care, screen
) -> None:
    delivered(care)
    done, queued = a_finished_and_a_queued_job(care)
    slug = care.tenant.slug
    page.set_viewport_size(VIEWPORTS[screen])
    sign_in_to_tenant(page, care.user(Role.IGO_ADMIN).email)

    # --- the export of a period: the form, then the file ---------------------------------------------
    open_page(page, reverse("fhir_period_export", args=[slug]), "FHIR-export van een periode")
    links_row(page, DUTCH_LINKS, "FHIR-export van een periode")
    form = page.get_by_test_id("export-form")
    form.get_by_label("Jaar").fill("2026")
    form.get_by_label("Maand").select_option("11")
    form.get_by_label("Ontvanger").select_option("registry")
    download, body = downloaded(page, form.get_by_role("button", name="Downloaden").click)
    assert download.suggested_filename == f"{slug}-2026-11-01-registry.fhir.json"
    bundle = json.loads(body)
    assert bundle["resourceType"] == "Bundle" and bundle["type"] == "collection"
    kinds = [entry["resource"]["resourceType"] for entry in bundle["entry"]]
    assert kinds.count("EpisodeOfCare") == 1 and {"Patient", "Encounter"} <= set(kinds), kinds  # her birth
    assert care.client.bsn not in body.decode()  # the registry gets a pseudonym, never the BSN
    assert_usable(page)  # the download left the page as it was

    # --- the import jobs ----------------------------------------------------------------------------
    open_page(page, reverse("fhir_import_jobs", args=[slug]), "FHIR-importtaken")
    links_row(page, DUTCH_LINKS, "FHIR-importtaken")
    expect(page.get_by_test_id(f"job-{done.pk}")).to_contain_text("49000")
    expect(page.get_by_test_id(f"job-{queued.pk}")).to_be_visible()

    # --- the pages the row of links leads to besides: the member systems' keys and the code mapping ----
    open_page(page, reverse("fhir_member_keys", args=[slug]), "Systeemsleutels van leden")
    expect(page.get_by_test_id("keys")).to_contain_text(care.practice.name)
    expect(page.get_by_test_id("key-form").get_by_label("Geldig (dagen)")).to_be_visible()
    open_page(page, reverse("fhir_code_mappings", args=[slug]), "Codekoppeling")
    expect(page.get_by_test_id("mapping-form").get_by_label("Codesysteem")).to_be_visible()
    open_page(page, reverse("fhir_bsn_misses", args=[slug]), "Onbekende BSN's")
    links_row(page, DUTCH_LINKS, "Onbekende BSN's")

    # --- the CSV import: the templates, then a refused file ------------------------------------------
    open_page(page, reverse("fhir_care_csv", args=[slug]), "Zorg importeren uit een CSV-bestand")
    links_row(page, DUTCH_LINKS, "CSV-import")
    templates = page.get_by_test_id("templates")
    download, body = downloaded(page, templates.get_by_role("link", name="De hele catalogus").click)
    assert download.suggested_filename.endswith("_nl.csv")
    assert body.decode("utf-8").startswith("\ufeffrow_id;bsn;episode;agb;code;date;time;quantity")
    download, body = downloaded(page, templates.get_by_role("link", name=care.practice.name).click)
    assert "PRE_CHECK" in body.decode("utf-8") and care.midwife.agb_code in body.decode("utf-8")

    events_before = CareEvent.unscoped.count()
    form = page.get_by_test_id("import-form")
    form.get_by_label("Lidorganisatie").select_option(label=care.practice.name)
    form.get_by_label("CSV-bestand").set_input_files(
        {"name": "zorg-augustus.csv", "mimeType": "text/csv", "buffer": bad_csv(care)}
    )
    form.get_by_role("button", name="Importeren").click()
    errors = page.get_by_test_id("import-errors")
    expect(errors).to_contain_text("Het bestand is niet geïmporteerd: 5 fouten.")
    assert CareEvent.unscoped.count() == events_before  # all or nothing: the good first row is not stored
    rows = errors.get_by_test_id("import-error")
    expect(rows).to_have_count(5)
    expect(rows.filter(has_text="ONBEKEND-CONTROLE")).to_contain_text("3")
    expect(rows.filter(has_text="HIS-1")).to_contain_text("6")  # the second use of HIS-1, on row 6
    assert_usable(page)
    the_errors_are_readable(page)
    # The form is still there for the corrected file, its fields labelled in Dutch.
    expect(page.get_by_test_id("import-form").get_by_label("CSV-bestand")).to_be_visible()


def the_errors_are_readable(page: Page) -> None:
    """Each error shows its row, its column and the whole message, inside the window: the list wraps or
    scrolls in its own box, never the page, and no message is squeezed into a narrow strip."""
    width = page.viewport_size["width"] if page.viewport_size else 0
    cells = (
        page.get_by_test_id("import-errors")
        .locator("[data-testid=import-error] td")
        .evaluate_all(
            """(cells) => cells.map((td) => {
            const r = td.getBoundingClientRect();
            let box = td.parentElement;
            while (box && getComputedStyle(box).overflowX === 'visible') box = box.parentElement;
            const b = box.getBoundingClientRect();
            return {text: td.textContent.trim(), left: r.left, right: r.right, width: r.width,
                    clipped: td.scrollWidth > td.clientWidth + 1, boxLeft: b.left, boxRight: b.right};
        })"""
        )
    )
    assert cells
    for cell in cells:
        assert not cell["clipped"], cell
        # Visible without scrolling the box sideways: a phone user reads every error without hunting.
        assert cell["left"] >= cell["boxLeft"] - 0.5 and cell["right"] <= cell["boxRight"] + 0.5, cell
        assert cell["boxRight"] <= width + 0.5, cell
    messages = [c for c in cells if len(c["text"]) > 30]
    assert messages, cells
    # A message runs over at least 45 % of a phone's width (about seven words a line), not a column of
    # single words beside a wide column of labels.
    assert min(c["width"] for c in messages) >= 0.45 * min(width, 390), messages


def test_the_midwife_hands_an_episode_over_from_its_page(page: Page, care: Care) -> None:
    episode = delivered(care)
    slug = care.tenant.slug
    page.set_viewport_size(VIEWPORTS["phone"])
    sign_in_to_tenant(page, care.user(Role.MIDWIFE).email)
    response = page.goto(reverse("episode_detail", args=[slug, episode.pk]))
    assert response is not None and response.status == 200
    summary = page.get_by_test_id("episode-summary")
    link = summary.get_by_role("link", name="FHIR-overdracht aan het ziekenhuis")
    expect(link).to_be_visible()
    assert_usable(page, "[data-testid=episode-summary]")
    download, body = downloaded(page, link.click)
    assert download.suggested_filename == f"episode-{episode.pk}-hospital.fhir.json"
    document = json.loads(body)
    assert document["resourceType"] == "Bundle" and document["type"] == "document"
    assert care.client.bsn in body.decode()  # the treating hospital gets her BSN

    # The same address for the registry holds no BSN; without a receiver it says, in Dutch, what to choose.
    url = reverse("fhir_episode_export", args=[slug, episode.pk])
    registry = page.request.get(f"{url}?receiver=registry")
    assert registry.status == 200 and care.client.bsn not in registry.text()
    refused = page.request.get(url)
    assert refused.status == 400 and "Kies de ontvanger" in refused.text()

    # The administrator's FHIR pages are not hers.
    assert page.request.get(reverse("fhir_care_csv", args=[slug])).status == 403


def test_the_fhir_pages_in_english_on_a_phone(page: Page, care: Care) -> None:
    delivered(care)
    a_finished_and_a_queued_job(care)
    slug = care.tenant.slug
    page.set_viewport_size(VIEWPORTS["phone"])
    sign_in_to_tenant(page, care.user(Role.IGO_ADMIN).email)
    open_page(page, reverse("fhir_period_export", args=[slug]), "FHIR-export van een periode")
    page.get_by_test_id("lang-en").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("FHIR export of a period")
    assert_usable(page)
    links_row(page, ENGLISH_LINKS, "FHIR export of a period")
    expect(page.get_by_test_id("export-form").get_by_label("Receiver")).to_be_visible()

    open_page(page, reverse("fhir_import_jobs", args=[slug]), "FHIR import jobs")
    open_page(page, reverse("fhir_care_csv", args=[slug]), "Import care from a CSV file")
    form = page.get_by_test_id("import-form")
    form.get_by_label("Member organisation").select_option(label=care.practice.name)
    form.get_by_label("CSV file").set_input_files(
        {"name": "care.csv", "mimeType": "text/csv", "buffer": bad_csv(care)}
    )
    form.get_by_role("button", name="Import").click()
    expect(page.get_by_test_id("import-errors")).to_contain_text("The file was not imported: 5 errors.")
    assert_usable(page)
    the_errors_are_readable(page)
    page.get_by_test_id("lang-nl").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Zorg importeren uit een CSV-bestand")
