"""FHIR XML bodies of the import (docs/fhir.md): read into the FHIR JSON shape, then imported as JSON.

fhir.resources reads XML only with lxml, which is not installed; this reader uses the standard library's
expat parser and the element definitions of the fhir.resources R4B models to apply the FHIR rules that turn
XML into JSON: an element's name is its JSON property, a primitive's `value` attribute is its value (typed:
boolean, integer, decimal or text), a primitive's `id` and extensions go to `_name`, a repeating element
becomes an array (with `null` for a repeat that has extensions only), a resource inside `resource` or
`contained` is wrapped in an element named by its type, and the narrative's `div` stays XHTML text.

An XML body may not declare a DOCTYPE or entities (no entity expansion bombs, no external entities).
"""

from __future__ import annotations

import json
import typing
from dataclasses import dataclass
from decimal import Decimal
from functools import cache
from typing import Any
from xml.etree import ElementTree
from xml.parsers import expat

from django.utils.translation import gettext as _
from fhir.resources.R4B import get_fhir_model_class
from fhir.resources.R4B.extension import Extension
from fhir.resources.R4B.resource import Resource
from fhir_core.types import Xhtml

from fhir_io import importing
from fhir_io.importing import Issue, Refused

FHIR_NS = "http://hl7.org/fhir"
XHTML_NS = "http://www.w3.org/1999/xhtml"
FHIR_XML = "application/fhir+xml"
XML_TYPES = frozenset({FHIR_XML, "application/xml", "text/xml", "application/xml+fhir"})


def refused_status(issues: list[Issue]) -> int:
    """400 for a body that is no XML Bundle (or declares a DOCTYPE), else what importing answers (422)."""
    return 400 if issues and issues[0].code == "security" else importing.refused_status(issues)


def is_xml(content_type: str) -> bool:
    return content_type.split(";")[0].strip().lower() in XML_TYPES


def to_json(raw: bytes) -> bytes:
    """The XML Bundle as FHIR JSON bytes (what importing.parse reads), or Refused."""
    root = _tree(raw)
    tag = _split(root.tag)
    if tag != (FHIR_NS, "Bundle"):
        raise Refused(
            [
                Issue(
                    "structure", "Bundle", _("Send one FHIR Bundle (a Bundle element in the FHIR namespace).")
                )
            ]
        )
    reader = _Reader()
    try:
        data = reader.resource(root, "Bundle")
    except RecursionError as exc:
        raise Refused([Issue("structure", "Bundle", _("The XML is nested too deeply."))]) from exc
    if reader.issues:
        raise Refused(reader.issues)
    return json.dumps(data).encode()


class _Forbidden(Exception):
    pass


def _refuse(*_args: Any) -> Any:
    raise _Forbidden


def _tree(raw: bytes) -> ElementTree.Element:
    """The document as elements, read by expat with DOCTYPE and entity declarations refused."""
    builder = ElementTree.TreeBuilder()
    parser = expat.ParserCreate(namespace_separator="}")
    parser.StartDoctypeDeclHandler = _refuse
    parser.EntityDeclHandler = _refuse
    parser.UnparsedEntityDeclHandler = _refuse
    parser.ExternalEntityRefHandler = _refuse
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    parser.StartElementHandler = lambda name, attrs: builder.start(_tag(name), attrs)
    parser.EndElementHandler = lambda name: builder.end(_tag(name))
    parser.CharacterDataHandler = builder.data
    try:
        parser.Parse(raw, True)
        root = builder.close()
    except _Forbidden as exc:
        raise Refused(
            [Issue("security", "Bundle", _("The XML may not declare a DOCTYPE or entities."))]
        ) from exc
    except (expat.ExpatError, AssertionError) as exc:
        raise Refused(
            [Issue("structure", "Bundle", _("The body is not valid XML: %(error)s") % {"error": exc})]
        ) from exc
    return root


def _tag(name: str) -> str:
    """expat's "namespace}local" as ElementTree's "{namespace}local"."""
    return "{" + name if "}" in name else name


def _split(tag: str) -> tuple[str, str]:
    if tag.startswith("{"):
        ns, _sep, local = tag[1:].partition("}")
        return ns, local
    return "", tag


@dataclass(frozen=True)
class _Element:
    """How one element of a model is written: repeating or not, and what it holds."""

    repeats: bool
    kind: str  # "resource", "complex", "xhtml" or "primitive"
    target: Any  # the model class of a complex element, the Python type of a primitive


@cache
def _elements(model: type) -> dict[str, _Element]:
    """The elements of a FHIR model by their JSON (and XML) name."""
    out: dict[str, _Element] = {}
    for name, info in model.model_fields.items():  # type: ignore[attr-defined]
        if name.endswith("__ext") or name == "fhir_comments":
            continue
        kind, repeats, target = "primitive", False, info.annotation
        target = _strip_optional(target)
        if typing.get_origin(target) is list:
            repeats, target = True, typing.get_args(target)[0]
        if typing.get_origin(target) is typing.Annotated:
            base, *marks = typing.get_args(target)
            kind = "xhtml" if any(isinstance(m, Xhtml) for m in marks) else "primitive"
            target = base
        elif hasattr(target, "get_model_klass"):
            klass = target.get_model_klass()
            kind, target = ("resource", None) if klass is Resource else ("complex", klass)
        out[info.alias or name] = _Element(repeats, kind, target)
    return out


def _strip_optional(annotation: Any) -> Any:
    args = typing.get_args(annotation)
    if type(None) in args:
        rest = [a for a in args if a is not type(None)]
        return rest[0] if len(rest) == 1 else annotation
    return annotation


class _Reader:
    def __init__(self) -> None:
        self.issues: list[Issue] = []

    def problem(self, code: str, where: str, text: str) -> None:
        if len(self.issues) < 20:
            self.issues.append(Issue(code, where, text))

    def resource(self, el: ElementTree.Element, where: str) -> dict[str, Any]:
        ns, kind = _split(el.tag)
        out: dict[str, Any] = {"resourceType": kind}
        try:
            model = get_fhir_model_class(kind)
        except ValueError:
            model = None
        if ns != FHIR_NS or model is None or not issubclass(model, Resource):
            # importing.parse names the type as not imported; nothing inside it is read
            return out
        self.fill(out, el, model, where)
        return out

    def fill(self, out: dict[str, Any], el: ElementTree.Element, model: type, where: str) -> None:
        for attr, value in el.attrib.items():
            if attr in ("id", "url") and attr in _elements(model):
                out[attr] = value
            else:
                self.problem("invalid", f"{where}.@{attr}", _("Unknown XML attribute."))
        if (el.text or "").strip():
            self.problem("invalid", where, _("Text is not allowed here; FHIR XML puts values in attributes."))
        extras: dict[str, list[Any]] = {}
        for child in el:
            ns, name = _split(child.tag)
            spec = _elements(model).get(name)
            here = f"{where}.{name}"
            if spec is not None and spec.repeats:
                here += f"[{len(out.get(name) or [])}]"
            expected = XHTML_NS if spec is not None and spec.kind == "xhtml" else FHIR_NS
            if spec is None or ns != expected:
                self.problem("invalid", here, _("Unknown element (or not in the FHIR namespace)."))
                continue
            if (child.tail or "").strip():
                self.problem(
                    "invalid", here, _("Text is not allowed here; FHIR XML puts values in attributes.")
                )
            value, extra = self.value(child, spec, here)
            if spec.repeats:
                out.setdefault(name, []).append(value)
                extras.setdefault(name, []).append(extra)
            elif name in out or name in extras:
                self.problem("invalid", here, _("This element may occur only once."))
            else:
                if value is not None:
                    out[name] = value
                if extra is not None:
                    extras[name] = [extra]
        for name, found in extras.items():
            if spec_repeats(model, name):
                if any(e is not None for e in found):
                    out["_" + name] = found
            elif found and found[0] is not None:
                out["_" + name] = found[0]

    def value(self, el: ElementTree.Element, spec: _Element, where: str) -> tuple[Any, Any]:
        """The element's JSON value, and for a primitive its `_name` object (id and extensions) or None."""
        if spec.kind == "resource":
            inner = list(el)
            if len(inner) != 1:
                self.problem("invalid", where, _("Put exactly one resource in this element."))
                return None, None
            return self.resource(inner[0], where), None
        if spec.kind == "complex":
            out: dict[str, Any] = {}
            self.fill(out, el, spec.target, where)
            return out, None
        if spec.kind == "xhtml":
            copy = ElementTree.Element(el.tag, el.attrib)
            copy.text, copy[:] = el.text, list(el)
            try:
                return ElementTree.tostring(copy, encoding="unicode", default_namespace=XHTML_NS), None
            except ValueError:  # attributes without a namespace: written with a prefix for XHTML
                return ElementTree.tostring(copy, encoding="unicode"), None
        return self.primitive(el, spec.target, where)

    def primitive(self, el: ElementTree.Element, kind: Any, where: str) -> tuple[Any, Any]:
        extra: dict[str, Any] = {}
        for attr, text in el.attrib.items():
            if attr == "id":
                extra["id"] = text
            elif attr != "value":
                self.problem("invalid", f"{where}.@{attr}", _("Unknown XML attribute."))
        extensions: list[Any] = []
        for child in el:
            if _split(child.tag) != (FHIR_NS, "extension"):
                self.problem("invalid", where, _("A primitive element holds only extensions."))
                continue
            extensions.append(self.value(child, _EXTENSION, f"{where}.extension[{len(extensions)}]")[0])
        if extensions:
            extra["extension"] = extensions
        raw = el.attrib.get("value")
        return (None if raw is None else self.typed(raw, kind, where)), (extra or None)

    def typed(self, raw: str, kind: Any, where: str) -> Any:
        try:
            if kind is bool:
                if raw not in ("true", "false"):
                    raise ValueError(raw)
                return raw == "true"
            if kind is int:
                return int(raw)
            if kind is Decimal or kind is float:
                number = float(Decimal(raw))  # as json.loads reads a JSON number
                return int(number) if raw.lstrip("-").isdecimal() else number
        except (ValueError, ArithmeticError):
            self.problem("value", where, _("%(value)s is not a valid value here.") % {"value": raw[:40]})
            return None
        return raw


def spec_repeats(model: type, name: str) -> bool:
    return _elements(model)[name].repeats


_EXTENSION = _Element(True, "complex", Extension)
