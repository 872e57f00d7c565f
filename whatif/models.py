"""What-if simulations: a draft split rule or contract version applied in memory to the actual care of a
period, beside what was actually allocated and billed. Nothing of it is written to the books."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

from igo.tenancy import TenantOwned


class SimulationKind(models.TextChoices):
    SPLIT_RULE = "split_rule", _("Draft split rule")
    CONTRACT = "contract", _("Draft contract version")


class SimulationStatus(models.TextChoices):
    QUEUED = "queued", _("waiting")
    RUNNING = "running", _("running")
    DONE = "done", _("done")
    FAILED = "failed", _("failed")


class Simulation(TenantOwned):
    """One what-if: the draft (as the service that would adopt it takes its arguments, in JSON), the period of
    care it is applied to, its progress and its results (JSON, amounts as strings)."""

    kind = models.CharField(_("kind"), max_length=16, choices=SimulationKind.choices)
    # The arguments of split_rule_create, or of contract_new_version (with "contract": its id).
    draft = models.JSONField(default=dict)
    # What the draft was made against (the stored versions); adoption is refused once it changed.
    base = models.JSONField(default=dict)
    period_start = models.DateField(_("period from"))
    period_end = models.DateField(_("period until"))
    status = models.CharField(
        _("status"), max_length=8, choices=SimulationStatus.choices, default=SimulationStatus.QUEUED
    )
    done = models.PositiveIntegerField(default=0)
    total = models.PositiveIntegerField(default=0)
    results = models.JSONField(default=dict, blank=True)
    error = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    finished_at = models.DateTimeField(null=True, blank=True)
    adopted_at = models.DateTimeField(null=True, blank=True)
    adopted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    # The stored version the draft became (a SplitRule's or a Contract's id, by kind).
    adopted_id = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        verbose_name = _("what-if simulation")
        verbose_name_plural = _("what-if simulations")
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.CheckConstraint(
                condition=Q(period_end__gte=F("period_start")), name="simulation_period_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.period_start:%d-%m-%Y}–{self.period_end:%d-%m-%Y}"

    @property
    def percent(self) -> int:
        if self.status == SimulationStatus.DONE:
            return 100
        return min(100, self.done * 100 // self.total) if self.total else 0
