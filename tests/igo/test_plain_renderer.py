"""igo.forms.PlainRenderer writes Django's basic widget, label and error-list templates out in Python: every
form drawn with it must come out exactly as Django's templates draw it."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from django import forms
from django.forms.renderers import DjangoTemplates
from django.utils.safestring import mark_safe

from igo.forms import PlainRenderer

CHOICES = [("", "---------"), ("a", "Alpha & <b>"), ("b", 'Bèta "quoted"'), ("c", "Gamma")]
GROUPED = [("Eerste", [("1", "Een"), ("2", "Twee")]), ("Tweede", [("3", "Drie")]), ("4", "Vier")]


class Everything(forms.Form):
    text = forms.CharField(label="Naam & <tekst>", max_length=20, help_text="Uitleg")
    number = forms.DecimalField(
        label="Aantal", min_value=Decimal("0.01"), decimal_places=2, initial=Decimal("1")
    )
    whole = forms.IntegerField(
        label="Heel", required=False, widget=forms.NumberInput(attrs={"min": 1, "max": 80})
    )
    email = forms.EmailField(label="E-mail", required=False)
    moment = forms.DateTimeField(
        label="Moment",
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
    )
    day = forms.DateField(label="Dag", required=False, widget=forms.DateInput(attrs={"type": "date"}))
    choice = forms.ChoiceField(label="Keuze", choices=CHOICES)
    grouped = forms.ChoiceField(label="Groep", choices=GROUPED, required=False)
    many = forms.MultipleChoiceField(label="Meer", choices=CHOICES[1:], required=False)
    note = forms.CharField(label="Notitie", required=False, widget=forms.Textarea(attrs={"rows": 2}))
    confirm = forms.BooleanField(label="Bevestig", required=False)
    secret = forms.CharField(widget=forms.HiddenInput, required=False)
    safe = forms.CharField(label=mark_safe("<em>Veilig</em>"), required=False)

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if data.get("text") == "fout":
            raise forms.ValidationError("Formulier & <fout>")
        return data


def drawn(renderer: Any, *args: Any, **kwargs: Any) -> str:
    form = Everything(*args, renderer=renderer, **kwargs)
    parts = [str(form.non_field_errors())]
    for field in form:
        parts += [
            str(field.label_tag()),
            str(field),
            str(field.errors),
            str(field.label_tag(label_suffix="")),
        ]
    parts.append(str(form))  # the form's own layout: a template, with the fields drawn by the renderer
    return "\n".join(parts)


CASES: list[tuple[tuple[Any, ...], dict[str, Any]]] = [
    ((), {}),
    ((), {"initial": {"choice": "b", "note": "Eerste & <regel>", "confirm": True, "many": ["a", "c"]}}),
    ((), {"auto_id": "id_x_%s"}),
    ((), {"auto_id": False}),
    (({"text": "", "number": "nul", "moment": "gisteren", "choice": "z", "note": "x" * 3, "safe": "'"},), {}),
    (
        (
            {
                "text": "fout",
                "number": "2.50",
                "moment": "2026-03-29T02:30",
                "choice": "a",
                "grouped": "3",
                "many": ["b"],
                "confirm": "on",
                "secret": '"><script>',
                "day": str(dt.date(2026, 1, 2)),
            },
        ),
        {},
    ),
]


def test_plain_renderer_draws_what_the_templates_draw() -> None:
    for args, kwargs in CASES:
        assert drawn(PlainRenderer(), *args, **kwargs) == drawn(DjangoTemplates(), *args, **kwargs)


def test_an_option_template_of_its_own_is_left_to_the_templates() -> None:
    class Own(forms.Select):
        option_template_name = "django/forms/widgets/radio_option.html"

    class WithOwn(forms.Form):
        pick = forms.ChoiceField(choices=CHOICES, widget=Own)

    assert str(WithOwn(renderer=PlainRenderer())["pick"]) == str(WithOwn(renderer=DjangoTemplates())["pick"])
