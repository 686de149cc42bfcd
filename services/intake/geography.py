"""INSEE codes of France's current regions (2016) and of the départements each one holds.

Pure data and lookups, used to validate where a centre or a programme is.
"""

from __future__ import annotations

from shared.contracts.vocabulary import REGIONS

_DEPARTEMENTS_BY_REGION: dict[str, tuple[str, ...]] = {
    "01": ("971",),
    "02": ("972",),
    "03": ("973",),
    "04": ("974",),
    "06": ("976",),
    "11": ("75", "77", "78", "91", "92", "93", "94", "95"),
    "24": ("18", "28", "36", "37", "41", "45"),
    "27": ("21", "25", "39", "58", "70", "71", "89", "90"),
    "28": ("14", "27", "50", "61", "76"),
    "32": ("02", "59", "60", "62", "80"),
    "44": ("08", "10", "51", "52", "54", "55", "57", "67", "68", "88"),
    "52": ("44", "49", "53", "72", "85"),
    "53": ("22", "29", "35", "56"),
    "75": ("16", "17", "19", "23", "24", "33", "40", "47", "64", "79", "86", "87"),
    "76": ("09", "11", "12", "30", "31", "32", "34", "46", "48", "65", "66", "81", "82"),
    "84": ("01", "03", "07", "15", "26", "38", "42", "43", "63", "69", "73", "74"),
    "93": ("04", "05", "06", "13", "83", "84"),
    "94": ("2A", "2B"),
}

# Every département (01–95 with 2A/2B instead of 20, and the overseas 971–974, 976) → its region.
# 975 (Saint-Pierre-et-Miquelon) is a collectivity, in no region: it is not accepted.
REGION_OF_DEPARTEMENT: dict[str, str] = {
    departement: region for region, departements in _DEPARTEMENTS_BY_REGION.items() for departement in departements
}


def is_region(code: str) -> bool:
    return code in REGIONS


def is_departement(code: str) -> bool:
    return code in REGION_OF_DEPARTEMENT


def region_of(departement: str) -> str | None:
    return REGION_OF_DEPARTEMENT.get(departement)
