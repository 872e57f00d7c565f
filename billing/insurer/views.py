"""The insurer portal: released claim batches addressed to the user's insurers, from every IGO; file
downloads; return information per line, for all open lines, or as an uploaded file; API keys.

Only users with an active insurer membership get in (others 403; two-factor is enforced by
`MFARequiredMiddleware`). Batches are read through `billing.insurer.selectors`, which is bounded by the user's
insurers and by status released: another insurer's batch, or a draft, is a 404. Writes go through
`billing.services.returns.batch_return_record` and the token services of `igo.services`. What shows the
lines' clients (the batch page, a row, the files) is written to the sending IGO's access log (NEN 7513).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from decimal import Decimal
from functools import wraps
from typing import Any

from allauth.account.decorators import reauthentication_required
from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db.models import Exists, OuterRef
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import content_disposition_header
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django_htmx.middleware import HtmxDetails

from billing.files import kz302
from billing.insurer import return_files, selectors
from billing.models import (
    BatchFileKind,
    BatchLine,
    BatchReturn,
    ClaimBatch,
    ReturnSource,
    ReturnStatus,
    Sign,
)
from billing.services.return_codes import return_code_labels
from billing.services.returns import (
    ReturnEntry,
    ReturnError,
    ReturnRowError,
    batch_return_record,
)
from igo import selectors as igo_selectors
from igo import services as igo_services
from igo.forms import MoneyField
from igo.http import AuthedRequest
from igo.models import Insurer, InsurerApiToken, InsurerMembership, User
from igo.views import add_form_errors, post_only
from pregnancies.models import AccessAction
from pregnancies.services import access_log_many

LINES_PER_PAGE = 200
BATCHES_PER_PAGE = 50


class InsurerRequest(AuthedRequest):
    insurers: list[Insurer]
    htmx: HtmxDetails


View = Callable[..., HttpResponse]


def insurer_view(view: View) -> View:
    """Signed in (else the login page) and an active employee of at least one insurer (else 403)."""

    @login_required
    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        insurers = igo_selectors.request_access(request).insurers
        if not insurers:
            raise PermissionDenied
        request.insurers = insurers  # type: ignore[attr-defined]
        return view(request, *args, **kwargs)

    return wrapped


# --- forms -------------------------------------------------------------------------------------


def released_on(batch: ClaimBatch) -> dt.date:
    return timezone.localdate(batch.released_at) if batch.released_at else timezone.localdate()


def code_choices(batch: ClaimBatch) -> list[tuple[str, str]]:
    """The reason codes of an answer to this batch: as they were on the day it was released."""
    return selectors.insurer_return_code_choices(on=released_on(batch))


def code_labels(batch: ClaimBatch, lines: Any) -> dict[str, str]:
    """The descriptions of the return codes on these lines, as they were when the batch was released."""
    codes = {line.answer.reason_code for line in lines if hasattr(line, "answer")}
    return return_code_labels(codes, on=released_on(batch))


class BatchFilterForm(forms.Form):
    period = forms.CharField(
        label=gettext_lazy("Month"), required=False, widget=forms.TextInput(attrs={"type": "month"})
    )
    igo = forms.ChoiceField(label=gettext_lazy("IGO"), required=False)

    def __init__(self, *args: Any, igos: list[Any], **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.fields["igo"].choices = [("", _("All IGOs")), *((t.slug, t.name) for t in igos)]  # type: ignore[attr-defined]

    def clean_period(self) -> Any:
        value = self.cleaned_data["period"]
        if not value:
            return None
        period = selectors.period_parse(value)
        if period is None:
            raise ValidationError(_("Enter a month as YYYY-MM."))
        return period


class LineAnswerForm(forms.Form):
    """One line's answer. Whether it holds together (a reason code for a rejection or a partial award, an
    amount between nothing and the line's) is `batch_return_record`'s to decide, as for the API and files."""

    status = forms.ChoiceField(
        label=gettext_lazy("Answer"),
        choices=[
            (s.value, s.label) for s in (ReturnStatus.ACCEPTED, ReturnStatus.PARTIAL, ReturnStatus.REJECTED)
        ],
    )
    # 1.200,00 as the page shows amounts, 1200,00 as a Dutch clerk types it.
    awarded_amount = MoneyField(label=gettext_lazy("Awarded amount"), required=False)
    reason_code = forms.ChoiceField(label=gettext_lazy("Reason code"), required=False)
    reason_text = forms.CharField(label=gettext_lazy("Explanation"), required=False, max_length=200)

    def __init__(self, *args: Any, codes: list[tuple[str, str]], **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.fields["reason_code"].choices = [("", "—"), *codes]  # type: ignore[attr-defined]

    def entry(self, line: BatchLine) -> ReturnEntry:
        data = self.cleaned_data
        awarded: Decimal | None = None
        if data["status"] == ReturnStatus.PARTIAL and data["awarded_amount"] is not None:
            awarded = data["awarded_amount"]
            # The clerk types the amount as a positive number; it is signed like the line (a credit).
            if line.sign == Sign.CREDIT and awarded > 0:
                awarded = -awarded
        return ReturnEntry(
            reference=line.number,
            status=data["status"],
            reason_code=data["reason_code"],
            reason_text=data["reason_text"],
            awarded_amount=awarded,
        )


class ReturnUploadForm(forms.Form):
    file = forms.FileField(
        label=gettext_lazy("Return file (KZ302 or CSV)"),
        help_text=gettext_lazy(
            "A KZ302 return file as Vektis defines it (370 positions per record), or a CSV with the header "
            "reference;status;reason_code;reason_text;awarded_amount. Status accepted, partial or rejected "
            "(geaccepteerd, gedeeltelijk or afgewezen); a rejection and a partial award need a reason code, a "
            "partial award also the awarded amount."
        ),
    )


class TokenCreateForm(forms.Form):
    name = forms.CharField(label=gettext_lazy("Name"), max_length=100)
    insurer = forms.ModelChoiceField(label=gettext_lazy("Insurer"), queryset=Insurer.objects.none())
    days = forms.IntegerField(
        label=gettext_lazy("Valid for (days)"),
        min_value=1,
        max_value=igo_services.TOKEN_DAYS_MAX,
        initial=igo_services.TOKEN_DAYS_DEFAULT,
    )

    def __init__(self, *args: Any, insurers: list[Insurer], **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.insurers = insurers
        field = self.fields["insurer"]
        field.queryset = Insurer.objects.filter(pk__in=[i.pk for i in insurers])  # type: ignore[attr-defined]
        if len(insurers) == 1:  # nothing to choose
            field.required = False
            field.widget = forms.HiddenInput()

    def clean_insurer(self) -> Insurer | None:
        chosen: Insurer | None = self.cleaned_data.get("insurer")
        return chosen or (self.insurers[0] if len(self.insurers) == 1 else None)


# --- batches -----------------------------------------------------------------------------------


@insurer_view
def insurer_dashboard(request: InsurerRequest) -> HttpResponse:
    igos = selectors.insurer_igo_choices(insurers=request.insurers)
    form = BatchFilterForm(request.GET or None, igos=igos)
    period, igo = None, ""
    if form.is_valid():
        period, igo = form.cleaned_data["period"], form.cleaned_data["igo"]
    batches = selectors.insurer_batch_list(insurers=request.insurers, period=period, igo=igo)
    page = Paginator(batches, BATCHES_PER_PAGE).get_page(request.GET.get("page"))
    context = {"form": form, "page": page, "insurers": request.insurers}
    template = "insurer/_batch_table.html" if request.htmx else "insurer/dashboard.html"
    return render(request, template, context)


def _batch(request: InsurerRequest, pk: int) -> ClaimBatch:
    return selectors.insurer_batch_get(insurers=request.insurers, pk=pk)


def _batch_page(request: InsurerRequest, pk: int) -> str:
    """Where a GET of a batch's POST-only address goes: the batch (404 when it is not this insurer's)."""
    return reverse("insurer_batch_detail", kwargs={"pk": _batch(request, pk).pk})


def _batch_page_of_line(request: InsurerRequest, pk: int, line_pk: int) -> str:
    batch = _batch(request, pk)
    line = get_object_or_404(BatchLine.unscoped.only("pk"), batch=batch, pk=line_pk)
    url = reverse("insurer_batch_detail", kwargs={"pk": batch.pk})
    return f"{url}#line-{line.pk}"


def _open_count(batch: ClaimBatch) -> int:
    return batch.open_lines  # type: ignore[attr-defined]


def access_log_insurer(
    *,
    user: User,
    batch: ClaimBatch,
    action: str,
    via: str,
    line_ids: list[int] | None = None,
    what: str = "",
    key: str = "",
) -> None:
    """NEN 7513 for an insurer's read of a batch: one entry per client shown, in the log of the IGO that
    sent the batch (the data controller), naming the insurer, the channel and the API key used, if any."""
    channel = f"{via} (key {key})" if key else via
    access_log_many(
        user=user,
        clients=selectors.insurer_batch_client_ids(batch=batch, line_ids=line_ids),
        action=action,
        tenant_id=batch.tenant_id,
        detail=f"insurer {batch.insurer.uzovi_code} {channel}: claim batch {batch.number}{what}",
    )


def _detail_context(request: InsurerRequest, batch: ClaimBatch, **extra: Any) -> dict[str, Any]:
    lines = selectors.insurer_batch_lines(batch=batch)
    show_open = request.GET.get("open") == "1"
    shown = [line for line in lines if not hasattr(line, "answer")] if show_open else lines
    page = Paginator(shown, LINES_PER_PAGE).get_page(request.GET.get("page"))
    # The page shows its lines' BSN, name and date of birth (also again with a refused answer or upload).
    access_log_insurer(
        user=request.user,
        batch=batch,
        action=AccessAction.VIEW,
        via="portal",
        line_ids=[line.pk for line in page],
    )
    failed: BatchLine | None = extra.pop("failed_line", None)
    if failed is not None:  # show the refused answer again on its row, with the errors
        for line in page:
            if line.pk == failed.pk:
                line.form = extra["line_form"]  # type: ignore[attr-defined]
                break
        else:  # its row is not on this page: the errors go on top
            for errs in extra["line_form"].errors.values():
                for e in errs:
                    messages.error(request, _("Line %(ref)s: %(error)s") % {"ref": failed.number, "error": e})
    return {
        "batch": batch,
        "page": page,
        "show_open": show_open,
        "open_count": _open_count(batch),
        "codes": code_choices(batch),
        "code_labels": code_labels(batch, page),
        "files": [(kind, label) for kind, label in BatchFileKind.choices],
        "deliveries": BatchReturn.unscoped.filter(batch=batch).select_related("received_by"),
        "upload_form": extra.pop("upload_form", None) or ReturnUploadForm(),
        **extra,
    }


@insurer_view
def insurer_batch_detail(request: InsurerRequest, pk: int) -> HttpResponse:
    batch = _batch(request, pk)
    return render(request, "insurer/batch_detail.html", _detail_context(request, batch))


def file_response(*, batch: ClaimBatch, kind: str, user: User, via: str, key: str = "") -> HttpResponse:
    """The stored file as an attachment; each download is in the IGO's audit log (with the API key used)."""
    download = selectors.insurer_batch_file(batch=batch, kind=kind)
    access_log_insurer(user=user, batch=batch, action=AccessAction.EXPORT, via=via, what=f" {kind}", key=key)
    igo_services.audit_record(
        actor=user,
        action="batch.download",
        tenant=batch.tenant,
        obj=batch,
        kind=kind,
        insurer=batch.insurer.uzovi_code,
        via=via,
        **({"key": key} if key else {}),
    )
    response = HttpResponse(download.content, content_type=download.content_type)
    response["Content-Disposition"] = content_disposition_header(True, download.filename)
    response["Content-Length"] = str(len(download.content))
    response["Cache-Control"] = "private, no-store"  # BSNs and names: never in a shared cache
    response["X-Content-SHA256"] = download.sha256
    return response


@insurer_view
def insurer_batch_file(request: InsurerRequest, pk: int, kind: str) -> HttpResponse:
    return file_response(batch=_batch(request, pk), kind=kind, user=request.user, via="portal")


@insurer_view
@post_only(back=_batch_page_of_line)
def insurer_line_answer(request: InsurerRequest, pk: int, line_pk: int) -> HttpResponse:
    batch = _batch(request, pk)
    line = get_object_or_404(BatchLine.unscoped.select_related("answer"), batch=batch, pk=line_pk)
    form = LineAnswerForm(request.POST, codes=code_choices(batch))
    if form.is_valid():
        try:
            batch_return_record(
                batch=batch, entries=[form.entry(line)], user=request.user, source=ReturnSource.PORTAL
            )
        except ReturnError as exc:
            for e in exc.errors:
                form.add_error(e.field if e.field in form.fields else None, str(e.message))
    if not form.errors:
        batch = _batch(request, pk)  # fresh counts
        line = BatchLine.unscoped.select_related("answer__batch_return").get(pk=line.pk)
        if not request.htmx:
            messages.success(request, _("Your answer for line %(ref)s was saved.") % {"ref": line.number})
            return redirect("insurer_batch_detail", pk=batch.pk)
    else:
        # As it is now: answered in another tab or by a colleague meanwhile, the row shows that answer
        # with the error that says so.
        line = BatchLine.unscoped.select_related("answer__batch_return").get(pk=line.pk)
        line.form = form  # type: ignore[attr-defined]
        if hasattr(line, "answer"):
            batch = _batch(request, pk)  # fresh counts for the summary
    if request.htmx:
        # The row shows the line's BSN, name and date of birth again.
        access_log_insurer(
            user=request.user, batch=batch, action=AccessAction.VIEW, via="portal", line_ids=[line.pk]
        )
        # htmx swaps only 2xx answers, so a refused answer comes back as 200 with its errors on the row.
        context = {
            "batch": batch,
            "line": line,
            "codes": code_choices(batch),
            "code_labels": code_labels(batch, [line]),
            # The summary too when the line was answered meanwhile (its counts changed).
            "oob_summary": not form.errors or hasattr(line, "answer"),
            "open_count": _open_count(batch),
        }
        return render(request, "insurer/_line_row.html", context)
    context = _detail_context(request, batch, failed_line=line, line_form=form)
    return render(request, "insurer/batch_detail.html", context, status=400)


@insurer_view
@post_only(back=_batch_page)
def insurer_accept_open(request: InsurerRequest, pk: int) -> HttpResponse:
    batch = _batch(request, pk)
    entries = [
        ReturnEntry(reference=line.number, status=ReturnStatus.ACCEPTED)
        for line in selectors.insurer_batch_lines(batch=batch)
        if not hasattr(line, "answer")
    ]
    if not entries:
        messages.info(request, _("Every line of this batch has been answered already."))
        return redirect("insurer_batch_detail", pk=batch.pk)
    try:
        answer = batch_return_record(
            batch=batch, entries=entries, user=request.user, source=ReturnSource.PORTAL
        )
    except ReturnError as exc:
        # Someone answered a line in the meantime: nothing was stored; the page shows the new state.
        messages.error(request, " ".join(str(e.message) for e in exc.errors[:3]))
    else:
        messages.success(request, _("%(n)s open line(s) accepted.") % {"n": answer.accepted})
    return redirect("insurer_batch_detail", pk=batch.pk)


@insurer_view
@post_only(back=_batch_page)
def insurer_return_upload(request: InsurerRequest, pk: int) -> HttpResponse:
    batch = _batch(request, pk)
    form = ReturnUploadForm(request.POST, request.FILES)
    errors: list[ReturnRowError] = []
    if form.is_valid():
        upload = form.cleaned_data["file"]
        if upload.size > return_files.MAX_BYTES:
            errors = [
                ReturnRowError(
                    0,
                    "file",
                    _("The file is larger than %(mb)s MB.") % {"mb": return_files.MAX_BYTES // 2**20},
                )
            ]
        else:
            content = upload.read()
            parsed: return_files.ParsedReturn | None = None
            try:
                if kz302.looks_like_kz302(content):
                    parsed = kz302.kz302_parse(content, batch=batch)
                else:
                    parsed = return_files.return_file_parse(content)
                answer = batch_return_record(
                    batch=batch,
                    entries=parsed.entries,
                    user=request.user,
                    source=ReturnSource.FILE,
                    filename=upload.name or "",
                )
            except (return_files.ReturnFileError, kz302.Kz302Error) as exc:
                errors = exc.errors
            except ReturnError as exc:
                errors = parsed.row_errors(exc) if parsed is not None else exc.errors
            else:
                messages.success(
                    request,
                    _("Return file %(name)s processed: %(a)s accepted, %(p)s partly awarded, %(r)s rejected.")
                    % {"name": upload.name, "a": answer.accepted, "p": answer.partial, "r": answer.rejected},
                )
                return redirect("insurer_batch_detail", pk=batch.pk)
    context = _detail_context(request, batch, upload_form=form, upload_errors=errors)
    return render(request, "insurer/batch_detail.html", context, status=400)


# --- API keys ----------------------------------------------------------------------------------


def _tokens(request: InsurerRequest) -> Any:
    """The keys of the user's insurers, each with `maker_active`: a key whose maker no longer works for the
    insurer does not work (igo.api.auth) and is listed as such, for a colleague to revoke."""
    maker_active = InsurerMembership.objects.filter(
        user_id=OuterRef("created_by_id"), insurer_id=OuterRef("insurer_id"), is_active=True
    )
    return (
        InsurerApiToken.objects.filter(insurer__in=[i.pk for i in request.insurers])
        .select_related("insurer", "created_by")
        .annotate(maker_active=Exists(maker_active))
    )


@insurer_view
@reauthentication_required(allow_get=True)  # a new key: only after signing in again (as personal keys)
def insurer_tokens(request: InsurerRequest) -> HttpResponse:
    form = TokenCreateForm(request.POST or None, insurers=request.insurers)
    new_key = ""
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            try:
                _token, new_key = igo_services.insurer_token_create(
                    user=request.user,
                    insurer=form.cleaned_data["insurer"],
                    name=form.cleaned_data["name"],
                    days=form.cleaned_data["days"],
                )
            except ValidationError as exc:
                add_form_errors(form, exc)
            else:
                status = 201
                form = TokenCreateForm(insurers=request.insurers)
    response = render(
        request,
        "insurer/tokens.html",
        {"form": form, "tokens": _tokens(request), "new_key": new_key, "insurers": request.insurers},
        status=status,
    )
    response["Cache-Control"] = "private, no-store"  # the new key is on this page, once
    return response


@insurer_view
def insurer_token_revoke(request: InsurerRequest, pk: int) -> HttpResponse:
    """GET asks whether to revoke the key (a page of its own, so that it works without JavaScript); the POST
    of that page, with `confirm`, revokes it. A POST without `confirm` only asks."""
    token = get_object_or_404(_tokens(request), pk=pk)
    if request.method not in ("GET", "HEAD", "POST"):
        return HttpResponseNotAllowed(["GET", "POST"])
    if request.method == "POST" and request.POST.get("confirm") == "yes":
        try:
            igo_services.insurer_token_revoke(token=token, actor=request.user)
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        else:
            messages.success(request, _("The key %(name)s was revoked.") % {"name": token.name})
        return redirect("insurer_tokens")
    if token.revoked_at is not None:  # nothing left to ask
        return redirect("insurer_tokens")
    return render(request, "insurer/token_revoke.html", {"token": token})
