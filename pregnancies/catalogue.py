"""The default care-event catalogue every new IGO starts with; each IGO edits its own copy."""

from __future__ import annotations

from decimal import Decimal

from igo.models import Tenant
from pregnancies import selectors
from pregnancies.models import EventType

MW, CMW, GYN, NURSE, KZ, ECHO = (
    "midwife",
    "clinical_midwife",
    "gynaecologist",
    "obstetric_nurse",
    "maternity_carer",
    "sonographer",
)
OBSTETRIC = [MW, CMW, GYN]

# code, Dutch name, English name, phase ("" = any), unit, disciplines, maximum per event
DEFAULT_CATALOGUE: list[tuple[str, str, str, str, str, list[str], str]] = [
    ("INTAKE", "Intake", "Intake", "prenatal", "visit", OBSTETRIC, "1"),
    ("PRE_CHECK", "Prenatale controle", "Prenatal check", "prenatal", "visit", OBSTETRIC, "1"),
    ("ECHO_TERM", "Termijnecho", "Dating ultrasound", "prenatal", "item", [MW, CMW, GYN, ECHO], "1"),
    (
        "ECHO_NT",
        "Nekplooimeting / 13-wekenecho",
        "13-week ultrasound",
        "prenatal",
        "item",
        [MW, GYN, ECHO],
        "1",
    ),
    ("ECHO_SEO", "20-wekenecho (SEO)", "20-week anomaly scan", "prenatal", "item", [MW, GYN, ECHO], "1"),
    ("ECHO_GROWTH", "Groei-echo", "Growth ultrasound", "prenatal", "item", [MW, CMW, GYN, ECHO], "1"),
    ("REFERRAL", "Verwijsconsult tweede lijn", "Referral consultation", "", "visit", [GYN, CMW], "1"),
    ("KZ_INTAKE", "Kraamzorg intake", "Maternity care intake", "prenatal", "visit", [KZ], "1"),
    ("DELIV_HOME", "Bevalling thuis", "Delivery at home", "natal", "item", [MW], "1"),
    (
        "DELIV_CENTRE",
        "Bevalling geboortecentrum",
        "Delivery in a birth centre",
        "natal",
        "item",
        [MW, CMW],
        "1",
    ),
    ("DELIV_POLI", "Poliklinische bevalling", "Polyclinic delivery", "natal", "item", [MW, CMW], "1"),
    ("DELIV_CLIN", "Klinische bevalling", "Clinical delivery", "natal", "item", [CMW, GYN], "1"),
    ("PARTUS_ASSIST", "Partusassistentie", "Labour assistance (kraamzorg)", "natal", "hour", [KZ], "12"),
    ("HOSP_DAY", "Ziekenhuisligdag", "Hospital day", "postnatal", "day", [GYN, CMW, NURSE], "1"),
    ("POST_VISIT", "Postnatale visite", "Postnatal visit", "postnatal", "visit", OBSTETRIC, "1"),
    ("KZ_HOURS", "Kraamzorg (uren)", "Maternity care (hours)", "postnatal", "hour", [KZ], "12"),
    ("KZ_OBS", "Kraamzorg observatie", "Maternity care observation", "postnatal", "item", [KZ], "1"),
    ("CHECK_6W", "Nacontrole 6 weken", "Six-week check", "postnatal", "visit", OBSTETRIC, "1"),
]

# Within how many minutes the same entry again for one client asks "are you sure?" (a double entry, or a
# colleague who logged it already). Hours of care add up and are never asked about.
DUPLICATE_WINDOWS: dict[str, int] = {
    "INTAKE": 24 * 60,
    "PRE_CHECK": 12 * 60,
    "ECHO_TERM": 24 * 60,
    "ECHO_NT": 24 * 60,
    "ECHO_SEO": 24 * 60,
    "ECHO_GROWTH": 12 * 60,
    "REFERRAL": 12 * 60,
    "KZ_INTAKE": 24 * 60,
    "DELIV_HOME": 24 * 60,
    "DELIV_CENTRE": 24 * 60,
    "DELIV_POLI": 24 * 60,
    "DELIV_CLIN": 24 * 60,
    "HOSP_DAY": 12 * 60,
    "POST_VISIT": 4 * 60,
    "CHECK_6W": 24 * 60,
}


def catalogue_seed(*, tenant: Tenant) -> int:
    """Add the default entries the IGO does not have yet; returns how many were added."""
    existing = set(EventType.unscoped.filter(tenant=tenant).values_list("code", flat=True))
    new = [
        EventType(
            tenant=tenant,
            code=code,
            name_nl=nl,
            name_en=en,
            phase=phase,
            unit=unit,
            disciplines=disciplines,
            max_quantity=Decimal(maximum),
            duplicate_window_minutes=DUPLICATE_WINDOWS.get(code, 0),
        )
        for code, nl, en, phase, unit, disciplines, maximum in DEFAULT_CATALOGUE
        if code not in existing
    ]
    EventType.unscoped.bulk_create(new)
    selectors.catalogue_drop(tenant.pk)  # no signal for a bulk insert
    return len(new)
