"""The platform operator's page of the birth-weight reference (small for gestational age): what is loaded,
the import of a new one and its withdrawal. Platform-wide: no IGO loads or changes it."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Count
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from quality import birth_weight, tasks
from quality.models import BirthWeightP10, BirthWeightReference


class ReferenceImportForm(forms.Form):
    source = forms.CharField(
        label=gettext_lazy("Source"),
        max_length=200,
        help_text=gettext_lazy("E.g. Perined, Geboortegewichtcurven (Hoftiezer et al., AJOG 2019)."),
    )
    version = forms.CharField(
        label=gettext_lazy("Version"),
        max_length=60,
        help_text=gettext_lazy("The version or year of the file."),
    )
    file = forms.FileField(label=gettext_lazy("File of 10th percentiles (CSV)"))


def _operator(request: HttpRequest) -> None:
    if not request.user.is_staff:
        raise PermissionDenied


@login_required
def birth_weight_reference(request: HttpRequest) -> HttpResponse:
    _operator(request)
    form = ReferenceImportForm()
    errors: list[birth_weight.RowError] = []
    status = 200
    if request.method == "POST":
        status = 400
        form = ReferenceImportForm(request.POST, request.FILES)
        if form.is_valid():
            upload = form.cleaned_data["file"]
            try:
                loaded = birth_weight.reference_import(
                    actor=request.user,  # type: ignore[arg-type]  # signed in: login_required
                    content=upload.read(birth_weight.MAX_BYTES + 1),
                    source=form.cleaned_data["source"],
                    version=form.cleaned_data["version"],
                    filename=upload.name or "",
                )
            except birth_weight.ReferenceImportError as exc:
                errors = list(exc.errors)
            else:
                transaction.on_commit(tasks.quality_nightly.delay)  # every IGO's last two years, now
                messages.success(
                    request,
                    _("%(reference)s is loaded and in force; the indicators are being recomputed.")
                    % {"reference": loaded},
                )
                return redirect("birth_weight_reference")
    reference = birth_weight.reference_in_force()
    rows = []
    if reference is not None:
        by_day: dict[int, dict[str, int]] = {}
        for r in BirthWeightP10.objects.filter(reference=reference):
            by_day.setdefault(r.gestational_days, {})[r.sex] = r.p10_grams
        rows = [(f"{d // 7}+{d % 7}", d, v.get("female"), v.get("male")) for d, v in sorted(by_day.items())]
    history = BirthWeightReference.objects.annotate(n=Count("rows"))
    return render(
        request,
        "quality/birth_weight_reference.html",
        {
            "form": form,
            "errors": errors,
            "reference": reference,
            "rows": rows,
            "history": history,
            "columns": ("sex", "gestational_age_days", "p10_grams"),
        },
        status=status,
    )


@login_required
@require_POST
def birth_weight_withdraw(request: HttpRequest) -> HttpResponse:
    _operator(request)
    if birth_weight.reference_withdraw(actor=request.user):  # type: ignore[arg-type]
        transaction.on_commit(tasks.quality_nightly.delay)
        messages.success(request, _("The birth-weight reference is withdrawn; SGA is no longer computed."))
    return redirect("birth_weight_reference")
