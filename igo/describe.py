"""Audit entries in words, in the reader's language, made from the stored fields when they are shown.

The stored action ("event_type.create") and details ({"code": "ECHO_EXTRA"}) never change; what a person
reads ("Catalogue entry added", "code: ECHO_EXTRA") is derived here. An action or detail this module does
not know is shown as stored, so a new action is never hidden.
"""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext as _

from igo.models import AuditEntry, Role


def _actions() -> dict[str, str]:
    return {
        "tenant.create": _("IGO created"),
        "tenant.bank_account": _("Bank account of the IGO changed"),
        "tenant.batch_four_eyes": _("Four eyes on claim batches switched on or off"),
        "invitation.create": _("Invitation sent"),
        "invitation.revoke": _("Invitation withdrawn"),
        "invitation.accept": _("Invitation accepted"),
        "membership.end": _("Role ended"),
        "user.email_change": _("E-mail address changed"),
        "user.email_change_requested": _("Change of e-mail address requested"),
        "authenticator.reset": _("Second factor reset"),
        "personal_token.create": _("API key created"),
        "personal_token.revoke": _("API key revoked"),
        "insurer_user.create": _("Insurer user created"),
        "insurer_token.create": _("Insurer API key created"),
        "insurer_token.revoke": _("Insurer API key revoked"),
        "organisation.create": _("Member organisation added"),
        "organisation.update": _("Member organisation changed"),
        "organisation.end": _("Membership of an organisation ended"),
        "professional.create": _("Professional added"),
        "professional.update": _("Professional changed"),
        "professional.activate": _("Professional activated or deactivated"),
        "event_type.create": _("Catalogue entry added"),
        "event_type.activate": _("Catalogue entry restored"),
        "event_type.retire": _("Catalogue entry retired"),
        "contract.create": _("Contract added"),
        "contract.end": _("Contract ended"),
        "contract.reprice": _("Tariffs changed retroactively"),
        "split_rule.create": _("Split model added"),
        "batch.create": _("Claim batch made"),
        "batch.release": _("Claim batch released"),
        "batch.download": _("Claim batch downloaded"),
        "batch.discard": _("Claim batch discarded"),
        "batch.return": _("Return information read"),
        "claim_line.rebill": _("Claim line billed again"),
        "claim_line.credit_resend": _("Refused credit sent again"),
        "insurer_payment.record": _("Insurer payment recorded"),
        "partial_decision.record": _("Decision on a partly delivered phase"),
        "payout_run.prepare": _("Payout run prepared"),
        "payout_run.release": _("Payout run released"),
        "payout_run.discard": _("Payout run discarded"),
        "quality.recompute": _("Quality indicators recomputed"),
        "quality.export": _("Quality figures exported"),
        "quality.settle": _("Quality agreements settled"),
        "quality_agreement.create": _("Quality agreement added"),
        "experience.import": _("Questionnaires imported"),
        "experience.import_refused": _("Questionnaire import refused"),
        "delivery.record": _("Delivery recorded"),
        "tenant.admin_invite": _("Administrator invited by the platform operator"),
        "delivery.correct": _("Delivery corrected"),
        "delivery.void": _("Delivery voided"),
        "audit.scrub_clinical": _("Clinical values moved from the audit trail to the client's record"),
        "episode.severe_morbidity": _("Severe maternal morbidity changed"),
        "episode.end_correct": _("End of care corrected"),
        "kraamzorg.indication": _("Kraamzorg (re-)indication recorded"),
    }


def _detail_names() -> dict[str, str]:
    return {
        "code": _("code"),
        "agb_code": _("AGB code"),
        "insurer": _("insurer"),
        "year": _("year"),
        "format": _("format"),
        "start": _("from"),
        "end": _("until"),
        "until": _("until"),
        "number": _("number"),
        "old_email": _("old e-mail address"),
        "new_email": _("new e-mail address"),
        "email": _("e-mail address"),
        "filename": _("file"),
        "role": _("role"),
        "name": _("name"),
        "phase": _("phase"),
        "discipline": _("discipline"),
        "days": _("days"),
        "old": _("before"),
        "new": _("after"),
        "user": _("user"),
        "episode_id": _("episode"),
        "sign": _("sign"),
        "verified": _("verified"),
        "is_current": _("current"),
        "by_admin": _("by an administrator"),
        "prefix": _("key prefix"),
        "charset": _("character set"),
        "tenant_slug": _("IGO"),
        "reason": _("reason"),
        "before": _("before"),
        "after": _("after"),
        "hours": _("hours"),
        "date": _("date"),
        "fields": _("fields"),
        "revision": _("revision"),
        "event": _("care event"),
        "supersedes": _("replaces"),
        "revoked": _("withdrawn"),
        "migration": _("migration"),
        "rows": _("entries rewritten"),
        "counts": _("per action"),
        "entries": _("audit entries"),
        "left": _("left as they were"),
        "four_eyes": _("four eyes"),
        "keys_revoked": _("API keys she made revoked"),
        "prepared_by": _("prepared by"),
    }


def _value(value: Any) -> str:
    if value is True:
        return _("yes")
    if value is False:
        return _("no")
    if value is None:
        return "—"
    if isinstance(value, list | tuple):
        return ", ".join(_value(v) for v in value)
    return str(value)


# Changes to clinical facts: their audit entries name the fields that changed (`fields`) and the record's own
# revision (pregnancies.models.ClinicalRevision). Entries written before that kept the values themselves
# (a delivery before and after, the LEMMoN criteria, how care ended, a free-text reason): those values are
# not shown in the audit trail, which administrators read without a care relationship and without an access
# log entry. pregnancies/migrations/0014 moved them into the record; an entry it had to leave (its episode or
# author gone, named in its `audit.scrub_clinical` entry) stays hidden here.
CLINICAL_ACTIONS = frozenset(
    {
        "delivery.record",
        "delivery.correct",
        "delivery.void",
        "episode.severe_morbidity",
        "episode.end_correct",
        "partial_decision.record",
    }
)
CLINICAL_KEYS = frozenset({"before", "after", "reason", "end_reason"})


def audit_details_shown(entry: AuditEntry) -> dict[str, Any]:
    """The entry's details as the audit trail may show them: for a change of clinical facts, no value."""
    details = entry.details if isinstance(entry.details, dict) else {}
    if entry.action not in CLINICAL_ACTIONS:
        return dict(details)
    return {key: (HIDDEN if key in CLINICAL_KEYS else value) for key, value in details.items()}


class _Hidden:
    def __str__(self) -> str:
        return str(_("kept in the client's record"))


HIDDEN = _Hidden()


class AuditDescriber:
    def __init__(self) -> None:
        self.actions = _actions()
        self.names = _detail_names()

    def action(self, entry: AuditEntry) -> str:
        return self.actions.get(entry.action, entry.action)

    def details(self, entry: AuditEntry, *, compact: bool = False) -> str:
        """The details in words. `compact` (a short list) names a record kept whole (a delivery's `before`
        and `after`) instead of spelling it out; the audit page shows it all."""
        details = audit_details_shown(entry)
        parts: list[str] = []
        records: list[str] = []
        for key, value in details.items():
            name = str(self.names.get(key, key))
            if compact and (isinstance(value, dict) or value is HIDDEN):
                records.append(name)
            elif key == "role" and value in Role.values:  # the role's label, not its code
                parts.append(f"{name}: {Role(value).label}")
            else:
                parts.append(f"{name}: {_value(value)}")
        return ", ".join(parts + sorted(records))

    def summary(self, entry: AuditEntry) -> str:
        """One line for a short list (the dashboard): the action, and what it concerned."""
        details = self.details(entry, compact=True)
        return f"{self.action(entry)} ({details})" if details else self.action(entry)


def describe_audit(entries: Any) -> list[tuple[AuditEntry, str, str]]:
    describe = AuditDescriber()
    return [(entry, describe.action(entry), describe.details(entry)) for entry in entries]


def summarise_audit(entries: Any) -> list[tuple[AuditEntry, str]]:
    describe = AuditDescriber()
    return [(entry, describe.summary(entry)) for entry in entries]
