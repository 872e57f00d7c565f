"""The Vektis generic EI declaration format for KZ301 v3.2 (declaration, 310 positions) and KZ302 v3.2 (return,
370 positions), as data.

One `Record` per record type, each a tuple of `Field`s with the rubriek, element code, Dutch name, type, length and
start position as the standard prints them, plus a short python `key` by which the writer, the readers and the
conformance check address the field. `docs/kz301.md` is rendered from these tables (`manage.py vektis_layout`), so
correcting a field when the official record specification (BER) is at hand is a change of one table here.

Source: ../shared/VEKTIS-KZ301.md §2.2–2.7. Records 01, 02, 98, 99 and the head and tail of 04 follow the generic
format; the middle of 04 (0408–0422) follows the sibling VK301 v2.2 with the prestatiecode widened to AN 6. Fields
and value choices that are not confirmed by a KZ301 source are `provisional`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

KZ301_LENGTH = 310
KZ302_LENGTH = 370
RECORD_END = "\r\n"
ENCODING = "ascii"

# Value choices that are not confirmed by a KZ301 source: kept in one place so that correcting one is one line.
MESSAGE_CODE = 133  # 0102 COD002: "Declaraties kraamzorg van kraamcentrum naar zorgverzekeraar" [U]; or 150
VERSION = 3  # 0103
SUBVERSION = 2  # 0104
MESSAGE_KIND = "P"  # 0105 COD856: production [U]
PAYEE = 4  # 0113 COD833: payment to the institution [U]
CODE_LIST = 69  # 0415 COD367: 069 = prestatiecodelijst integrale geboortezorg
SEX_FEMALE = 2  # 0208 COD134 [U]
NAME_USE_OWN = 1  # 0209 COD700: own family name [U]
NOT_DECEASED = 2  # 0223 COD841: 1 = yes, 2 = no [U]
FORWARDING_ALLOWED = 1  # 0407 COD820: must be 1 when an insurer UZOVI is filled (8179)
QUANTITY = 1  # 0421: one integral prestatie per phase

PROVISIONAL = "Voorlopig, tot controle tegen de officiële KZ301 v3.2 BER."


@dataclass(frozen=True)
class Field:
    rubriek: str
    element: str
    name: str
    key: str
    type: str  # "N" or "AN"
    length: int
    start: int  # 1-based, as printed in the standard
    mandatory: bool
    note: str = ""
    # "date" (N 8, EEJJMMDD), "cents" (N, whole cents, unsigned), "dc" (AN 1, "D" or "C"), or "".
    kind: str = ""
    provisional: bool = False

    @property
    def end(self) -> int:
        return self.start + self.length - 1

    @property
    def slice(self) -> slice:
        return slice(self.start - 1, self.end)


@dataclass(frozen=True)
class Record:
    code: str
    name: str
    length: int
    fields: tuple[Field, ...]

    def field(self, key: str) -> Field:
        for f in self.fields:
            if f.key == key or f.rubriek == key:
                return f
        raise KeyError(f"record {self.code}: no field {key!r}")

    @property
    def keys(self) -> tuple[str, ...]:
        return tuple(f.key for f in self.fields)


def _f(
    rubriek: str,
    element: str,
    name: str,
    key: str,
    type_: str,
    length: int,
    start: int,
    mandatory: bool,
    note: str = "",
    *,
    kind: str = "",
    provisional: bool = False,
) -> Field:
    if provisional:
        note = f"{note} {PROVISIONAL}".strip()
    return Field(rubriek, element, name, key, type_, length, start, mandatory, note, kind, provisional)


def _check(record: Record) -> Record:
    """The table's own check: fields contiguous from position 1 and exactly the record's length, keys unique."""
    pos = 1
    for f in record.fields:
        assert f.type in ("N", "AN"), f"{record.code} {f.rubriek}: type {f.type}"
        assert f.start == pos, f"{record.code} {f.rubriek}: starts at {f.start}, expected {pos}"
        assert f.kind != "date" or (f.type == "N" and f.length == 8), f"{record.code} {f.rubriek}: date"
        assert f.kind != "dc" or (f.type == "AN" and f.length == 1), f"{record.code} {f.rubriek}: D/C"
        pos = f.end + 1
    assert pos - 1 == record.length, f"record {record.code}: {pos - 1} positions, expected {record.length}"
    keys = [f.key for f in record.fields]
    assert len(set(keys)) == len(keys), f"record {record.code}: duplicate keys"
    rubrieken = [f.rubriek for f in record.fields]
    assert len(set(rubrieken)) == len(rubrieken), f"record {record.code}: duplicate rubrieken"
    return record


# --- KZ301 v3.2 (310) ------------------------------------------------------------------------------------------

_HEADER_01 = (
    _f("0101", "COD001", "Kenmerk record", "record_code", "N", 2, 1, True, "Altijd `01`."),
    _f(
        "0102",
        "COD002",
        "Code externe-integratiebericht",
        "message_code",
        "N",
        3,
        3,
        True,
        "`133` (declaraties kraamzorg van kraamcentrum naar zorgverzekeraar); alternatief `150`.",
        provisional=True,
    ),
    _f("0103", "NUM001", "Versienummer berichtstandaard", "version", "N", 2, 6, True, "`03`."),
    _f("0104", "NUM309", "Subversienummer berichtstandaard", "subversion", "N", 2, 8, False, "`02`."),
    _f(
        "0105",
        "COD856",
        "Soort bericht",
        "message_kind",
        "AN",
        1,
        10,
        True,
        "`P` (productie).",
        provisional=True,
    ),
    _f(
        "0106",
        "COD805",
        "Code informatiesysteem softwareleverancier",
        "software_code",
        "N",
        6,
        11,
        False,
        "Door Vektis toegekende code; nullen zolang het platform er geen heeft.",
    ),
    _f(
        "0107",
        "NUM284",
        "Versieaanduiding informatiesysteem softwareleverancier",
        "software_version",
        "AN",
        10,
        17,
        False,
        "Spaties.",
    ),
    _f("0108", "COD061", "UZOVI-nummer", "uzovi", "N", 4, 27, False, "De ontvangende zorgverzekeraar."),
    _f(
        "0109",
        "COD377",
        "Code servicebureau",
        "service_bureau",
        "N",
        8,
        31,
        False,
        "Nullen (geen servicebureau).",
    ),
    _f("0110", "COD009", "Zorgverlenerscode", "provider_agb", "N", 8, 39, False, "Nullen.", provisional=True),
    _f("0111", "COD181", "Praktijkcode", "practice_agb", "N", 8, 47, False, "Nullen.", provisional=True),
    _f(
        "0112",
        "COD031",
        "Instellingscode",
        "institution_agb",
        "N",
        8,
        55,
        False,
        "AGB-code van de IGO (de declarant).",
        provisional=True,
    ),
    _f(
        "0113",
        "COD833",
        "Identificatiecode betaling aan",
        "payee",
        "N",
        2,
        63,
        True,
        "`04` (betaling aan de instelling).",
        provisional=True,
    ),
    _f(
        "0114",
        "DAT043",
        "Begindatum declaratieperiode",
        "period_start",
        "N",
        8,
        65,
        True,
        "Eerste dag van de maand van de batch.",
        kind="date",
    ),
    _f(
        "0115",
        "DAT044",
        "Einddatum declaratieperiode",
        "period_end",
        "N",
        8,
        73,
        True,
        "Laatste dag van de maand van de batch.",
        kind="date",
    ),
    _f(
        "0116",
        "NUM029",
        "Factuurnummer declarant",
        "invoice_number",
        "AN",
        12,
        81,
        True,
        "Uniek per IGO: `JJJJMM-` gevolgd door het batchnummer (retourcode 0030).",
    ),
    _f(
        "0117",
        "DAT031",
        "Dagtekening factuur",
        "invoice_date",
        "N",
        8,
        93,
        True,
        "Datum waarop de batch is gemaakt; prestatiedata liggen niet later (8176–8178).",
        kind="date",
    ),
    _f("0118", "NUM351", "BTW-identificatienummer", "vat_number", "AN", 14, 101, False, "Spaties."),
    _f("0119", "COD363", "Valutacode", "currency", "AN", 3, 115, True, "`EUR`."),
    _f("0180", "TEC007", "Reserve", "reserve", "AN", 193, 118, False, "Spaties."),
)

_INSURED_02 = (
    _f("0201", "COD001", "Kenmerk record", "record_code", "N", 2, 1, True, "Altijd `02`."),
    _f(
        "0202",
        "NUM040",
        "Identificatie detailrecord",
        "detail_id",
        "N",
        12,
        3,
        True,
        "Volgnummer, gedeeld door alle detailrecords (02, 04, 98), oplopend vanaf 1.",
    ),
    _f(
        "0203",
        "NUM313",
        "Burgerservicenummer (BSN) verzekerde",
        "bsn",
        "N",
        9,
        15,
        True,
        "Voldoet aan de elfproef (retourcode 0435).",
    ),
    _f("0204", "COD061", "UZOVI-nummer", "uzovi", "N", 4, 24, True, "Gelijk aan 0108."),
    _f("0205", "NUM003", "Verzekerdennummer", "insured_number", "AN", 15, 28, False, "Nooit ingekort."),
    _f("0206", "COD038", "Patiënt(identificatie)nummer", "patient_number", "AN", 11, 43, False, "Spaties."),
    _f("0207", "DAT006", "Datum geboorte verzekerde", "date_of_birth", "N", 8, 54, True, "", kind="date"),
    _f(
        "0208",
        "COD134",
        "Code geslacht verzekerde",
        "sex",
        "N",
        1,
        62,
        True,
        "`2` (vrouw).",
        provisional=True,
    ),
    _f(
        "0209",
        "COD700",
        "Naamcode/naamgebruik (01)",
        "name_code",
        "N",
        1,
        63,
        True,
        "`1` (eigen geslachtsnaam).",
        provisional=True,
    ),
    _f(
        "0210",
        "NAM193",
        "Naam verzekerde (01)",
        "family_name",
        "AN",
        25,
        64,
        True,
        "Geslachtsnaam, hoofdletters ASCII, ingekort tot 25 posities.",
    ),
    _f(
        "0211",
        "NAM194",
        "Voorvoegsel verzekerde (01)",
        "prefix",
        "AN",
        10,
        89,
        False,
        "Spaties: het platform bewaart het voorvoegsel als deel van de geslachtsnaam.",
    ),
    _f("0212", "COD701", "Naamcode/naamgebruik (02)", "name_code_2", "N", 1, 99, False, "Nul."),
    _f("0213", "NAM191", "Naam verzekerde (02)", "family_name_2", "AN", 25, 100, False, "Spaties."),
    _f("0214", "NAM192", "Voorvoegsel verzekerde (02)", "prefix_2", "AN", 10, 125, False, "Spaties."),
    _f(
        "0215",
        "NAM025",
        "Voorletters verzekerde",
        "initials",
        "AN",
        6,
        135,
        True,
        "Hoofdletters ASCII, met punten (`A.M.`), ingekort tot 6 posities.",
    ),
    _f("0216", "COD829", "Naamcode/naamgebruik (03)", "name_code_3", "N", 1, 141, False, "Nul."),
    _f("0217", "COD083", "Postcode (huisadres) verzekerde", "postcode", "AN", 6, 142, False, "Spaties."),
    _f("0218", "COD434", "Postcode buitenland", "postcode_abroad", "AN", 9, 148, False, "Spaties."),
    _f(
        "0219",
        "NUM030",
        "Huisnummer (huisadres) verzekerde",
        "house_number",
        "N",
        5,
        157,
        True,
        "Nullen: het platform bewaart geen adres.",
        provisional=True,
    ),
    _f("0220", "NUM079", "Huisnummertoevoeging", "house_number_suffix", "AN", 6, 162, False, "Spaties."),
    _f("0221", "COD090", "Code land verzekerde", "country", "AN", 2, 168, False, "Spaties."),
    _f(
        "0222",
        "COD316",
        "Debiteurnummer",
        "debtor_number",
        "AN",
        11,
        170,
        False,
        "Spaties (geen debiteurrecord).",
    ),
    _f(
        "0223",
        "COD841",
        "Indicatie cliënt overleden",
        "deceased",
        "N",
        1,
        181,
        True,
        "`2` (nee).",
        provisional=True,
    ),
    _f("0280", "TEC007", "Reserve", "reserve", "AN", 129, 182, False, "Spaties."),
)

_MIDDLE = "Middendeel van 04 naar VK301 v2.2 (verloskunde);"

_SERVICE_04 = (
    _f("0401", "COD001", "Kenmerk record", "record_code", "N", 2, 1, True, "Altijd `04`."),
    _f(
        "0402", "NUM040", "Identificatie detailrecord", "detail_id", "N", 12, 3, True, "Volgnummer, zie 0202."
    ),
    _f(
        "0403",
        "NUM313",
        "Burgerservicenummer (BSN) verzekerde",
        "bsn",
        "N",
        9,
        15,
        True,
        "Gelijk aan 0203 van het 02-record erboven; nullen op een kwaliteitsregel (geen verzekerde).",
    ),
    _f("0404", "COD061", "UZOVI-nummer", "uzovi", "N", 4, 24, True, "Gelijk aan 0204."),
    _f("0405", "NUM003", "Verzekerdennummer", "insured_number", "AN", 15, 28, False, "Gelijk aan 0205."),
    _f("0406", "NUM013", "Machtigingsnummer", "authorisation_number", "AN", 15, 43, False, "Spaties."),
    _f(
        "0407",
        "COD820",
        "Doorsturen toegestaan",
        "forwarding_allowed",
        "N",
        1,
        58,
        True,
        "`1`: verplicht als een UZOVI-nummer is gevuld (8179).",
    ),
    _f(
        "0408",
        "",
        "Indicatie medium risk",
        "medium_risk",
        "N",
        1,
        59,
        False,
        f"{_MIDDLE} nul.",
        provisional=True,
    ),
    _f(
        "0409",
        "",
        "Indicatie overname",
        "takeover",
        "AN",
        1,
        60,
        False,
        f"{_MIDDLE} spatie.",
        provisional=True,
    ),
    _f(
        "0410",
        "",
        "Zorgverlenerscode vorige zorgverlener",
        "previous_provider",
        "N",
        8,
        61,
        False,
        f"{_MIDDLE} nullen.",
        provisional=True,
    ),
    _f(
        "0411",
        "",
        "Zorgverlenersspecificatie vorige zorgverlener",
        "previous_provider_specialism",
        "N",
        4,
        69,
        False,
        f"{_MIDDLE} nullen.",
        provisional=True,
    ),
    _f(
        "0412",
        "DAT001",
        "Begindatum prestatie",
        "service_start",
        "N",
        8,
        73,
        True,
        f"{_MIDDLE} eerste dag van de fase.",
        kind="date",
        provisional=True,
    ),
    _f(
        "0413",
        "DAT003",
        "Einddatum prestatie",
        "service_end",
        "N",
        8,
        81,
        True,
        f"{_MIDDLE} laatste dag van de fase.",
        kind="date",
        provisional=True,
    ),
    _f(
        "0414",
        "DAT221",
        "Datum partus",
        "partus_date",
        "N",
        8,
        89,
        False,
        f"{_MIDDLE} nullen.",
        kind="date",
        provisional=True,
    ),
    _f(
        "0415",
        "COD367",
        "Aanduiding prestatiecodelijst",
        "code_list",
        "N",
        3,
        97,
        True,
        f"{_MIDDLE} `069` (prestatiecodelijst integrale geboortezorg).",
        provisional=True,
    ),
    _f(
        "0416",
        "COD388",
        "Prestatiecode",
        "prestatie_code",
        "AN",
        6,
        100,
        True,
        f"{_MIDDLE} AN 6 in plaats van N 4 (kraamzorgcodes hebben 6 posities); de code uit het contract.",
        provisional=True,
    ),
    _f(
        "0417",
        "COD089",
        "Zorgverlenerscode behandelaar/uitvoerder",
        "provider_agb",
        "N",
        8,
        106,
        False,
        f"{_MIDDLE} AGB-code van de IGO.",
        provisional=True,
    ),
    _f(
        "0418",
        "COD952",
        "Zorgverlenersspecificatie behandelaar/uitvoerder",
        "provider_specialism",
        "N",
        4,
        114,
        False,
        f"{_MIDDLE} nullen.",
        provisional=True,
    ),
    _f(
        "0419",
        "COD836",
        "Zorgverlenerscode voorschrijver/verwijzer",
        "referrer_agb",
        "N",
        8,
        118,
        False,
        f"{_MIDDLE} nullen.",
        provisional=True,
    ),
    _f(
        "0420",
        "COD953",
        "Zorgverlenersspecificatie voorschrijver/verwijzer",
        "referrer_specialism",
        "N",
        4,
        126,
        False,
        f"{_MIDDLE} nullen.",
        provisional=True,
    ),
    _f(
        "0421",
        "ANT054",
        "Aantal uitgevoerde prestaties",
        "quantity",
        "N",
        4,
        130,
        True,
        f"{_MIDDLE} `0001`.",
        provisional=True,
    ),
    _f(
        "0422",
        "",
        "Tijdseenheid zorgperiode",
        "time_unit",
        "N",
        2,
        134,
        False,
        f"{_MIDDLE} nullen.",
        provisional=True,
    ),
    _f(
        "0423",
        "BED160",
        "Tarief prestatie (incl. btw)",
        "tariff",
        "N",
        8,
        136,
        True,
        "Het contracttarief in centen; op een kwaliteitsregel het bedrag van de regel.",
        kind="cents",
    ),
    _f(
        "0424",
        "BED153",
        "Berekend bedrag (incl. btw)",
        "calculated_amount",
        "N",
        8,
        144,
        True,
        "Het bedrag van de regel in centen, zonder teken (retourcode 0611).",
        kind="cents",
    ),
    _f(
        "0425",
        "COD668",
        "Indicatie debet/credit (01)",
        "calculated_dc",
        "AN",
        1,
        152,
        True,
        "`D` of `C`, bij het berekend bedrag.",
        kind="dc",
    ),
    _f(
        "0426",
        "NUM352",
        "Btw-percentage declaratiebedrag",
        "vat_percentage",
        "N",
        4,
        153,
        False,
        "Nullen (vrijgesteld van btw).",
    ),
    _f(
        "0427",
        "BED161",
        "Declaratiebedrag (incl. btw)",
        "amount",
        "N",
        8,
        157,
        True,
        "Het bedrag van de regel in centen, zonder teken; een creditering draagt het bedrag van de regel die zij "
        "terugneemt.",
        kind="cents",
    ),
    _f(
        "0428",
        "COD665",
        "Indicatie debet/credit (02)",
        "amount_dc",
        "AN",
        1,
        165,
        True,
        "`D` of `C`, gelijk aan 0425 (retourcode 8064).",
        kind="dc",
    ),
    _f(
        "0429",
        "NUM362",
        "Referentienummer dit prestatierecord",
        "reference",
        "AN",
        20,
        166,
        True,
        "De unieke referentie van de regel; verandert nooit en wordt nooit hergebruikt (8021).",
    ),
    _f(
        "0430",
        "NUM363",
        "Referentienummer voorgaande gerelateerde prestatierecord",
        "previous_reference",
        "AN",
        20,
        186,
        False,
        "Op een creditering: de referentie van de regel die zij terugneemt (0651, 8017, 8084); anders spaties.",
    ),
    _f("0480", "TEC007", "Reserve", "reserve", "AN", 105, 206, False, "Spaties."),
)

_COMMENT_98 = (
    _f("9801", "COD001", "Kenmerk record", "record_code", "N", 2, 1, True, "Altijd `98`."),
    _f(
        "9802", "NUM040", "Identificatie detailrecord", "detail_id", "N", 12, 3, True, "Volgnummer, zie 0202."
    ),
    _f(
        "9803",
        "NUM109",
        "Regelnummer vrije tekst",
        "line_number",
        "N",
        4,
        15,
        True,
        "Vanaf 1 per record waar het commentaar bij hoort (0754).",
    ),
    _f(
        "9804",
        "OMS016",
        "Vrije tekst",
        "text",
        "AN",
        140,
        19,
        True,
        "Hoofdletters ASCII; hoort bij het record direct ervoor (0755 als leeg).",
    ),
    _f("9880", "TEC007", "Reserve", "reserve", "AN", 152, 159, False, "Spaties."),
)

_CLOSING_99 = (
    _f("9901", "COD001", "Kenmerk record", "record_code", "N", 2, 1, True, "Altijd `99`."),
    _f(
        "9902",
        "ANT085",
        "Aantal verzekerdenrecords",
        "count_02",
        "N",
        6,
        3,
        True,
        "Aantal 02-records (0151).",
    ),
    _f("9903", "ANT086", "Aantal debiteurrecords", "count_03", "N", 6, 9, False, "`000000` in v3.2 (0157)."),
    _f(
        "9904", "ANT087", "Aantal prestatierecords", "count_04", "N", 6, 15, True, "Aantal 04-records (0158)."
    ),
    _f(
        "9905",
        "ANT089",
        "Aantal commentaarrecords",
        "count_98",
        "N",
        6,
        21,
        False,
        "Aantal 98-records (0153).",
    ),
    _f(
        "9906",
        "ANT265",
        "Totaal aantal detailrecords",
        "count_detail",
        "N",
        7,
        27,
        True,
        "02 + 03 + 04 + 98, zonder 01 en 99 (0156).",
        provisional=True,
    ),
    _f(
        "9907",
        "BED025",
        "Totaal declaratiebedrag",
        "total",
        "N",
        11,
        34,
        True,
        "Som van 0427 van de 04-records, debet min credit, in centen zonder teken (0150).",
        kind="cents",
    ),
    _f(
        "9908",
        "COD043",
        "Indicatie debet/credit",
        "total_dc",
        "AN",
        1,
        45,
        True,
        "Teken van het totaal: `D` als het debet minstens het credit is, anders `C`.",
        kind="dc",
    ),
    _f("9980", "TEC007", "Reserve", "reserve", "AN", 265, 46, False, "Spaties."),
)

KZ301: dict[str, Record] = {
    r.code: _check(r)
    for r in (
        Record("01", "Voorlooprecord", KZ301_LENGTH, _HEADER_01),
        Record("02", "Verzekerdenrecord", KZ301_LENGTH, _INSURED_02),
        Record("04", "Prestatierecord", KZ301_LENGTH, _SERVICE_04),
        Record("98", "Commentaarrecord", KZ301_LENGTH, _COMMENT_98),
        Record("99", "Sluitrecord", KZ301_LENGTH, _CLOSING_99),
    )
}


# --- KZ302 v3.2 (370): the 310 declaration positions echoed, plus the return block 311–370 ----------------------


def _return_codes(prefix: str, start: int) -> tuple[Field, ...]:
    return tuple(
        _f(
            f"{prefix}{96 + i}",
            f"COD{954 + i}",
            f"Retourcode ({i + 1:02d})",
            f"return_code_{i + 1}",
            "AN",
            4,
            start + 4 * i,
            False,
            "Retourcode uit COD954; ongebruikt: spaties.",
        )
        for i in range(3)
    )


def _reserve(prefix: str, start: int) -> Field:
    return _f(
        f"{prefix}99", "TEC007", "Reserve", "return_reserve", "AN", KZ302_LENGTH - start + 1, start, False
    )


_RETURN_01 = (
    _f("0181", "NUM370", "Referentienummer zorgverzekeraar", "insurer_reference", "AN", 24, 311, False),
    _f("0182", "DAT277", "Dagtekening retourbericht", "return_date", "N", 8, 335, False, kind="date"),
    *_return_codes("01", 343),
    _reserve("01", 355),
)
_RETURN_02 = (*_return_codes("02", 311), _reserve("02", 323))
_RETURN_04 = (
    _f(
        "0481",
        "BED165",
        "Berekend bedrag zorgverzekeraar",
        "insurer_amount",
        "N",
        8,
        311,
        False,
        kind="cents",
    ),
    _f("0482", "COD672", "Indicatie debet/credit (03)", "insurer_amount_dc", "AN", 1, 319, False, kind="dc"),
    _f("0483", "BED166", "Toegekend bedrag", "awarded_amount", "N", 8, 320, False, kind="cents"),
    _f("0484", "COD673", "Indicatie debet/credit (04)", "awarded_dc", "AN", 1, 328, False, kind="dc"),
    *_return_codes("04", 329),
    _reserve("04", 341),
)
_RETURN_98 = (*_return_codes("98", 311), _reserve("98", 323))

_CLOSING_302 = (
    _f("9901", "COD001", "Kenmerk record", "record_code", "N", 2, 1, True, "Altijd `99`."),
    _f("9902", "ANT267", "Aantal verzekerdenrecords", "count_02", "N", 6, 3, True),
    _f("9903", "ANT268", "Aantal debiteurrecords", "count_03", "N", 6, 9, False),
    _f("9904", "ANT269", "Aantal prestatierecords", "count_04", "N", 6, 15, True),
    _f("9905", "ANT270", "Aantal commentaarrecords", "count_98", "N", 6, 21, False),
    _f("9906", "ANT271", "Totaal aantal detailrecords", "count_detail", "N", 7, 27, True),
    _f("9907", "BED168", "Totaal (ingediend) declaratiebedrag", "total", "N", 11, 34, True, kind="cents"),
    _f("9908", "COD668", "Indicatie debet/credit (01)", "total_dc", "AN", 1, 45, True, kind="dc"),
    _f("9909", "BED167", "Totaal toegekend bedrag", "awarded_total", "N", 11, 46, True, kind="cents"),
    _f("9910", "COD665", "Indicatie debet/credit (02)", "awarded_dc", "AN", 1, 57, True, kind="dc"),
    _f("9980", "TEC007", "Reserve", "reserve", "AN", 313, 58, False),
)

KZ302: dict[str, Record] = {
    r.code: _check(r)
    for r in (
        Record("01", "Voorlooprecord", KZ302_LENGTH, (*KZ301["01"].fields, *_RETURN_01)),
        Record("02", "Verzekerdenrecord", KZ302_LENGTH, (*KZ301["02"].fields, *_RETURN_02)),
        Record("04", "Prestatierecord", KZ302_LENGTH, (*KZ301["04"].fields, *_RETURN_04)),
        Record("98", "Commentaarrecord", KZ302_LENGTH, (*KZ301["98"].fields, *_RETURN_98)),
        Record("99", "Sluitrecord", KZ302_LENGTH, _CLOSING_302),
    )
}


# --- encoding and decoding -------------------------------------------------------------------------------------


class RecordError(ValueError):
    pass


def cents_text(amount: Decimal | int, length: int = 8) -> str:
    """An amount (Decimal euros, or int cents) as unsigned whole cents, zero-filled to `length`."""
    cents = amount if isinstance(amount, int) else int((abs(amount) * 100).to_integral_value())
    text = str(abs(cents))
    if len(text) > length:
        raise RecordError(f"{text} does not fit in {length} positions")
    return text.rjust(length, "0")


def date_text(value: date | None) -> str:
    return "0" * 8 if value is None else value.strftime("%Y%m%d")


def parse_date(text: str) -> date | None:
    """EEJJMMDD to a date; zeros (an unfilled date) to None. Raises ValueError on anything else."""
    if text == "0" * 8:
        return None
    if len(text) != 8 or not text.isascii() or not text.isdigit():
        raise ValueError(f"not a date: {text!r}")
    return date(int(text[:4]), int(text[4:6]), int(text[6:]))


def format_value(f: Field, value: Any) -> str:
    """One field's text: N right-aligned and zero-filled, AN left-aligned and space-filled. Refuses what does not
    fit: shortening (of names and free text) is the caller's decision."""
    if f.type == "N":
        if isinstance(value, date):
            text = date_text(value)
        elif value is None or value == "":
            text = "0"
        elif isinstance(value, Decimal):
            raise RecordError(f"{f.rubriek} {f.key}: pass amounts as cents_text() or int cents")
        else:
            text = str(value)
            if not (text.isascii() and text.isdigit()):
                raise RecordError(f"{f.rubriek} {f.key}: {text!r} is not a number")
        if len(text) > f.length:
            raise RecordError(f"{f.rubriek} {f.key}: {text!r} does not fit in {f.length} positions")
        return text.rjust(f.length, "0")
    text = "" if value is None else str(value)
    if len(text) > f.length:
        raise RecordError(f"{f.rubriek} {f.key}: {text!r} is longer than {f.length} positions")
    if not (text.isascii() and text.isprintable()):
        raise RecordError(f"{f.rubriek} {f.key}: {text!r} is not printable ASCII")
    return text.ljust(f.length)


def encode(record: Record, values: Mapping[str, Any]) -> str:
    """A record's text (without CR LF) from values keyed by field key or rubriek; the record code is filled in,
    fields not given are zeros (N) or spaces (AN)."""
    by_key: dict[str, Any] = {}
    for name, value in values.items():
        by_key[record.field(name).key] = value
    by_key.setdefault("record_code", record.code)
    text = "".join(format_value(f, by_key.get(f.key)) for f in record.fields)
    assert len(text) == record.length
    return text


def decode(record: Record, line: str) -> dict[str, str]:
    """The raw text of every field of one record (without CR LF), keyed by field key: AN right-stripped, N as the
    digit string as it stands."""
    if len(line) != record.length:
        raise RecordError(f"record {record.code}: {len(line)} positions, expected {record.length}")
    return {f.key: (line[f.slice] if f.type == "N" else line[f.slice].rstrip()) for f in record.fields}
