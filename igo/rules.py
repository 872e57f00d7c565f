"""Permission predicates: who may do what, by role. Views and API views ask these, nothing else."""

from __future__ import annotations

from collections.abc import Iterable

from igo.models import CLINICAL_ROLES, MFA_ROLES, Role

RoleSet = frozenset[str]


def can_manage_members(roles: Iterable[str]) -> bool:
    return Role.IGO_ADMIN in set(roles)


def can_view_members(roles: Iterable[str]) -> bool:
    return bool({Role.IGO_ADMIN, Role.IGO_FINANCE} & set(roles))


def can_log_care(roles: Iterable[str]) -> bool:
    return bool(CLINICAL_ROLES & set(roles))


def lands_on_caseload(roles: Iterable[str]) -> bool:
    """Only clinical roles in the IGO: she starts her day on her caseload, not on the dashboard (an
    administrator or finance who also holds a clinical role keeps the dashboard)."""
    held = set(roles)
    return can_log_care(held) and not ({Role.IGO_ADMIN, Role.IGO_FINANCE} & held)


def can_record_birth(roles: Iterable[str]) -> bool:
    """Transfer the line, record or correct a delivery, end an episode: midwives and gynaecologists (the
    services also ask for a linked professional of an obstetric discipline). Maternity carers log hours
    and kraamzorg observations only."""
    return bool({Role.MIDWIFE, Role.GYNAECOLOGIST} & set(roles))


def can_view_catalogue(roles: Iterable[str]) -> bool:
    return can_log_care(roles) or can_manage_members(roles)


def can_record_experience(roles: Iterable[str]) -> bool:
    """Client experience questionnaires: clinicians enter what the client answered; IGO administrators
    enter paper questionnaires. The answers carry no medical information."""
    return can_log_care(roles) or Role.IGO_ADMIN in set(roles)


def can_import_experience(roles: Iterable[str]) -> bool:
    """Upload a file of questionnaire answers (from a survey tool): IGO administrators."""
    return Role.IGO_ADMIN in set(roles)


def can_import_prem(roles: Iterable[str]) -> bool:
    """Upload the PREM Geboortezorg file of the survey tool: IGO administrators, who answer for the IGO's
    quality (the platform has no separate quality-officer role)."""
    return Role.IGO_ADMIN in set(roles)


def can_view_finance(roles: Iterable[str]) -> bool:
    return bool({Role.IGO_FINANCE, Role.IGO_ADMIN} & set(roles))


def can_manage_finance(roles: Iterable[str]) -> bool:
    """Contracts, split rules and billing runs: IGO finance only (administrators may look, not change)."""
    return Role.IGO_FINANCE in set(roles)


def can_view_quality(roles: Iterable[str]) -> bool:
    """Quality dashboards and their aggregate exports: IGO administrators and finance."""
    return bool({Role.IGO_ADMIN, Role.IGO_FINANCE} & set(roles))


def can_manage_quality(roles: Iterable[str]) -> bool:
    """Start a recomputation of the indicators."""
    return Role.IGO_ADMIN in set(roles)


def can_view_quality_episodes(roles: Iterable[str]) -> bool:
    """The clients behind an indicator (name, masked BSN). Being counted in an indicator is clinical
    information (a caesarean, a stillbirth), so only administrators, who answer for the IGO's quality
    and already review client access, may open it; finance sees clients only as far as claims need."""
    return Role.IGO_ADMIN in set(roles)


def needs_mfa(*, roles: Iterable[str], is_insurer_user: bool, is_operator: bool) -> bool:
    """A second factor for everyone who can see client or billing data: every IGO role (MFA_ROLES is all
    of them), insurer users and operators. A user with none of these reaches nothing."""
    return is_insurer_user or is_operator or bool(MFA_ROLES & set(roles))
