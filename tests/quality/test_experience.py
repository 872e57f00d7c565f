"""The client experience questionnaire after the maternity period: clinicians enter it on the episode
page, IGO administrators on a page of its own or by importing a file of answers (every error listed by
row, nothing stored); once per episode, also when submitted twice at once. Reads of tenant-owned rows in
assertions use `Model.unscoped`.
"""

from __future__ import annotations

import re
import threading
from datetime import date, timedelta
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.db import connection, connections, transaction
from django.test import Client as HttpClient
from django.utils import timezone, translation

from igo.models import AuditEntry, Role
from igo.tenancy import tenant_scope
from pregnancies.models import AccessLogEntry, Episode
from quality.experience import ExperienceImportError, experience_due, experience_file_parse, score_range
from quality.models import ExperienceResponse
from quality.services import experience_record
from tests.factories import ClientFactory, EpisodeFactory, InsurerFactory
from tests.scenarios.care import Care, make_care
from tests.scenarios.care_logging import answers, as_user, deliver, end_maternity, log_entries, page
from tests.scenarios.concurrency import wait_for_a_lock_wait
from tests.scenarios.people import TenantWorld

pytestmark = [pytest.mark.django_db, pytest.mark.dated]
HEADER = "episode;answered_on;overall;informed;same_team;recommend"


def upload(client: HttpClient, care: Care, text: str, *, name: str = "answers.csv", bom: bool = False) -> Any:
    from django.core.files.uploadedfile import SimpleUploadedFile

    content = (b"\xef\xbb\xbf" if bom else b"") + text.encode()
    return client.post(
        care.url("quality/experience/import/"), {"file": SimpleUploadedFile(name, content, "text/csv")}
    )


def ended_episode(care: Care, *, days_ago: int = 3) -> Episode:
    """Another client of the IGO whose maternity period ended `days_ago` days ago."""
    intake = timezone.localdate() - timedelta(days=250)
    return EpisodeFactory(
        tenant=care.tenant,
        client=ClientFactory(tenant=care.tenant),
        intake_date=intake,
        due_date=intake + timedelta(days=196),
        kraamzorg_ended_on=timezone.localdate() - timedelta(days=days_ago),
    )


def test_questionnaire_is_not_offered_before_the_maternity_period_ended(care, client_for):
    deliver(care, days_ago=3)
    client = as_user(care, Role.MIDWIFE, client_for)
    assert 'id="experience"' not in page(client, care)
    response = client.post(care.url(f"episodes/{care.episode.pk}/experience/"), answers())
    assert response.status_code == 400
    assert "answered_on" in response.context["experience_form"].errors
    assert not ExperienceResponse.unscoped.exists()
    # A planned end of kraamzorg that still lies ahead does not open it either.
    care.update_episode(kraamzorg_ended_on=timezone.localdate() + timedelta(days=5))
    assert not experience_due(care.episode)
    assert 'id="experience"' not in page(client, care)


def test_questionnaire_after_the_maternity_period_is_saved_once(care, client_for):
    end_maternity(care)
    client = as_user(care, Role.MATERNITY_CARER, client_for)
    html = page(client, care)
    assert 'data-testid="experience-form"' in html
    # The episode number, to write on a paper questionnaire or to put in a file of answers.
    assert f'data-testid="episode-number">{care.episode.pk}<' in html
    url = care.url(f"episodes/{care.episode.pk}/experience/")
    response = client.post(url, answers())
    assert response.status_code == 302 and response["Location"].endswith("#experience")
    stored = ExperienceResponse.unscoped.get(episode=care.episode)
    assert (stored.overall, stored.informed, stored.same_team, stored.recommend) == (9, 4, 5, 10)
    assert (stored.source, stored.entered_by, stored.tenant_id) == (
        "entered",
        care.user(Role.MATERNITY_CARER),
        care.tenant.pk,
    )
    assert log_entries(care, action="create") == [
        ("create", "experienceresponse", str(stored.pk), "experience")
    ]
    html = page(client, care)
    assert 'data-testid="experience-answers"' in html and 'data-testid="experience-form"' not in html
    again = client.post(url, answers(overall="3"))
    assert again.status_code == 400
    assert again.context["experience_form"].non_field_errors()
    assert ExperienceResponse.unscoped.get(episode=care.episode).overall == 9


@pytest.mark.parametrize(
    "extra,field",
    [
        ({"overall": "11"}, "overall"),
        ({"informed": "0"}, "informed"),
        ({"same_team": "6"}, "same_team"),
        ({"recommend": "-1"}, "recommend"),
        ({"recommend": "7.5"}, "recommend"),
        ({"answered_on": ""}, "answered_on"),
    ],
)
def test_refused_questionnaire_stores_nothing(care, client_for, extra, field):
    end_maternity(care)
    response = as_user(care, Role.MIDWIFE, client_for).post(
        care.url(f"episodes/{care.episode.pk}/experience/"), answers(**extra)
    )
    assert response.status_code == 400
    errors = response.context["experience_form"].errors
    assert set(errors) == {field}
    assert errors[field][0] in response.content.decode()
    assert not ExperienceResponse.unscoped.exists()
    assert log_entries(care, action="create") == []


def test_questionnaire_before_the_end_of_the_maternity_period_is_refused(care, client_for):
    end_maternity(care, days_ago=2)
    response = as_user(care, Role.MIDWIFE, client_for).post(
        care.url(f"episodes/{care.episode.pk}/experience/"),
        answers(answered_on=(timezone.localdate() - timedelta(days=3)).isoformat()),
    )
    assert response.status_code == 400
    assert "answered_on" in response.context["experience_form"].errors
    assert not ExperienceResponse.unscoped.exists()


@pytest.mark.parametrize(
    "role,allowed",
    [
        (Role.MIDWIFE, True),
        (Role.GYNAECOLOGIST, True),
        (Role.MATERNITY_CARER, True),
        (Role.IGO_ADMIN, True),
        (Role.IGO_FINANCE, False),
    ],
)
def test_questionnaire_by_role(care, client_for, role, allowed):
    end_maternity(care)
    response = as_user(care, role, client_for).post(
        care.url(f"episodes/{care.episode.pk}/experience/"), answers()
    )
    assert response.status_code == (302 if allowed else 403)
    assert ExperienceResponse.unscoped.filter(episode=care.episode).exists() == allowed


def test_administrator_enters_a_questionnaire_by_episode_number(care, care_b, client_for):
    end_maternity(care)
    admin = as_user(care, Role.IGO_ADMIN, client_for)
    lookup = admin.get(care.url("quality/experience/import/"), {"episode": care.episode.pk})
    assert lookup.status_code == 302
    assert lookup["Location"] == care.url(f"episodes/{care.episode.pk}/experience/")
    # Another IGO's number is not found, like a number that does not exist.
    other = admin.get(care.url("quality/experience/import/"), {"episode": care_b.episode.pk})
    assert other.status_code == 200 and "episode" in other.context["lookup"].errors

    form_page = admin.get(lookup["Location"])
    assert form_page.status_code == 200
    html = form_page.content.decode()
    assert 'data-testid="experience-form"' in html and str(care.client.family_name) in html
    assert f'href="{care.url(f"episodes/{care.episode.pk}/")}"' not in html  # no way into the care record
    assert log_entries(care, action="view") == [("view", "episode", str(care.episode.pk), "experience")]

    refused = admin.post(lookup["Location"], answers(overall="0"))
    assert refused.status_code == 400 and "overall" in refused.context["form"].errors
    response = admin.post(lookup["Location"], answers())
    assert response.status_code == 302 and response["Location"] == care.url("quality/experience/import/")
    stored = ExperienceResponse.unscoped.get(episode=care.episode)
    assert stored.entered_by == care.user(Role.IGO_ADMIN)
    shown = admin.get(lookup["Location"]).content.decode()
    assert 'data-testid="experience-answers"' in shown and 'data-testid="experience-form"' not in shown


@pytest.mark.parametrize("separator,bom", [(";", True), (",", False)], ids=["semicolon-bom", "comma"])
def test_import_stores_every_answer_and_is_audited(care, client_for, separator, bom):
    first, second = ended_episode(care, days_ago=10), ended_episode(care, days_ago=5)
    day1 = timezone.localdate() - timedelta(days=4)
    day2 = timezone.localdate() - timedelta(days=1)
    text = "\r\n".join(
        [
            HEADER.replace(";", separator),
            separator.join([str(first.pk), day1.isoformat(), "8", "4", "3", "9"]),
            "",
            separator.join([str(second.pk), day2.strftime("%d-%m-%Y"), "10", "5", "5", "10"]),
        ]
    )
    admin = as_user(care, Role.IGO_ADMIN, client_for)
    response = upload(admin, care, text, bom=bom)
    assert response.status_code == 302
    stored = {r.episode_id: r for r in ExperienceResponse.unscoped.filter(tenant=care.tenant)}
    assert set(stored) == {first.pk, second.pk}
    assert (stored[first.pk].answered_on, stored[first.pk].overall, stored[first.pk].recommend) == (
        day1,
        8,
        9,
    )
    assert (stored[second.pk].answered_on, stored[second.pk].same_team) == (day2, 5)
    assert {r.source for r in stored.values()} == {"imported"}
    assert {r.entered_by_id for r in stored.values()} == {care.user(Role.IGO_ADMIN).pk}
    audit = AuditEntry.objects.get(tenant=care.tenant, action="experience.import")
    assert audit.actor == care.user(Role.IGO_ADMIN)
    assert audit.details == {
        "filename": "answers.csv",
        "answers": 2,
        "episodes": sorted([first.pk, second.pk]),
    }
    assert sorted(log_entries(care, action="create")) == sorted(
        ("create", "experienceresponse", str(r.pk), "experience") for r in stored.values()
    )
    followed = admin.get(response["Location"])
    assert "answers.csv" in followed.content.decode()


def test_a_bad_file_stores_nothing_and_lists_every_error_by_row(care, care_b, client_for):
    good, other_good = ended_episode(care), ended_episode(care)
    not_ended = care.episode  # still pregnant
    answered = ended_episode(care)
    with tenant_scope(care.tenant):
        experience_record(
            episode=answered,
            actor=care.user(Role.MIDWIFE),
            answered_on=timezone.localdate(),
            overall=7,
            informed=4,
            same_team=4,
            recommend=8,
        )
    foreign = ended_episode(care_b)
    today = timezone.localdate().isoformat()
    text = "\n".join(
        [
            HEADER,
            f"{good.pk};{today};8;4;3;9",  # row 2: fine
            f"{other_good.pk};{today};11;4;3;9",  # row 3: overall out of range
            f"{foreign.pk};{today};8;4;3;9",  # row 4: another IGO's episode
            f"{not_ended.pk};{today};8;4;3;9",  # row 5: maternity period not ended
            f"{good.pk};{today};6;3;3;5",  # row 6: the same episode again
            f"{answered.pk};{today};8;4;3;9",  # row 7: answered before
            "x12;31-02-2026;8;;3;9",  # row 8: episode, date and informed unreadable
            f"{foreign.pk};{today};0;4;3;9",  # row 9: another IGO's episode, and overall out of range
        ]
    )
    admin = as_user(care, Role.IGO_ADMIN, client_for)
    response = upload(admin, care, text)
    assert response.status_code == 400
    found = {(e.row, e.field) for e in response.context["errors"]}
    assert found == {
        (3, "overall"),
        (4, "episode"),
        (5, "answered_on"),
        (6, "episode"),
        (7, "episode"),
        (8, "episode"),
        (8, "answered_on"),
        (8, "informed"),
        (9, "episode"),
        (9, "overall"),
    }
    errors = {(e.row, e.field): e.message for e in response.context["errors"]}
    assert str(foreign.pk) in errors[(4, "episode")]
    assert re.search(r"\b2\b", errors[(6, "episode")])  # the row where the episode came first
    # Nothing of the file was stored, in either IGO; the answer stored before stays the only one.
    assert list(ExperienceResponse.unscoped.values_list("episode_id", flat=True)) == [answered.pk]
    assert not AuditEntry.objects.filter(action="experience.import").exists()
    refused = AuditEntry.objects.get(tenant=care.tenant, action="experience.import_refused")
    assert refused.details == {"filename": "answers.csv", "errors": 10}
    assert not AccessLogEntry.unscoped.filter(tenant=care_b.tenant).exists()
    html = response.content.decode()
    assert html.count('data-testid="import-error"') == 10
    assert '<td class="num">4</td>' in html


@pytest.mark.parametrize(
    "content,message_part",
    [
        (b"", "empty"),
        (HEADER.encode(), "only a header"),
        (b"episode;answered_on;overall;informed;same_team\n1;2026-01-01;8;4;3", "recommend"),
        (b"episode;answered_on;overall;informed;same_team;recommend;bsn\n", "bsn"),
        ("episode;answered_on;overall;informed;same_team;recommend\n1;2026-01-01;8;4;3;9".encode("utf-16"), "text"),
        (b"\xff\xfe\xfa;x\n", "UTF-8"),
    ],
    ids=["empty", "header-only", "missing-column", "unknown-column", "utf-16", "not-utf8"],
)  # fmt: skip
def test_unreadable_files_are_refused_as_a_whole(content, message_part):
    with translation.override("en"), pytest.raises(ExperienceImportError) as exc:
        experience_file_parse(content)
    assert exc.value.errors[0].field == "file"
    assert any(message_part in e.message for e in exc.value.errors), exc.value.errors


def test_parse_reads_columns_in_any_order_and_skips_blank_lines():
    text = "\ufeffRecommend,Overall,episode,answered_on,informed,same_team\r\n\r\n10,9,7,14-09-2026,5,4\r\n"
    parsed = experience_file_parse(text.encode())
    assert parsed.errors == []
    row = parsed.rows[0]
    assert (row.row, row.episode_id, row.answered_on, row.overall, row.recommend, row.informed) == (
        3,
        7,
        date(2026, 9, 14),
        9,
        10,
        5,
    )


def test_score_ranges_come_from_the_model():
    assert [score_range(n) for n in ("overall", "informed", "same_team", "recommend")] == [
        (1, 10),
        (1, 5),
        (1, 5),
        (0, 10),
    ]


@pytest.mark.parametrize("role", [Role.MIDWIFE, Role.MATERNITY_CARER, Role.IGO_FINANCE])
def test_only_administrators_import(care, client_for, role):
    target = ended_episode(care)
    client = as_user(care, role, client_for)
    assert client.get(care.url("quality/experience/import/")).status_code == 403
    response = upload(client, care, f"{HEADER}\n{target.pk};{timezone.localdate().isoformat()};8;4;3;9")
    assert response.status_code == 403
    assert not ExperienceResponse.unscoped.exists()


def test_import_page_explains_the_format(care, client_for):
    response = as_user(care, Role.IGO_ADMIN, client_for).get(care.url("quality/experience/import/"))
    assert response.status_code == 200
    assert HEADER in response.content.decode()


@pytest.mark.django_db(transaction=True)
def test_a_questionnaire_submitted_twice_at_once(world_a: TenantWorld):
    if connection.vendor != "postgresql":
        pytest.skip("row locks need PostgreSQL")
    care = make_care(world_a, InsurerFactory(uzovi_code="3311"))
    episode = ended_episode(care)
    inside, release = threading.Event(), threading.Event()
    errors: list[BaseException] = []

    def record() -> None:
        experience_record(
            episode=episode,
            actor=care.user(Role.MIDWIFE),
            answered_on=timezone.localdate(),
            overall=8,
            informed=4,
            same_team=4,
            recommend=9,
        )

    def first() -> None:
        try:
            with tenant_scope(care.tenant), transaction.atomic():
                record()
                inside.set()
                release.wait(timeout=30)
        except BaseException as exc:  # reported in the main thread
            errors.append(exc)
        finally:
            inside.set()
            connections.close_all()

    def second() -> None:
        try:
            inside.wait(timeout=30)
            with tenant_scope(care.tenant):
                record()
        except ValidationError:
            pass  # the right answer: "already recorded"
        except BaseException as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for t in threads:
        t.start()
    try:
        wait_for_a_lock_wait()  # let the first commit only once the second waits on its lock
    finally:
        release.set()
        for t in threads:
            t.join(timeout=60)
    assert not errors, errors
    assert ExperienceResponse.unscoped.filter(episode=episode).count() == 1


def test_a_file_over_the_limit_is_refused_unread(care, client_for):
    from quality.experience import MAX_BYTES

    target = ended_episode(care)
    row = f"\n{target.pk};{timezone.localdate().isoformat()};8;4;3;9"
    padding = "\n" * (MAX_BYTES - len(HEADER) - len(row) + 1)
    response = upload(as_user(care, Role.IGO_ADMIN, client_for), care, HEADER + padding + row)
    assert response.status_code == 400
    assert [(e.row, e.field) for e in response.context["errors"]] == [(0, "file")]
    assert not ExperienceResponse.unscoped.exists()
    assert AuditEntry.objects.get(action="experience.import_refused").details["errors"] == 1
