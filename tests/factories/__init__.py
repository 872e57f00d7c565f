"""factory_boy factories. Tenant-owned models are created through the `unscoped` manager."""

import datetime

import factory
from factory.django import DjangoModelFactory

from igo.models import Insurer, InsurerMembership, Membership, Role, Tenant, User

PASSWORD = "correct-horse-battery-9"


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


class MembershipFactory(UnscopedFactory):
    class Meta:
        model = Membership

    tenant = factory.SubFactory(TenantFactory)
    user = factory.SubFactory(UserFactory)
    role = Role.MIDWIFE


class InsurerFactory(DjangoModelFactory):
    class Meta:
        model = Insurer
        django_get_or_create = ("uzovi_code",)

    uzovi_code = factory.Sequence(lambda n: f"{9000 + n:04d}")
    name = factory.Sequence(lambda n: f"Verzekeraar {n}")


class InsurerMembershipFactory(DjangoModelFactory):
    class Meta:
        model = InsurerMembership

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
