"""Forms for the logging screens. They parse input; the services decide what is allowed."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from igo.forms import PLAIN_RENDERER, LocalDateTimeField
from igo.models import Insurer
from igo.validators import validate_bsn
from pregnancies.delivery import MAX_CHILDREN, Child, Clinical
from pregnancies.models import (
    LEMMON_NONE,
    AccessAction,
    BirthMode,
    BirthOutcome,
    BirthPlace,
    Breastfeeding,
    ChildSex,
    DatingMethod,
    EndReason,
    EventType,
    LabourOnset,
    LemmonCriterion,
    Line,
    Perineum,
    Phase,
    Presentation,
    Unit,
)
from pregnancies.services import INTAKE_FIELDS, PREGNANCY_FIELDS
from providers.models import Discipline, MemberOrganisation

DATE = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
DATETIME = forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M")


def number_input(low: int, high: int) -> forms.NumberInput:
    """A number input with the range as a browser hint; the service says what is allowed, in its words."""
    return forms.NumberInput(attrs={"min": low, "max": high, "step": 1})


class AccessLogFilterForm(forms.Form):
    user = forms.CharField(label=_("User (e-mail)"), required=False, max_length=254)
    action = forms.ChoiceField(
        label=_("Action"), required=False, choices=[("", _("All actions")), *AccessAction.choices]
    )
    since = forms.DateField(label=_("From"), required=False, widget=DATE)
    until = forms.DateField(label=_("Until"), required=False, widget=DATE)


class ClientSearchForm(forms.Form):
    q = forms.CharField(label=_("Name or BSN"), required=False, max_length=100)
    date_of_birth = forms.DateField(label=_("Date of birth"), required=False, widget=DATE)


class PregnancyForm(forms.Form):
    """A pregnancy as the intake takes it: its dating, gravida and parity, line and maternity care. The due
    date is decided by the service from the dating chosen; `static/js/dating.js` shows it while typing."""

    intake_date = forms.DateField(label=_("Intake date"), widget=DATE)
    dating_method = forms.ChoiceField(
        label=_("Dating"),
        choices=DatingMethod.choices,
        initial=DatingMethod.ULTRASOUND,
        required=False,
        widget=forms.RadioSelect(attrs={"data-dating-method": ""}),
    )
    lmp_date = forms.DateField(label=_("First day of the last menstrual period"), required=False, widget=DATE)
    ultrasound_on = forms.DateField(label=_("Date of the dating ultrasound"), required=False, widget=DATE)
    ultrasound_weeks = forms.IntegerField(
        label=_("Gestational age at the ultrasound (weeks)"),
        required=False,
        min_value=0,
        max_value=44,
        widget=number_input(0, 44),
    )
    ultrasound_days = forms.IntegerField(
        label=_("+ days"), required=False, min_value=0, max_value=6, widget=number_input(0, 6)
    )
    due_date = forms.DateField(
        label=_("Expected due date"),
        required=False,
        widget=DATE,
        help_text=_("Only when dated otherwise (e.g. by a referring practice); else it is calculated."),
    )
    gestational_age_weeks = forms.IntegerField(
        label=_("Gestational age at intake (weeks)"),
        required=False,
        min_value=0,
        max_value=44,
        help_text=_("Leave empty to derive it from the due date."),
    )
    gestational_age_days = forms.IntegerField(label=_("+ days"), required=False, min_value=0, max_value=6)
    gravida = forms.IntegerField(
        label=_("Gravida"),
        required=False,
        min_value=1,
        max_value=30,
        help_text=_("Pregnancies, this one included."),
    )
    parity = forms.IntegerField(
        label=_("Parity"),
        min_value=0,
        max_value=20,
        initial=0,
        help_text=_("Earlier births from 24 weeks."),
    )
    line = forms.ChoiceField(label=_("Line of responsibility"), choices=Line.choices, initial=Line.FIRST)
    kraamzorg_organisation = forms.ModelChoiceField(
        label=_("Maternity-care organisation"),
        queryset=MemberOrganisation.unscoped.none(),
        required=False,
        empty_label=_("Not chosen yet"),
    )

    # Service fields whose errors belong to a differently named field of this form.
    ERROR_ALIASES = {
        "gestational_age_at_intake": "gestational_age_weeks",
        "ultrasound_gestational_days": "ultrasound_weeks",
    }

    def __init__(self, *args: Any, kraamzorg: Any = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if kraamzorg is not None:
            self.fields["kraamzorg_organisation"].queryset = kraamzorg  # type: ignore[attr-defined]

    def pregnancy_fields(self) -> list[forms.BoundField]:
        return [self[name] for name in PregnancyForm.base_fields]

    def clean_dating_method(self) -> str:
        return self.cleaned_data.get("dating_method") or DatingMethod.DUE_DATE

    def gestational_age(self) -> int | None:
        weeks = self.cleaned_data.get("gestational_age_weeks")
        if weeks is None:
            return None
        return weeks * 7 + (self.cleaned_data.get("gestational_age_days") or 0)

    def ultrasound_gestational_days(self) -> int | None:
        weeks = self.cleaned_data.get("ultrasound_weeks")
        if weeks is None:
            return None
        return weeks * 7 + (self.cleaned_data.get("ultrasound_days") or 0)

    def pregnancy_data(self) -> dict[str, Any]:
        """The cleaned values under the services' names (`services.PREGNANCY_FIELDS`)."""
        data = {k: self.cleaned_data.get(k) for k in PREGNANCY_FIELDS if k in self.fields}
        data["gestational_age_at_intake"] = self.gestational_age()
        data["ultrasound_gestational_days"] = self.ultrasound_gestational_days()
        return data


class IntakeForm(PregnancyForm):
    """A new client with her insurance and the first episode, in one go."""

    given_names = forms.CharField(label=_("Given names"), max_length=150)
    family_name = forms.CharField(label=_("Family name"), max_length=150)
    date_of_birth = forms.DateField(label=_("Date of birth"), widget=DATE)
    bsn = forms.CharField(
        label=_("BSN"),
        min_length=9,
        max_length=9,
        validators=[validate_bsn],
        widget=forms.TextInput(attrs={"inputmode": "numeric", "autocomplete": "off"}),
    )
    address = forms.CharField(label=_("Street and house number"), max_length=200, required=False)
    postcode = forms.CharField(label=_("Postcode"), max_length=7, required=False)
    city = forms.CharField(label=_("City"), max_length=80, required=False)
    phone = forms.CharField(
        label=_("Phone"),
        max_length=20,
        required=False,
        widget=forms.TextInput(attrs={"inputmode": "tel", "autocomplete": "off"}),
    )
    gp_name = forms.CharField(label=_("General practitioner"), max_length=150, required=False)
    insurer = forms.ModelChoiceField(label=_("Insurer"), queryset=Insurer.objects.filter(is_active=True))
    policy_number = forms.CharField(label=_("Insured number"), max_length=20)

    field_order = [
        "given_names",
        "family_name",
        "date_of_birth",
        "bsn",
        "address",
        "postcode",
        "city",
        "phone",
        "gp_name",
        "insurer",
        "policy_number",
    ]

    def client_fields(self) -> list[forms.BoundField]:
        return [self[name] for name in self.fields if name not in PregnancyForm.base_fields]

    def intake_data(self) -> dict[str, Any]:
        """The cleaned values under the services' names (`services.INTAKE_FIELDS`)."""
        client = {k: self.cleaned_data.get(k) for k in INTAKE_FIELDS if k in self.fields}
        return {**client, **self.pregnancy_data()}


class _ListedChoiceIterator(forms.models.ModelChoiceIterator):
    """The choices of a ListedModelChoiceField: its list, without a query."""

    def _listed(self) -> list[Any]:
        return list(getattr(self.field, "listed", []))

    def __iter__(self) -> Any:
        if self.field.empty_label is not None:
            yield ("", self.field.empty_label)
        for obj in self._listed():
            yield self.choice(obj)

    def __len__(self) -> int:
        return len(self._listed()) + (self.field.empty_label is not None)

    def __bool__(self) -> bool:
        return self.field.empty_label is not None or bool(self._listed())


class ListedModelChoiceField(forms.ModelChoiceField):
    """A choice among objects the view has already read (`listed`), in their order: neither the form's
    rendering nor its validation queries them again (the logging form's catalogue entries, issue 18)."""

    iterator = _ListedChoiceIterator

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.listed: list[Any] = []

    def to_python(self, value: Any) -> Any:
        if value in self.empty_values:
            return None
        for obj in self.listed:
            if str(obj.pk) == str(value):
                return obj
        raise forms.ValidationError(
            self.error_messages["invalid_choice"], code="invalid_choice", params={"value": value}
        )


class CareEventForm(forms.Form):
    event_type = ListedModelChoiceField(label=_("Care"), queryset=EventType.unscoped.none())
    occurred_at = LocalDateTimeField(label=_("Date and time"), widget=DATETIME)
    quantity = forms.DecimalField(
        label=_("Quantity"), min_value=Decimal("0.01"), max_digits=6, decimal_places=2, initial=Decimal("1")
    )
    location = forms.CharField(label=_("Location"), max_length=120, required=False)
    note = forms.CharField(
        label=_("Note"), required=False, max_length=4000, widget=forms.Textarea(attrs={"rows": 2})
    )
    confirm_over_limit = forms.BooleanField(label=_("I confirm more than 80 kraamzorg hours"), required=False)
    confirm_duplicate = forms.BooleanField(label=_("Log it anyway"), required=False)
    submission_key = forms.UUIDField(widget=forms.HiddenInput, required=False)

    # Shown only when the service asks for them (the error names what to confirm).
    CONFIRMATIONS = ("confirm_over_limit", "confirm_duplicate")
    # Drawn on every logging answer: its widgets, labels and errors without a template each (the same HTML).
    default_renderer = PLAIN_RENDERER

    def __init__(self, *args: Any, event_types: list[EventType] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["event_type"]
        assert isinstance(field, ListedModelChoiceField)
        # Offered in the order given (selectors.event_types_for: the phase's entries, most used first), from
        # the list itself: no query to render or to check the choice.
        field.listed = list(event_types or [])
        field.label_from_instance = event_type_label  # type: ignore[method-assign,assignment]
        if not self.is_bound:
            self.initial.setdefault("submission_key", uuid.uuid4())

    def asks_confirmation(self) -> bool:
        return any(self[name].errors or self[name].value() for name in self.CONFIRMATIONS)


def event_type_label(event_type: EventType) -> str:
    """A catalogue entry with its unit, unless its name already says it ("Kraamzorg (uren)")."""
    if "(" in event_type.name:
        return event_type.name
    return f"{event_type.name} ({event_type.get_unit_display()})"


class IndicationForm(forms.Form):
    hours = forms.IntegerField(
        label=_("Hours indicated (LIP)"),
        required=False,
        widget=forms.NumberInput(attrs={"min": 1, "max": 80}),
    )
    indicated_on = forms.DateField(label=_("Date of the indication"), required=False, widget=DATE)


class CorrectEventForm(forms.Form):
    event_type = forms.ModelChoiceField(label=_("Care"), queryset=EventType.unscoped.none())
    occurred_at = LocalDateTimeField(label=_("Date and time"), widget=DATETIME)
    quantity = forms.DecimalField(
        label=_("Quantity"), min_value=Decimal("0.01"), max_digits=6, decimal_places=2
    )
    change_reason = forms.CharField(label=_("Reason for the correction"), max_length=200)
    confirm_over_limit = forms.BooleanField(label=_("I confirm more than 80 kraamzorg hours"), required=False)

    def __init__(self, *args: Any, event_types: list[EventType] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["event_type"]
        field.queryset = EventType.unscoped.filter(pk__in=[t.pk for t in event_types or []])  # type: ignore[attr-defined]
        field.label_from_instance = lambda t: t.name  # type: ignore[attr-defined]


class VoidEventForm(forms.Form):
    change_reason = forms.CharField(
        label=_("Reason for voiding"),
        max_length=200,
        error_messages={"required": _("Give the reason for voiding this event.")},
    )


class KeyDatesForm(forms.Form):
    """The care-path dates other than the delivery's (start of labour and placenta: DeliveryForm)."""

    hospital_admitted_at = LocalDateTimeField(label=_("Hospital admission"), required=False, widget=DATETIME)
    hospital_discharged_at = LocalDateTimeField(
        label=_("Hospital discharge"), required=False, widget=DATETIME
    )
    kraamzorg_ended_on = forms.DateField(label=_("End of kraamzorg"), required=False, widget=DATE)
    postnatal_ended_on = forms.DateField(label=_("End of postnatal care"), required=False, widget=DATE)


class KraamzorgOrganisationForm(forms.Form):
    """The maternity-care organisation chosen after the intake: its members today (`organisations`)."""

    kraamzorg_organisation = forms.ModelChoiceField(
        label=_("Maternity-care organisation"),
        queryset=MemberOrganisation.unscoped.none(),
        required=False,
        empty_label=_("Not chosen yet"),
    )

    def __init__(self, *args: Any, organisations: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["kraamzorg_organisation"].queryset = organisations  # type: ignore[attr-defined]


class BirthForm(forms.Form):
    child_number = forms.IntegerField(label=_("Child"), min_value=1, max_value=8, initial=1)
    born_at = LocalDateTimeField(label=_("Born at"), widget=DATETIME)
    outcome = forms.ChoiceField(label=_("Outcome"), choices=BirthOutcome.choices)
    place = forms.ChoiceField(label=_("Place of birth"), choices=BirthPlace.choices)
    mode = forms.ChoiceField(label=_("Mode of birth"), choices=BirthMode.choices)
    weight_grams = forms.IntegerField(
        label=_("Birth weight (g)"), required=False, min_value=200, max_value=7000
    )


class InsuranceChangeForm(forms.Form):
    insurer = forms.ModelChoiceField(label=_("New insurer"), queryset=Insurer.objects.filter(is_active=True))
    policy_number = forms.CharField(label=_("Insured number"), max_length=20)
    valid_from = forms.DateField(label=_("Insured from"), widget=DATE)


class LineTransferForm(forms.Form):
    line = forms.ChoiceField(label=_("Responsibility to"), choices=Line.choices)
    effective_at = LocalDateTimeField(label=_("From"), widget=DATETIME)
    reason = forms.CharField(label=_("Reason"), max_length=200)


class EndEpisodeForm(forms.Form):
    """Ending a pregnancy takes two steps: the date and reason, then a confirmation that repeats them (a
    second POST with `confirmed`; no script needed)."""

    end_date = forms.DateField(label=_("End of responsibility"), widget=DATE)
    end_reason = forms.ChoiceField(label=_("Reason"), choices=EndReason.choices)
    confirmed = forms.BooleanField(required=False, widget=forms.HiddenInput)

    asks_confirmation = False


class EventTypeForm(forms.Form):
    code = forms.RegexField(
        label=_("Code"),
        regex=r"^[A-Z0-9_]{2,32}$",
        max_length=32,
        help_text=_("Capital letters, digits and underscores, e.g. ECHO_EXTRA."),
    )
    name_nl = forms.CharField(label=_("Name (Dutch)"), max_length=120)
    name_en = forms.CharField(label=_("Name (English)"), max_length=120)
    phase = forms.ChoiceField(
        label=_("Phase"), required=False, choices=[("", _("Any phase")), *Phase.choices]
    )
    unit = forms.ChoiceField(label=_("Unit"), choices=Unit.choices)
    disciplines = forms.MultipleChoiceField(
        label=_("Disciplines that may log it"),
        choices=Discipline.choices,
        widget=forms.CheckboxSelectMultiple,
    )
    max_quantity = forms.DecimalField(
        label=_("Maximum per event"),
        min_value=Decimal("0.25"),
        max_value=Decimal("24"),
        max_digits=6,
        decimal_places=2,
        initial=Decimal("1"),
    )


class OutcomesForm(forms.Form):
    breastfeeding_at_kraamzorg_end = forms.ChoiceField(
        label=_("Breastfeeding at the end of kraamzorg"),
        choices=[("", _("Not recorded")), *Breastfeeding.choices],
        required=False,
    )
    blood_loss_ml = forms.IntegerField(
        label=_("Blood loss at delivery (ml)"), required=False, widget=number_input(0, 20000)
    )
    kraamzorg_indicated_hours = forms.IntegerField(
        label=_("Kraamzorg hours indicated (LIP)"),
        required=False,
        widget=number_input(0, 80),
        help_text=_("The hours of the national indication protocol, at most 80."),
    )
    severe_morbidity = forms.MultipleChoiceField(
        label=_("Severe maternal morbidity (LEMMoN criteria)"),
        choices=[(LEMMON_NONE, _("None of these")), *LemmonCriterion.choices],
        widget=forms.CheckboxSelectMultiple,
        required=False,
        help_text=_('Tick every criterion she met, or "none of these"; nothing ticked: not recorded.'),
    )


class BirthOutcomeForm(forms.Form):
    nicu_admission = forms.BooleanField(label=_("Admitted to a NICU"), required=False)
    neonatal_death_on = forms.DateField(label=_("Date of neonatal death"), required=False, widget=DATE)


class DeliveryForm(forms.Form):
    """The whole delivery on one form: labour, each child, placenta, place, line. The service takes up to
    `MAX_CHILDREN` children: the first two slots are open (a single child, twins), the others fold away
    under "Another child" (triplets, quadruplets). A correction also asks for its reason."""

    labour_started_at = LocalDateTimeField(label=_("Start of active labour"), widget=DATETIME)
    placenta_at = LocalDateTimeField(label=_("Placenta born at"), widget=DATETIME)
    place = forms.ChoiceField(label=_("Place of birth"), choices=BirthPlace.choices)
    line = forms.ChoiceField(label=_("Responsible line"), choices=Line.choices)
    presentation = forms.ChoiceField(
        label=_("Presentation"), choices=[("", _("Not recorded")), *Presentation.choices], required=False
    )
    labour_onset = forms.ChoiceField(
        label=_("Onset of labour"), choices=[("", _("Not recorded")), *LabourOnset.choices], required=False
    )
    previous_caesareans = forms.IntegerField(
        label=_("Previous caesareans"),
        required=False,
        widget=number_input(0, 10),
        help_text=_("0 if none; empty if not known."),
    )
    perineum = forms.ChoiceField(
        label=_("Perineal damage"), choices=[("", _("Not recorded")), *Perineum.choices], required=False
    )
    change_reason = forms.CharField(label=_("Reason for the correction"), max_length=200, required=False)

    CHILDREN = MAX_CHILDREN
    OPEN_SLOTS = 2
    CHILD_FIELDS = ("born_at", "outcome", "mode", "sex", "weight_grams", "apgar_1", "apgar_5")

    def __init__(self, *args: Any, correcting: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for n in range(1, self.CHILDREN + 1):
            first = n == 1
            born_label: Any
            if first:
                born_label = _("Child 1 born at")
            elif n == 2:
                born_label = _("Child 2 born at (twins)")
            else:
                born_label = _("Child %(n)s born at") % {"n": n}
            self.fields[f"born_at_{n}"] = LocalDateTimeField(
                label=born_label, required=first, widget=DATETIME
            )
            self.fields[f"outcome_{n}"] = forms.ChoiceField(
                label=_("Outcome"), choices=BirthOutcome.choices, required=first, initial=BirthOutcome.LIVE
            )
            self.fields[f"mode_{n}"] = forms.ChoiceField(
                label=_("Mode of birth"),
                choices=BirthMode.choices,
                required=first,
                initial=BirthMode.SPONTANEOUS,
            )
            self.fields[f"sex_{n}"] = forms.ChoiceField(
                label=_("Sex"), choices=[("", _("Not recorded")), *ChildSex.choices], required=False
            )
            self.fields[f"weight_grams_{n}"] = forms.IntegerField(
                label=_("Birth weight (g)"), required=False, widget=number_input(200, 7000)
            )
            for name, label in (("apgar_1", _("Apgar at 1 minute")), ("apgar_5", _("Apgar at 5 minutes"))):
                self.fields[f"{name}_{n}"] = forms.IntegerField(
                    label=label, required=False, widget=number_input(0, 10)
                )
        self.correcting = correcting
        if correcting:
            self.fields["change_reason"].required = True
        else:
            del self.fields["change_reason"]

    def child_slots(self) -> list[tuple[int, list[forms.BoundField]]]:
        """Each child's fields, for the page: [(1, [born_at_1, outcome_1, ...]), ...]."""
        return [(n, [self[f"{name}_{n}"] for name in self.CHILD_FIELDS]) for n in range(1, self.CHILDREN + 1)]

    def open_slots(self) -> list[tuple[int, list[forms.BoundField]]]:
        return self.child_slots()[: self.OPEN_SLOTS]

    def folded_slots(self) -> list[tuple[int, list[forms.BoundField]]]:
        return self.child_slots()[self.OPEN_SLOTS :]

    def folded_in_use(self) -> bool:
        """Whether the folded slots hold a child (entered, recorded or refused): then they are shown open."""
        for n, fields in self.folded_slots():
            if any(f.errors for f in fields) or self[f"born_at_{n}"].value() not in (None, ""):
                return True
        return False

    def other_fields(self) -> list[forms.BoundField]:
        """The fields after the children: placenta, place, line and a correction's reason."""
        return [
            self[name]
            for name in (
                "placenta_at",
                "place",
                "line",
                "presentation",
                "labour_onset",
                "previous_caesareans",
                "perineum",
                "change_reason",
            )
            if name in self.fields
        ]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        given = [n for n in range(1, self.CHILDREN + 1) if data.get(f"born_at_{n}") is not None]
        for n in range(2, self.CHILDREN + 1):
            if n in given:
                if n - 1 not in given and f"born_at_{n - 1}" not in self.errors:
                    self.add_error(
                        f"born_at_{n - 1}",
                        _("Fill in child %(before)s before child %(n)s.") % {"before": n - 1, "n": n},
                    )
            elif data.get(f"sex_{n}") or any(
                data.get(f"{name}_{n}") is not None for name in ("weight_grams", "apgar_1", "apgar_5")
            ):
                self.add_error(
                    f"born_at_{n}",
                    _("Give the time of birth of child %(n)s, or leave its fields empty.") % {"n": n},
                )
        return data

    def children(self) -> list[Child]:
        data = self.cleaned_data
        return [
            Child(
                born_at=data[f"born_at_{n}"],
                outcome=data.get(f"outcome_{n}") or BirthOutcome.LIVE,
                mode=data.get(f"mode_{n}") or BirthMode.SPONTANEOUS,
                sex=data.get(f"sex_{n}") or "",
                weight_grams=data.get(f"weight_grams_{n}"),
                apgar_1=data.get(f"apgar_1_{n}"),
                apgar_5=data.get(f"apgar_5_{n}"),
            )
            for n in range(1, self.CHILDREN + 1)
            if n == 1 or data.get(f"born_at_{n}") is not None
        ]

    def delivery(self) -> dict[str, Any]:
        data = self.cleaned_data
        return {
            "labour_started_at": data["labour_started_at"],
            "children": self.children(),
            "placenta_at": data["placenta_at"],
            "place": data["place"],
            "line": data["line"],
            "clinical": Clinical(
                presentation=data.get("presentation") or "",
                labour_onset=data.get("labour_onset") or "",
                previous_caesareans=data.get("previous_caesareans"),
                perineum=data.get("perineum") or "",
            ),
        }
