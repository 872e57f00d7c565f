"""Accounts and tenancy: users, IGOs (tenants), their memberships and invitations, insurers."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, ClassVar

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.contrib.auth.models import PermissionsMixin
from django.core.validators import RegexValidator
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from igo.tenancy import TenantManager, TenantOwned
from igo.validators import validate_igo_agb_code, validate_uzovi_code


class UserManager(BaseUserManager["User"]):
    use_in_migrations = True

    def _create_user(self, email: str, password: str | None, **extra: object) -> User:
        if not email:
            raise ValueError("An e-mail address is required")
        user = self.model(email=self.normalize_email(email).lower(), **extra)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_user(self, email: str, password: str | None = None, **extra: object) -> User:
        extra.setdefault("is_staff", False)
        extra.setdefault("is_superuser", False)
        return self._create_user(email, password, **extra)

    def create_superuser(self, email: str, password: str | None = None, **extra: object) -> User:
        extra["is_staff"] = True
        extra["is_superuser"] = True
        return self._create_user(email, password, **extra)


class User(AbstractBaseUser, PermissionsMixin):
    """A person who signs in: a professional, an IGO administrator, an insurer employee or an operator."""

    email = models.EmailField(_("e-mail address"), unique=True)
    full_name = models.CharField(_("full name"), max_length=150, blank=True)
    is_staff = models.BooleanField(
        _("platform operator"), default=False, help_text=_("Operators create tenants and use the admin site.")
    )
    is_active = models.BooleanField(_("active"), default=True)
    date_joined = models.DateTimeField(_("date joined"), default=timezone.now)
    # Raised in the same transaction as every change to what the user may reach (her memberships and
    # roles, their IGOs, her insurer links, her second factors: igo.access). The cached access of a request
    # is keyed by it, and the user row is read on every request anyway, so a change counts from the next
    # request on, whatever the cache holds or whether it answers at all.
    access_version = models.PositiveIntegerField(default=0, editable=False)

    objects = UserManager()

    EMAIL_FIELD = "email"
    USERNAME_FIELD = "email"
    REQUIRED_FIELDS: list[str] = []  # type: ignore[misc]

    class Meta:
        verbose_name = _("user")
        verbose_name_plural = _("users")
        constraints = [models.UniqueConstraint(Lower("email"), name="user_email_ci_unique")]

    def __str__(self) -> str:
        return self.full_name or self.email

    def save(self, *args: Any, **kwargs: Any) -> None:
        # A saved user never writes `access_version` back: an object read before a change to her access
        # would otherwise lower it again, and the cache would serve the access from before the change.
        if (
            not self._state.adding
            and not args
            and kwargs.get("update_fields") is None
            and not kwargs.get("force_insert")
        ):
            deferred = self.get_deferred_fields()
            kwargs["update_fields"] = [
                f.attname
                for f in self._meta.concrete_fields
                if not f.primary_key and f.attname not in deferred and f.name != "access_version"
            ]
        super().save(*args, **kwargs)

    def get_full_name(self) -> str:
        return self.full_name or self.email

    def get_short_name(self) -> str:
        return self.full_name.split(" ")[0] if self.full_name else self.email.split("@")[0]


def access_version_raise(user_ids: Any) -> None:
    """Raise the access version of these users (ids, or a subquery of ids) in the current transaction: their
    cached access (igo.access) is not read again."""
    User.objects.filter(pk__in=user_ids).update(access_version=models.F("access_version") + 1)


class AccessQuerySet(models.QuerySet):
    """The queryset of a model that decides what users may reach (memberships, IGOs, insurer links,
    insurers). Saves and deletes raise the users' access version through signals (igo.access); `update` and
    `bulk_create` send none, so they raise it here, in the same transaction."""

    def _access_users(self) -> list[int]:
        raise NotImplementedError

    def update(self, **kwargs: Any) -> int:
        from django.db import transaction

        with transaction.atomic(using=self.db):
            users = self._access_users()  # before the update, which may change what the filter selects
            count = super().update(**kwargs)
            access_version_raise(users)
        return count

    def bulk_create(self, objs: Iterable[Any], *args: Any, **kwargs: Any) -> list[Any]:
        from django.db import transaction

        with transaction.atomic(using=self.db):
            created = super().bulk_create(objs, *args, **kwargs)
            users = {getattr(o, "user_id", None) for o in created} - {None}
            if users:
                access_version_raise(list(users))
        return created


class UserLinkQuerySet(AccessQuerySet):
    def _access_users(self) -> list[int]:
        return list(self.values_list("user_id", flat=True).distinct().order_by())


class IgoQuerySet(AccessQuerySet):
    def _access_users(self) -> list[int]:
        pks = list(self.values_list("pk", flat=True))
        return list(
            Membership.unscoped.filter(tenant_id__in=pks).values_list("user_id", flat=True).distinct()
        )


class InsurerQuerySet(AccessQuerySet):
    def _access_users(self) -> list[int]:
        pks = list(self.values_list("pk", flat=True))
        return list(
            InsurerMembership.objects.filter(insurer_id__in=pks).values_list("user_id", flat=True).distinct()
        )


slug_validator = RegexValidator(
    r"^[a-z0-9]+(?:-[a-z0-9]+)*$", _("Use lower-case letters, digits and single hyphens only.")
)


class Tenant(models.Model):
    """An integrated birth-care organisation (IGO): the tenant that owns all care and billing data."""

    name = models.CharField(_("name"), max_length=200)
    slug = models.SlugField(
        _("short name in addresses"), max_length=50, unique=True, validators=[slug_validator]
    )
    agb_code = models.CharField(_("AGB code"), max_length=8, unique=True, validators=[validate_igo_agb_code])
    is_active = models.BooleanField(_("active"), default=True)
    # The account member payouts are paid from (the debtor of the SEPA credit-transfer file).
    iban = models.CharField(_("IBAN"), max_length=34, blank=True)
    bic = models.CharField(_("BIC"), max_length=11, blank=True)
    # Four eyes on claim batches: whoever made or last rebuilt a batch cannot release it to the insurer
    # (billing.services.batches.batch_release). On for a new IGO, which needs two finance users for its
    # payouts anyway; an IGO with one finance person has its administrator switch it off (audited).
    batch_four_eyes = models.BooleanField(
        _("four eyes on claim batches"),
        default=True,
        help_text=_("The finance user who made or last rebuilt a claim batch cannot release it herself."),
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    objects = models.Manager.from_queryset(IgoQuerySet)()

    class Meta:
        verbose_name = _("IGO")
        verbose_name_plural = _("IGOs")
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(agb_code__regex=r"^53[0-9]{6}$"), name="tenant_agb_type_53"
            ),
        ]

    def __str__(self) -> str:
        return self.name


class Role(models.TextChoices):
    MIDWIFE = "midwife", _("Midwife")
    GYNAECOLOGIST = "gynaecologist", _("Gynaecologist")
    MATERNITY_CARER = "maternity_carer", _("Maternity carer")
    IGO_ADMIN = "igo_admin", _("IGO administrator")
    IGO_FINANCE = "igo_finance", _("IGO finance")


CLINICAL_ROLES = frozenset({Role.MIDWIFE, Role.GYNAECOLOGIST, Role.MATERNITY_CARER})
# Every role signs in with a second factor: clinicians open full client records, and NEN 7510 asks
# strong authentication for any access to patient data (issue 16), not only for money and accounts.
MFA_ROLES = frozenset(Role)


class Membership(TenantOwned):
    """A user's role in one IGO. A user may hold several roles in several IGOs."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(_("role"), max_length=32, choices=Role.choices)
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    ended_at = models.DateTimeField(_("ended at"), null=True, blank=True)

    objects = TenantManager.from_queryset(UserLinkQuerySet)()  # type: ignore[misc]
    unscoped = models.Manager.from_queryset(UserLinkQuerySet)()  # type: ignore[misc]

    class Meta:
        verbose_name = _("membership")
        verbose_name_plural = _("memberships")
        constraints = [
            models.UniqueConstraint(fields=["tenant", "user", "role"], name="membership_unique_role"),
        ]
        indexes = [models.Index(fields=["user", "is_active"])]

    def __str__(self) -> str:
        return f"{self.user} – {self.get_role_display()}"


class Invitation(TenantOwned):
    """An invitation by an IGO administrator to join the IGO with a role, or by a platform operator to
    work for an insurer (then `insurer` is set and `tenant` and `role` are empty: the scoped manager of
    an IGO never sees it).

    The link carries a token signed with the SECRET_KEY over the id and a random nonce, so a copy of
    the database alone is not enough to accept someone else's invitation.
    """

    tenant = models.ForeignKey(  # type: ignore[assignment]
        "igo.Tenant", on_delete=models.PROTECT, related_name="+", null=True, blank=True
    )
    insurer = models.ForeignKey(
        "igo.Insurer",
        on_delete=models.PROTECT,
        related_name="invitations",
        null=True,
        blank=True,
        verbose_name=_("insurer"),
    )
    email = models.EmailField(_("e-mail address"))
    full_name = models.CharField(_("full name"), max_length=150, blank=True)
    role = models.CharField(_("role"), max_length=32, choices=Role.choices, blank=True)
    nonce = models.CharField(max_length=32, unique=True, editable=False)
    invited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    expires_at = models.DateTimeField(_("expires at"))
    sent_at = models.DateTimeField(_("sent at"), null=True, blank=True)
    accepted_at = models.DateTimeField(_("accepted at"), null=True, blank=True)
    accepted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    revoked_at = models.DateTimeField(_("revoked at"), null=True, blank=True)

    class Meta:
        verbose_name = _("invitation")
        verbose_name_plural = _("invitations")
        ordering = ["-created_at"]
        constraints = [
            # At most one open invitation per address and role in an IGO.
            models.UniqueConstraint(
                Lower("email"),
                "tenant",
                "role",
                condition=models.Q(accepted_at__isnull=True, revoked_at__isnull=True),
                name="invitation_one_open_per_email_role",
            ),
            models.UniqueConstraint(
                Lower("email"),
                "insurer",
                condition=models.Q(accepted_at__isnull=True, revoked_at__isnull=True, insurer__isnull=False),
                name="invitation_one_open_per_email_insurer",
            ),
            # Either to an IGO with a role, or to an insurer: never both, never neither.
            models.CheckConstraint(
                condition=(models.Q(tenant__isnull=False, insurer__isnull=True) & ~models.Q(role=""))
                | models.Q(tenant__isnull=True, insurer__isnull=False, role=""),
                name="invitation_igo_role_or_insurer",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.email} ({self.get_role_display()})"

    @property
    def is_open(self) -> bool:
        return self.accepted_at is None and self.revoked_at is None and self.expires_at > timezone.now()

    @property
    def status(self) -> str:
        if self.accepted_at:
            return str(_("accepted"))
        if self.revoked_at:
            return str(_("revoked"))
        if self.expires_at <= timezone.now():
            return str(_("expired"))
        return str(_("open"))


class Insurer(models.Model):
    """A health insurer (zorgverzekeraar), identified by its UZOVI code. Shared by all tenants."""

    uzovi_code = models.CharField(
        _("UZOVI code"), max_length=4, unique=True, validators=[validate_uzovi_code]
    )
    name = models.CharField(_("name"), max_length=200)
    is_active = models.BooleanField(_("active"), default=True)

    objects = models.Manager.from_queryset(InsurerQuerySet)()

    class Meta:
        verbose_name = _("insurer")
        verbose_name_plural = _("insurers")
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(uzovi_code__regex=r"^[0-9]{4}$"), name="insurer_uzovi_4_digits"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.uzovi_code})"


class InsurerMembership(models.Model):
    """Links an insurer's employee to the insurer; such users see only what is addressed to that insurer."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="insurer_memberships"
    )
    insurer = models.ForeignKey(Insurer, on_delete=models.PROTECT, related_name="memberships")
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    objects = models.Manager.from_queryset(UserLinkQuerySet)()

    class Meta:
        verbose_name = _("insurer user")
        verbose_name_plural = _("insurer users")
        constraints = [models.UniqueConstraint(fields=["user", "insurer"], name="insurer_membership_unique")]

    def __str__(self) -> str:
        return f"{self.user} @ {self.insurer}"


class KeysRevokedBecause(models.TextChoices):
    """Why the platform revoked a user's API keys: her account was recovered, or her access was ended
    (igo.services)."""

    PASSWORD_CHANGED = "password_changed", _("password changed")
    PASSWORD_RESET = "password_reset", _("password reset")
    FACTOR_REMOVED = "factor_removed", _("second factor removed")
    FACTOR_RESET = "factor_reset", _("second factor or recovery codes reset")
    OPERATOR_RESET = "operator_reset", _("second factor reset by an operator")
    OPERATOR_PASSWORD = "operator_password", _("password set by an operator")
    ACCESS_ENDED = "access_ended", _("the maker's access was ended")


class InsurerApiToken(models.Model):
    """A key for the insurer API. Only its SHA-256 is stored; it expires and can be revoked."""

    insurer = models.ForeignKey(Insurer, on_delete=models.PROTECT, related_name="api_tokens")
    name = models.CharField(_("name"), max_length=100)
    prefix = models.CharField(max_length=8)
    key_hash = models.CharField(max_length=64, unique=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    expires_at = models.DateTimeField(_("expires at"))
    revoked_at = models.DateTimeField(_("revoked at"), null=True, blank=True)
    # Why a key was revoked without its owner asking: her account was recovered (igo.services.api_keys_revoke_
    # for_user). Empty for a key revoked by hand.
    revoked_because = models.CharField(
        _("revoked because"), max_length=32, choices=KeysRevokedBecause.choices, blank=True
    )
    last_used_at = models.DateTimeField(_("last used"), null=True, blank=True)

    class Meta:
        verbose_name = _("API token")
        verbose_name_plural = _("API tokens")
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(expires_at__gt=models.F("created_at")), name="api_token_expires_later"
            )
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    def is_usable(self, now: Any = None) -> bool:
        now = now or timezone.now()
        return self.revoked_at is None and self.expires_at > now


def identity_snapshots_fill(rows: Sequence[AppendOnly]) -> None:
    """Copy the name and e-mail of each user a log row names into the row, as they are now.

    A log must say who acted as that person was known at the time: a later change of e-mail address must not
    move earlier entries to the new address (NEN 7513). Users not loaded with the rows are read in one query.
    """
    missing: set[int] = set()
    for row in rows:
        for fk in row.identity_snapshots:
            if getattr(row, f"{fk}_id") is not None and not row._state.fields_cache.get(fk):
                missing.add(getattr(row, f"{fk}_id"))
    found = User.objects.in_bulk(missing) if missing else {}
    for row in rows:
        for fk, (name_field, email_field) in row.identity_snapshots.items():
            user_id = getattr(row, f"{fk}_id")
            if user_id is None or getattr(row, email_field):
                continue
            user = row._state.fields_cache.get(fk) or found.get(user_id)
            if user is not None:
                setattr(row, name_field, user.full_name)
                setattr(row, email_field, user.email)


class AppendOnlyQuerySet(models.QuerySet):
    def bulk_create(self, objs: Iterable[Any], *args: Any, **kwargs: Any) -> list[Any]:
        objs = list(objs)
        identity_snapshots_fill(objs)
        return super().bulk_create(objs, *args, **kwargs)


AppendOnlyManager = models.Manager.from_queryset(AppendOnlyQuerySet)


class PersonalApiToken(models.Model):
    """A user's own key for the IGO API, made by herself after re-authentication. Only its SHA-256 is
    stored; it expires (at most PERSONAL_TOKEN_DAYS_MAX days) and can be revoked."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="personal_api_tokens"
    )
    name = models.CharField(_("name"), max_length=100)
    prefix = models.CharField(max_length=8)
    key_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    expires_at = models.DateTimeField(_("expires at"))
    revoked_at = models.DateTimeField(_("revoked at"), null=True, blank=True)
    # Why a key was revoked without its owner asking: her account was recovered (igo.services.api_keys_revoke_
    # for_user). Empty for a key revoked by hand.
    revoked_because = models.CharField(
        _("revoked because"), max_length=32, choices=KeysRevokedBecause.choices, blank=True
    )
    last_used_at = models.DateTimeField(_("last used"), null=True, blank=True)

    class Meta:
        verbose_name = _("personal API key")
        verbose_name_plural = _("personal API keys")
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(expires_at__gt=models.F("created_at")),
                name="personal_token_expires_later",
            )
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    def is_usable(self, now: Any = None) -> bool:
        now = now or timezone.now()
        return self.revoked_at is None and self.expires_at > now


class AppendOnly(models.Model):
    """A row that is written once: saving an existing row or deleting one raises.

    `identity_snapshots` maps a user foreign key to the fields that keep that user's name and e-mail as they
    were when the row was written (filled by `save` and by the managers' `bulk_create`).
    """

    identity_snapshots: ClassVar[dict[str, tuple[str, str]]] = {}

    class Meta:
        abstract = True

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.pk is not None and not self._state.adding:
            raise RuntimeError(f"{type(self).__name__} rows are append-only.")
        identity_snapshots_fill([self])
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        raise RuntimeError(f"{type(self).__name__} rows are append-only.")


class AuditEntry(AppendOnly):
    """Append-only record of an administrative action (who did what to which object, when).

    The application never updates or deletes these rows; on PostgreSQL a trigger refuses it too.
    """

    tenant = models.ForeignKey(Tenant, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+")
    # The actor's name and e-mail when the entry was written (rows from before 2026-12 hold the values of
    # the day the column was added: igo/migrations/0006_identity_snapshots.py).
    actor_name = models.CharField(_("name at the time"), max_length=150, blank=True)
    actor_email = models.EmailField(_("e-mail address at the time"), blank=True)
    action = models.CharField(max_length=64)
    object_type = models.CharField(max_length=64, blank=True)
    object_id = models.CharField(max_length=64, blank=True)
    details = models.JSONField(default=dict, blank=True)
    at = models.DateTimeField(default=timezone.now, db_index=True)

    objects = AppendOnlyManager()
    identity_snapshots: ClassVar[dict[str, tuple[str, str]]] = {"actor": ("actor_name", "actor_email")}

    class Meta:
        verbose_name = _("audit entry")
        verbose_name_plural = _("audit entries")
        ordering = ["-at"]
        indexes = [models.Index(fields=["tenant", "-at"])]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} {self.action}"

    @property
    def actor_label(self) -> str:
        return identity_label(self.actor_name, self.actor_email)


def identity_label(name: str, email: str) -> str:
    """How a log shows a user it names: the name and e-mail address stored with the entry."""
    if name and email:
        return f"{name} <{email}>"
    return name or email
