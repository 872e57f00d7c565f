"""The data-quality list page (quality.data_quality): for the IGO's quality officer (administrators, who
may open the clients behind a number); every client shown is access-logged (NEN 7513)."""

from __future__ import annotations

from django.http import HttpResponse
from django.shortcuts import render

from igo import rules
from igo.http import TenantRequest
from igo.views import tenant_view
from pregnancies import services as care_services
from pregnancies.models import AccessAction
from quality import selectors
from quality.data_quality import data_quality
from quality.forms import YearForm


@tenant_view(rules.can_view_quality_episodes)
def quality_data(request: TenantRequest) -> HttpResponse:
    form = YearForm(request.GET if "year" in request.GET else None, years=selectors.available_years())
    year = form.year_or_current()
    result = data_quality(year=year)
    care_services.access_log_many(
        user=request.user,
        clients={row.episode.client.pk: row.episode.client for row in result.rows}.values(),
        action=AccessAction.VIEW,
        detail=f"data quality {year}",
    )
    return render(
        request,
        "quality/data_quality.html",
        {
            "year": year,
            "year_form": form,
            "result": result,
            "can_open_episode": rules.can_log_care(request.tenant_roles),
        },
    )
