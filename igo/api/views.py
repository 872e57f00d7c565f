"""API: the signed-in user, and the users and roles of an IGO."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema
from rest_framework import generics, serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from igo import rules, selectors
from igo.api.base import ScopedQuerysetMixin, TenantAPIMixin
from igo.models import Membership


class TenantRefSerializer(serializers.Serializer):
    slug = serializers.CharField()
    name = serializers.CharField()
    roles = serializers.ListField(child=serializers.CharField())


class InsurerRefSerializer(serializers.Serializer):
    uzovi_code = serializers.CharField()
    name = serializers.CharField()


class MeSerializer(serializers.Serializer):
    email = serializers.EmailField()
    full_name = serializers.CharField()
    tenants = TenantRefSerializer(many=True)
    insurers = InsurerRefSerializer(many=True)


class MeView(APIView):
    @extend_schema(responses=MeSerializer, summary="The signed-in user, their IGOs and roles")
    def get(self, request: Request) -> Response:
        user: Any = request.user
        tenants = [
            {"slug": t.slug, "name": t.name, "roles": sorted(selectors.user_roles(user=user, tenant=t))}
            for t in selectors.user_tenants(user=user)
        ]
        insurers = [{"uzovi_code": i.uzovi_code, "name": i.name} for i in selectors.user_insurers(user=user)]
        data = {"email": user.email, "full_name": user.full_name, "tenants": tenants, "insurers": insurers}
        return Response(MeSerializer(data).data)


class MembershipSerializer(serializers.ModelSerializer):
    email = serializers.EmailField(source="user.email", read_only=True)
    full_name = serializers.CharField(source="user.full_name", read_only=True)

    class Meta:
        model = Membership
        fields = ["id", "email", "full_name", "role", "is_active", "created_at", "ended_at"]


class MembershipListView(ScopedQuerysetMixin, TenantAPIMixin, generics.ListAPIView):
    serializer_class = MembershipSerializer
    model = Membership
    tenant_rule = staticmethod(rules.can_view_members)

    def scoped_queryset(self) -> QuerySet[Membership]:
        return selectors.membership_list(include_ended=True)


class MembershipDetailView(ScopedQuerysetMixin, TenantAPIMixin, generics.RetrieveAPIView):
    serializer_class = MembershipSerializer
    model = Membership
    tenant_rule = staticmethod(rules.can_view_members)

    def scoped_queryset(self) -> QuerySet[Membership]:
        return Membership.objects.select_related("user")
