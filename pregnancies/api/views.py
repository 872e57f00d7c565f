"""API for care logging: find and register clients, read episodes, log, correct and void care events.

Thin views over `pregnancies.services` (writes) and `pregnancies.selectors` (reads), for clinical roles
only (`rules.can_log_care`), so medical notes never reach other roles. Objects are looked up through the
tenant-scoped default managers before the body is read: another IGO's object is a 404. A service's
django `ValidationError` becomes a 400 with the same field keys (igo.api.errors: `__all__` becomes
`non_field_errors`; the services' `change_reason` is reported under the request field `reason`).
"""

from __future__ import annotations

import re
from typing import Any, cast

from django.core.exceptions import PermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import Prefetch, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import generics, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from igo import rules
from igo.api.base import ScopedQuerysetMixin, TenantAPIMixin
from igo.api.errors import validation_error_detail
from igo.models import User
from igo.tenancy import current_tenant
from pregnancies import delivery, plausibility, selectors, services
from pregnancies.api.serializers import (
    CareEventCorrectResultSerializer,
    CareEventCorrectSerializer,
    CareEventCreateSerializer,
    CareEventResultSerializer,
    CareEventSerializer,
    CareEventVoidSerializer,
    ClientDetailSerializer,
    ClientSearchSerializer,
    ClientSummarySerializer,
    DeliveryInputSerializer,
    DeliverySerializer,
    EpisodeDetailSerializer,
    EpisodeSummarySerializer,
    EventListQuerySerializer,
    EventTypeSerializer,
    IntakeResultSerializer,
    IntakeSerializer,
    PregnancySerializer,
)
from pregnancies.models import AccessAction, Birth, CareEvent, Client, ClientInsurance, Episode

TAGS = ["care"]
FIELD_ERRORS = OpenApiResponse(
    response=OpenApiTypes.OBJECT,
    description="Input refused: `{field: [messages]}`; reasons not tied to one field are under "
    "`non_field_errors`. Nothing was stored.",
)

# The request field that carries the reason is `reason`; the services call it `change_reason`.
REASON_KEYS = {"change_reason": "reason"}


def _actor(request: Request) -> User:
    return cast(User, request.user)


class CareAPIView(TenantAPIMixin, generics.GenericAPIView):
    """For the clinical roles of the IGO (midwife, gynaecologist, maternity carer); other roles get 403."""

    tenant_rule = staticmethod(rules.can_log_care)
    pagination_class = None  # lists are bounded: one episode's events, the catalogue, 25 search hits

    def parse(self, serializer_class: type[serializers.Serializer], data: Any) -> dict[str, Any]:
        serializer = serializer_class(data=data, context=self.get_serializer_context())
        serializer.is_valid(raise_exception=True)
        return dict(serializer.validated_data)


class ClientSearchView(CareAPIView):
    """POST keeps the BSN out of URLs, query strings and server logs."""

    serializer_class = ClientSearchSerializer

    @extend_schema(
        tags=TAGS,
        operation_id="care_client_search",
        summary="Find clients by BSN, name and/or date of birth (at most 25)",
        request=ClientSearchSerializer,
        responses={200: ClientSummarySerializer(many=True), 400: FIELD_ERRORS},
    )
    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        data = self.parse(ClientSearchSerializer, request.data)
        results = selectors.client_search(q=data["q"], date_of_birth=data["date_of_birth"])
        services.access_log_many(user=_actor(request), clients=results, action=AccessAction.SEARCH)
        return Response(ClientSummarySerializer(results, many=True).data)


class ClientCreateView(CareAPIView):
    serializer_class = IntakeSerializer

    @extend_schema(
        tags=TAGS,
        operation_id="care_client_intake",
        summary="Register a client with her insurance and first pregnancy episode",
        request=IntakeSerializer,
        responses={201: IntakeResultSerializer, 400: FIELD_ERRORS},
    )
    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        data = self.parse(IntakeSerializer, request.data)
        actor = _actor(request)
        tenant = current_tenant()
        client, episode = services.intake_register(
            tenant=tenant,
            actor=actor,
            **{k: data[k] for k in services.INTAKE_FIELDS},
        )
        result = IntakeResultSerializer({"client_id": client.pk, "episode_id": episode.pk})
        return Response(result.data, status=status.HTTP_201_CREATED)


class ClientDetailView(ScopedQuerysetMixin, CareAPIView):
    serializer_class = ClientDetailSerializer
    model = Client

    def scoped_queryset(self) -> QuerySet[Client]:
        return Client.objects.prefetch_related(
            Prefetch("insurances", queryset=ClientInsurance.objects.select_related("insurer")),
            Prefetch("episodes", queryset=Episode.objects.order_by("-intake_date")),
        )

    @extend_schema(
        tags=TAGS,
        operation_id="care_client_retrieve",
        summary="A client with her insurances and episodes (BSN masked)",
        responses=ClientDetailSerializer,
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        client = self.get_object()
        services.access_log(user=_actor(request), client=client, action=AccessAction.VIEW, obj=client)
        return Response(ClientDetailSerializer(client).data)


class ClientEpisodesView(ScopedQuerysetMixin, CareAPIView):
    serializer_class = PregnancySerializer
    model = Client

    def scoped_queryset(self) -> QuerySet[Client]:
        return Client.objects.all()

    @extend_schema(
        tags=TAGS,
        operation_id="care_client_pregnancy_start",
        summary="Start a new pregnancy episode for a known client",
        description="Checked as an intake is; the intake's care event is logged for the caller. `gravida` and "
        "`parity` left out are derived from her earlier episodes (gravida one more; parity one more when "
        "the previous pregnancy ended in a birth at 24+0 weeks or later). Refused (400, "
        "`non_field_errors`) while she has an active episode.",
        request=PregnancySerializer,
        responses={201: EpisodeSummarySerializer, 400: FIELD_ERRORS},
    )
    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        client = self.get_object()
        data = self.parse(PregnancySerializer, request.data)
        episode = services.pregnancy_start(
            client=client, actor=_actor(request), today=timezone.localdate(), **data
        )
        return Response(EpisodeSummarySerializer(episode).data, status=status.HTTP_201_CREATED)


class EpisodeDetailView(ScopedQuerysetMixin, CareAPIView):
    serializer_class = EpisodeDetailSerializer
    model = Episode

    def scoped_queryset(self) -> QuerySet[Episode]:
        return Episode.objects.select_related("client", "coordinating_professional").prefetch_related(
            Prefetch("births", queryset=Birth.objects.order_by("child_number"))
        )

    @extend_schema(
        tags=TAGS,
        operation_id="care_episode_retrieve",
        summary="An episode with its key dates, births and outcomes, and its active care events by phase",
        responses=EpisodeDetailSerializer,
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        episode = self.get_object()
        services.access_log(
            user=_actor(request), client=episode.client, action=AccessAction.VIEW, obj=episode
        )
        timeline = selectors.episode_timeline(episode=episode)
        return Response(EpisodeDetailSerializer(episode, context={"timeline": timeline}).data)


class EpisodeEventsView(ScopedQuerysetMixin, CareAPIView):
    serializer_class = CareEventSerializer
    model = Episode

    def scoped_queryset(self) -> QuerySet[Episode]:
        return Episode.objects.select_related("client")

    def service_error_detail(self, exc: DjangoValidationError) -> dict[str, Any]:
        """A repeat of the same entry within its window also says so by `code`, for a client to ask the
        user and send the request again with `confirm_duplicate`."""
        detail: dict[str, Any] = validation_error_detail(exc)
        if hasattr(exc, "error_dict") and any(
            e.code == services.DUPLICATE_CODE for e in exc.error_dict.get("confirm_duplicate", [])
        ):
            detail["code"] = services.DUPLICATE_CODE
        return detail

    @extend_schema(
        tags=TAGS,
        operation_id="care_episode_events_list",
        summary="The care events of an episode in time order",
        parameters=[EventListQuerySerializer],
        responses={200: CareEventSerializer(many=True), 400: FIELD_ERRORS},
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        episode = self.get_object()
        query = self.parse(EventListQuerySerializer, request.query_params)
        services.access_log(
            user=_actor(request),
            client=episode.client,
            action=AccessAction.VIEW,
            obj=episode,
            detail="events",
        )
        timeline = selectors.episode_timeline(episode=episode, include_history=query["include_history"])
        events = sorted(
            (event for group in timeline.values() for event in group), key=lambda e: (e.occurred_at, e.pk)
        )
        return Response(CareEventSerializer(events, many=True).data)

    @extend_schema(
        tags=TAGS,
        operation_id="care_episode_events_create",
        summary="Log a care event",
        description="`event_type` is the catalogue code (see `event-types/`). The professional and "
        "organisation are those linked to the caller. 201 when logged; 200 with the first event when "
        "the `submission_key` was used before. Warnings (e.g. confirmed hours over the maximum) are in "
        "`warnings`.",
        request=CareEventCreateSerializer,
        responses={
            201: CareEventResultSerializer,
            200: CareEventResultSerializer,
            400: FIELD_ERRORS,
        },
    )
    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        episode = self.get_object()
        data = self.parse(CareEventCreateSerializer, request.data)
        event, created, warnings = services.care_event_log(actor=_actor(request), episode=episode, **data)
        result = CareEventResultSerializer({"event": event, "created": created, "warnings": warnings})
        return Response(result.data, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)


class _EventChangeView(ScopedQuerysetMixin, CareAPIView):
    model = CareEvent

    def scoped_queryset(self) -> QuerySet[CareEvent]:
        return CareEvent.objects.select_related("episode__client", "event_type", "professional")

    def service_error_detail(self, exc: DjangoValidationError) -> dict[str, list[str]]:
        return validation_error_detail(exc, REASON_KEYS)


class EventCorrectView(_EventChangeView):
    serializer_class = CareEventCorrectSerializer

    @extend_schema(
        tags=TAGS,
        operation_id="care_event_correct",
        summary="Correct a care event you logged",
        description="Left-out fields keep their value. The original stays, marked as corrected with the "
        "reason; the response holds the new event.",
        request=CareEventCorrectSerializer,
        responses={201: CareEventCorrectResultSerializer, 400: FIELD_ERRORS},
    )
    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        event = self.get_object()
        data = self.parse(CareEventCorrectSerializer, request.data)
        new, warnings = services.care_event_correct(
            event=event,
            actor=_actor(request),
            reason=data["reason"],
            event_type=data.get("event_type"),
            occurred_at=data.get("occurred_at"),
            quantity=data.get("quantity"),
            location=data.get("location"),
            note=data.get("note"),
            confirm_over_limit=data["confirm_over_limit"],
        )
        result = CareEventCorrectResultSerializer({"event": new, "warnings": warnings})
        return Response(result.data, status=status.HTTP_201_CREATED)


class EventVoidView(_EventChangeView):
    serializer_class = CareEventVoidSerializer

    @extend_schema(
        tags=TAGS,
        operation_id="care_event_void",
        summary="Void a care event you logged (it stays in the history)",
        request=CareEventVoidSerializer,
        responses={200: CareEventSerializer, 400: FIELD_ERRORS},
    )
    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        event = self.get_object()
        data = self.parse(CareEventVoidSerializer, request.data)
        voided = services.care_event_void(event=event, actor=_actor(request), reason=data["reason"])
        return Response(CareEventSerializer(voided).data)


class EventTypeListView(CareAPIView):
    serializer_class = EventTypeSerializer

    @extend_schema(
        tags=TAGS,
        operation_id="care_event_types_list",
        summary="The catalogue entries the caller's discipline may log",
        description="Empty when the caller's account is not linked to an active professional.",
        responses=EventTypeSerializer(many=True),
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        professional = services.professional_for(user=_actor(request))
        types = selectors.event_types_for(professional=professional)
        return Response(EventTypeSerializer(types, many=True).data)


# A child's field as the delivery service reports it (born_at_2) and where the request had it (children[1]).
CHILD_KEY = re.compile(r"^(born_at|outcome|mode|sex|weight_grams|apgar_1|apgar_5)_(\d+)$")


class EpisodeDeliveryView(ScopedQuerysetMixin, CareAPIView):
    """The delivery of an episode as one resource (pregnancies.delivery): read it (every clinical role),
    record it, or correct it with a reason (a linked midwife, clinical midwife or gynaecologist)."""

    serializer_class = DeliverySerializer
    model = Episode

    def scoped_queryset(self) -> QuerySet[Episode]:
        return Episode.objects.select_related("client")

    def service_error_detail(self, exc: DjangoValidationError) -> dict[str, Any]:
        """The service's field keys as the request had them: `born_at_2` under `children[1]`, the reason
        under `reason`."""
        detail: dict[str, Any] = validation_error_detail(exc, REASON_KEYS)
        children: dict[int, dict[str, list[str]]] = {}
        for key in list(detail):
            match = CHILD_KEY.match(key)
            if match:
                children.setdefault(int(match.group(2)), {})[match.group(1)] = detail.pop(key)
        if children:
            detail["children"] = [children.get(n, {}) for n in range(1, max(children) + 1)]
        return detail

    def _current(self, episode: Episode) -> dict[str, Any]:
        births = list(Birth.objects.filter(episode=episode).order_by("child_number"))
        started = episode.labour_started_at
        return {
            "recorded": bool(births),
            "labour_started_at": started,
            "placenta_at": episode.placenta_at,
            "placenta_plus_2h_at": episode.placenta_plus_2h_at,
            "place": births[0].place if births else None,
            "line": delivery.line_at(episode, started) if births and started else None,
            "children": births,
            "event": delivery.delivery_event(episode),
            **{name: getattr(episode, name) for name in delivery.CLINICAL_FIELDS},
            "robson_group": plausibility.robson_of(episode, births),
            "warnings": plausibility.check(episode, births, list(episode.line_transfers.all())),
        }

    def _may_record(self, request: Request) -> None:
        """The web page's rule (rules.can_record_birth), then the service's own (a linked professional of
        an obstetric discipline); either refusal is a 403 that says why."""
        if not rules.can_record_birth(request.tenant_roles):  # type: ignore[attr-defined]
            raise PermissionDenied(
                _(
                    "Only a midwife or gynaecologist may record or correct a delivery; maternity carers "
                    "log hours and kraamzorg observations."
                )
            )
        services.obstetric_professional_for(actor=_actor(request))

    def _answer(self, episode: Episode, code: int) -> Response:
        episode.refresh_from_db()
        return Response(DeliverySerializer(self._current(episode)).data, status=code)

    @extend_schema(
        tags=TAGS,
        operation_id="care_episode_delivery_retrieve",
        summary="The episode's delivery: start of labour, children, placenta, place, line and delivery event",
        description="`recorded` is false (and the rest empty) while no delivery has been recorded.",
        responses=DeliverySerializer,
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        episode = self.get_object()
        services.access_log(
            user=_actor(request),
            client=episode.client,
            action=AccessAction.VIEW,
            obj=episode,
            detail="delivery",
        )
        return Response(DeliverySerializer(self._current(episode)).data)

    @extend_schema(
        tags=TAGS,
        operation_id="care_episode_delivery_record",
        summary="Record the delivery (or, with `correct`, correct it)",
        description="All of it or nothing: the start of active labour opens the natal phase, placenta + 2 "
        "hours the postnatal phase; the children are the episode's births; the delivery event is logged for "
        "the caller. Refused (400) once recorded: correct it instead (`correct: true` with a `reason`, or "
        "PUT/PATCH). 403 with the reason for anyone but a linked midwife, clinical midwife or "
        "gynaecologist. Errors of a child are under `children` at its position.",
        request=DeliveryInputSerializer,
        responses={201: DeliverySerializer, 200: DeliverySerializer, 400: FIELD_ERRORS},
    )
    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        episode = self.get_object()
        self._may_record(request)
        data = self.parse(DeliveryInputSerializer, request.data)
        if data["correct"]:
            return self._correct(request, episode, data)
        delivery.delivery_record(episode=episode, actor=_actor(request), **self._facts(data))
        return self._answer(episode, status.HTTP_201_CREATED)

    @extend_schema(
        tags=TAGS,
        operation_id="care_episode_delivery_correct",
        summary="Correct the recorded delivery, with the reason",
        description="The earlier record stays in the history (the delivery event is superseded, the audit "
        "keeps before and after) and the phases follow the new times.",
        request=DeliveryInputSerializer,
        responses={200: DeliverySerializer, 400: FIELD_ERRORS},
    )
    def put(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        episode = self.get_object()
        self._may_record(request)
        return self._correct(request, episode, self.parse(DeliveryInputSerializer, request.data))

    @extend_schema(
        tags=TAGS,
        operation_id="care_episode_delivery_partial_correct",
        summary="Correct part of the recorded delivery, with the reason",
        description="As PUT; fields left out keep their recorded value (`children`, when given, is the "
        "whole list).",
        request=DeliveryInputSerializer,
        responses={200: DeliverySerializer, 400: FIELD_ERRORS},
    )
    def patch(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        episode = self.get_object()
        self._may_record(request)
        serializer = DeliveryInputSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        given = dict(serializer.validated_data)
        current = self._current(episode)
        children = [
            {
                "born_at": b.born_at,
                "outcome": b.outcome,
                "mode": b.mode,
                "sex": b.sex,
                "weight_grams": b.weight_grams,
                "apgar_1": b.apgar_1,
                "apgar_5": b.apgar_5,
            }
            for b in current["children"]
        ]
        data = {
            **{k: current[k] for k in ("labour_started_at", "placenta_at", "place", "line")},
            **{k: current[k] for k in delivery.CLINICAL_FIELDS},
            "children": children,
            "reason": "",
            **given,
        }
        return self._correct(request, episode, data)

    @staticmethod
    def _facts(data: dict[str, Any]) -> dict[str, Any]:
        return {
            "labour_started_at": data["labour_started_at"],
            "children": [delivery.Child(**dict(child)) for child in data["children"]],
            "placenta_at": data["placenta_at"],
            "place": data["place"] or "",
            "line": data["line"] or "",
            "clinical": (
                delivery.Clinical(
                    presentation=data.get("presentation") or "",
                    labour_onset=data.get("labour_onset") or "",
                    previous_caesareans=data.get("previous_caesareans"),
                    perineum=data.get("perineum") or "",
                )
                if any(name in data for name in delivery.CLINICAL_FIELDS)
                else None  # none given: kept as recorded
            ),
        }

    def _correct(self, request: Request, episode: Episode, data: dict[str, Any]) -> Response:
        delivery.delivery_correct(
            episode=episode, actor=_actor(request), reason=data.get("reason", ""), **self._facts(data)
        )
        return self._answer(episode, status.HTTP_200_OK)
