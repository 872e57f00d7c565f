"""factory_boy factories. Tenant-owned models are created through the `unscoped` manager."""

import datetime

import factory
from factory.django import DjangoModelFactory

from igo.models import Insurer, InsurerMembership, Membership, Role, Tenant, User

PASSWORD = "correct-horse-battery-9"
# The TOTP secret of every member the factories make (a browser journey computes its codes from it).
TOTP_SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"


def second_factor(user: User) -> None:
    """Everyone with a role has a second factor (issue 16): a member made here gets an authenticator app
    with TOTP_SECRET unless she has a factor already. Pass `second_factor=False` for one without."""
    from allauth.mfa.models import Authenticator
    from allauth.mfa.totp.internal.auth import TOTP

    if not Authenticator.objects.filter(user=user, type=Authenticator.Type.TOTP).exists():
        TOTP.activate(user, TOTP_SECRET)


def _member_factor(obj, create, extracted, **kwargs):  # type: ignore[no-untyped-def]
    if create and extracted is not False:
        second_factor(obj.user)


class UnscopedFactory(DjangoModelFactory):
    class Meta:
        abstract = True

    @classmethod
    def _get_manager(cls, model_class):  # type: ignore[no-untyped-def]
        return model_class.unscoped


class UserFactory(DjangoModelFactory):
    class Meta:
        model = User
        django_get_or_create = ("email",)

    email = factory.Sequence(lambda n: f"user{n}@example.test")
    full_name = factory.Faker("name", locale="nl_NL")
    password = factory.PostGenerationMethodCall("set_password", PASSWORD)

    @classmethod
    def _after_postgeneration(cls, instance, create, results=None):  # type: ignore[no-untyped-def]
        if create and results:
            instance.save()


class TenantFactory(DjangoModelFactory):
    class Meta:
        model = Tenant

    name = factory.Sequence(lambda n: f"IGO Regio {n}")
    slug = factory.Sequence(lambda n: f"igo-regio-{n}")
    agb_code = factory.Sequence(lambda n: f"53{n:06d}")
    # Most tests have one finance user make and release a batch; the four-eyes tests switch it on
    # (tests/billing/test_batch_four_eyes.py), as a new IGO made by the platform has it.
    batch_four_eyes = False


class MembershipFactory(UnscopedFactory):
    class Meta:
        model = Membership
        skip_postgeneration_save = True

    second_factor = factory.PostGeneration(_member_factor)

    tenant = factory.SubFactory(TenantFactory)
    user = factory.SubFactory(UserFactory)
    role = Role.MIDWIFE


class InsurerFactory(DjangoModelFactory):
    class Meta:
        model = Insurer
        django_get_or_create = ("uzovi_code",)

    # Four digits whatever the sequence has reached in a long run (9000-9999: no real insurer's code).
    uzovi_code = factory.Sequence(lambda n: f"{9000 + n % 1000:04d}")
    name = factory.Sequence(lambda n: f"Verzekeraar {n}")


class InsurerMembershipFactory(DjangoModelFactory):
    class Meta:
        model = InsurerMembership
        skip_postgeneration_save = True

    second_factor = factory.PostGeneration(_member_factor)

    user = factory.SubFactory(UserFactory)
    insurer = factory.SubFactory(InsurerFactory)


class MemberOrganisationFactory(UnscopedFactory):
    class Meta:
        model = "providers.MemberOrganisation"

    tenant = factory.SubFactory(TenantFactory)
    name = factory.Sequence(lambda n: f"Verloskundigenpraktijk {n}")
    kind = "midwifery_practice"
    agb_code = factory.Sequence(lambda n: f"02{n:06d}")
    member_from = datetime.date(2024, 1, 1)


class ProfessionalFactory(UnscopedFactory):
    class Meta:
        model = "providers.Professional"

    tenant = factory.SubFactory(TenantFactory)
    organisation = factory.SubFactory(MemberOrganisationFactory, tenant=factory.SelfAttribute("..tenant"))
    full_name = factory.Faker("name", locale="nl_NL")
    discipline = "midwife"
    big_number = factory.Sequence(lambda n: f"{19000000000 + n}")
    agb_code = factory.Sequence(lambda n: f"03{n:06d}")


class ClientFactory(UnscopedFactory):
    class Meta:
        model = "pregnancies.Client"

    tenant = factory.SubFactory(TenantFactory)
    family_name = factory.Faker("last_name", locale="nl_NL")
    given_names = factory.Faker("first_name_female", locale="nl_NL")
    date_of_birth = datetime.date(1994, 5, 17)
    bsn = factory.Sequence(lambda n: valid_bsn(n))


class EpisodeFactory(UnscopedFactory):
    class Meta:
        model = "pregnancies.Episode"

    tenant = factory.SubFactory(TenantFactory)
    client = factory.SubFactory(ClientFactory, tenant=factory.SelfAttribute("..tenant"))
    intake_date = datetime.date(2026, 6, 1)
    due_date = datetime.date(2026, 12, 7)
    gestational_age_at_intake = 84


def valid_bsn(n: int) -> str:
    """The n-th nine-digit number that passes the eleven-test (deterministic, for factories). Nine digits
    for any n: past about 24 million steps it wraps (a long run's tenant ids times 10,000 got there, and a
    ten-digit "BSN" does not fit the column)."""
    base = 100_000_000 + (n * 37) % 899_998_000
    while True:
        candidate = f"{base:09d}"
        digits = [int(d) for d in candidate]
        if (sum(d * w for d, w in zip(digits[:8], range(9, 1, -1), strict=True)) - digits[8]) % 11 == 0:
            return candidate
        base += 1


class CareEventFactory(UnscopedFactory):
    class Meta:
        model = "pregnancies.CareEvent"

    tenant = factory.SubFactory(TenantFactory)
    episode = factory.SubFactory(EpisodeFactory, tenant=factory.SelfAttribute("..tenant"))
    event_type = factory.LazyAttribute(
        lambda o: __import__("pregnancies.models", fromlist=["EventType"]).EventType.unscoped.get_or_create(
            tenant=o.tenant,
            code="PRE_CHECK",
            defaults={
                "name_nl": "Prenatale controle",
                "name_en": "Prenatal check",
                "phase": "prenatal",
                "disciplines": ["midwife"],
            },
        )[0]
    )
    occurred_at = factory.LazyFunction(lambda: datetime.datetime(2026, 7, 1, 10, 0, tzinfo=datetime.UTC))
    phase = "prenatal"
    professional = factory.SubFactory(ProfessionalFactory, tenant=factory.SelfAttribute("..tenant"))
    organisation = factory.SelfAttribute("professional.organisation")
    created_by = factory.SubFactory(UserFactory)
