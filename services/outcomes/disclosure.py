"""Statistical disclosure control of the published key figures (definitions v1).

A cell under the threshold (but not zero) is withheld (primary suppression). Then, so that no
withheld cell can be recomputed from what is shown, more cells are withheld (complementary
suppression): every relation between published figures (a total and its parts, within a
population and between the network and the groups of a breakdown, a rate and its numerator and
denominator, one definition of the positive exit and another) must hold two withheld cells or
none, since a relation with one withheld cell gives it by a sum or a difference. A rate is shown
only with its numerator and its denominator, both shown (a rate times its denominator is its
numerator). Pure: it knows the shape of the figures, nothing of HTTP or SQL.
"""

from __future__ import annotations

from services.outcomes.indicators import POSITIVE_DEFINITIONS, SHARES
from shared.contracts.vocabulary import DURABLE, EMPLOYMENT, FOLLOWED_UP_EXITS, REFERRALS_COUNTED, SITUATIONS

WITHHELD = "s"  # secret statistique: the same mark for every withheld cell, small or not

# The cells of one population: its scalar counts, exits by reason, situations by situation.
SCALARS = ("applications_submitted", "applications_admitted", "applications_waitlisted", "applications_rejected",
           "applications_withdrawn", "places_offered", "learners_started", "learners_trained_or_in_training",
           *(f"learners_{share}" for share in SHARES), "exits_total", "followups_in_scope", "followups_exempt",
           "outcomes_recorded", "outcomes_digital_job")
# The counts per code: the key in the figures, the cells' prefix, the codes.
NESTED = {"exits_by_reason": ("exits", FOLLOWED_UP_EXITS), "outcomes_by_situation": ("situation", SITUATIONS),
          "applications_by_referral": ("referral", REFERRALS_COUNTED),
          "admissions_by_referral": ("admitted_by", REFERRALS_COUNTED)}
EXITS = tuple(f"exits.{reason}" for reason in FOLLOWED_UP_EXITS)
SITUATION_CELLS = tuple(f"situation.{s}" for s in SITUATIONS)
REFERRED = tuple(f"referral.{s}" for s in REFERRALS_COUNTED)
ADMITTED_BY = tuple(f"admitted_by.{s}" for s in REFERRALS_COUNTED)
COUNTS = (*SCALARS, *EXITS, *SITUATION_CELLS, *REFERRED, *ADMITTED_BY)

# Sums no count shows, but which a rate's numerator or denominator reveals.
DERIVED: dict[str, tuple[str, ...]] = {
    "decided": ("applications_admitted", "applications_rejected"),
    "completed_any": ("exits.completed", "exits.certified", "exits.not_certified"),
    "left_early": ("exits.dropped_out", "exits.excluded"),
    "certification_decided": ("exits.certified", "exits.not_certified"),
    "employed": tuple(f"situation.{s}" for s in sorted(EMPLOYMENT)),
    "positive.gen_2020": ("outcomes_digital_job", "situation.further_study"),
    "positive.employment_or_study_v1": ("employed", "situation.further_study"),
    "positive.durable_employment_v1": tuple(f"situation.{s}" for s in sorted(DURABLE)),
}
# Totals and their parts, besides the derived sums: (total, parts).
SUMS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("exits_total", EXITS),
    ("outcomes_recorded", SITUATION_CELLS),
    ("applications_submitted", REFERRED),
    ("applications_admitted", ADMITTED_BY),
    ("employed", ("outcomes_digital_job", "other_job")),
    *DERIVED.items(),
)
# Each rate: (numerator, denominator), as cells; its path in the figures' "rates".
RATES: dict[tuple[str, ...], tuple[str, str]] = {
    ("admission_rate",): ("applications_admitted", "decided"),
    ("applications_per_place",): ("applications_submitted", "places_offered"),
    ("completion_rate",): ("completed_any", "exits_total"),
    ("certification_rate",): ("exits.certified", "certification_decided"),
    ("dropout_rate",): ("left_early", "exits_total"),
    ("response_rate",): ("outcomes_recorded", "followups_in_scope"),
    **{(f"share_{share}",): (f"learners_{share}", "learners_trained_or_in_training") for share in SHARES},
    **{("positive_exit_rate", d): (f"positive.{d}", "outcomes_recorded") for d in POSITIVE_DEFINITIONS},
    **{("positive_exit_rate_strict", d): (f"positive.{d}", "followups_in_scope") for d in POSITIVE_DEFINITIONS},
    ("share_digital_job",): ("outcomes_digital_job", "outcomes_recorded"),
    ("share_other_job",): ("other_job", "outcomes_recorded"),
    ("share_further_study",): ("situation.further_study", "outcomes_recorded"),
}
NETWORK = "network"
Cell = tuple[str, str]  # (population, cell name)
PRIME = 2**61 - 1  # span tests modulo a large prime: exact for these small 0/1 systems in all but freak cases


def _atoms() -> dict[str, dict[str, int]]:
    """Each cell as a sum of the quantities it counts (the same in every population): so that the
    relations that follow from combining others (one definition of the positive exit minus another,
    employment minus durable employment) are found too, not only those listed in SUMS."""
    def situations(names, digital=("digital", "other")):
        return {f"cell.{s}.{d}": 1 for s in names for d in digital}

    meaning = {name: {name: 1} for name in SCALARS}
    meaning |= {cell: {cell: 1} for cell in (*REFERRED, *ADMITTED_BY)}
    meaning["applications_submitted"] = {cell: 1 for cell in REFERRED}
    meaning["applications_admitted"] = {cell: 1 for cell in ADMITTED_BY}
    meaning |= {f"exits.{r}": {f"exit.{r}": 1} for r in FOLLOWED_UP_EXITS}
    meaning |= {f"situation.{s}": situations([s]) for s in SITUATIONS}
    meaning["exits_total"] = {f"exit.{r}": 1 for r in FOLLOWED_UP_EXITS}
    meaning["outcomes_recorded"] = situations(SITUATIONS)
    meaning["outcomes_digital_job"] = situations(sorted(EMPLOYMENT), ("digital",))
    meaning["other_job"] = situations(sorted(EMPLOYMENT), ("other",))
    for name, parts in DERIVED.items():
        total: dict[str, int] = {}
        for part in parts:
            for atom, k in meaning[part].items():
                total[atom] = total.get(atom, 0) + k
        meaning[name] = total
    return meaning


ATOMS = _atoms()


def cells_of(figures: dict) -> dict[str, int]:
    """Every cell of one population (counts, then the derived sums), by name."""
    counts = figures["counts"]
    values = {name: int(counts[name]) for name in SCALARS}
    for key, (prefix, codes) in NESTED.items():
        values |= {f"{prefix}.{code}": int(counts.get(key, {}).get(code, 0)) for code in codes}
    values["other_job"] = sum(values[f"situation.{s}"] for s in EMPLOYMENT) - values["outcomes_digital_job"]
    for name, parts in DERIVED.items():  # in order: a derived sum may use an earlier one
        values[name] = sum(values[p] for p in parts)
    return values


def relations(populations: list[str]) -> list[tuple[Cell, tuple[Cell, ...]]]:
    """Every (total, parts) that holds between the cells of a report: within each population, and
    between the network and the groups of a breakdown, cell by cell (learners included: a person
    counted in two groups is rare, and counting her as additive only protects more)."""
    found = [((p, total), tuple((p, part) for part in parts)) for p in populations for total, parts in SUMS]
    groups = [p for p in populations if p != NETWORK]
    if groups:
        names = (*COUNTS, "other_job", *DERIVED)
        found += [((NETWORK, name), tuple((g, name) for g in groups)) for name in names]
    return found


def choose_withheld(values: dict[Cell, int], threshold: int) -> set[Cell]:
    """The cells to withhold: the small ones, and enough others that every relation holds none or at
    least two of them (the smallest cell of the relation is added, the total last, so that as
    little as possible is lost).

    Every cell not withheld is taken as known to the reader, even a sum no figure shows (as if the
    reader had it from elsewhere): then a relation with no withheld cell or with two teaches
    nothing withheld, and no chain of sums and differences reaches one."""
    populations = sorted({p for p, _ in values})
    withheld = {cell for cell, n in values.items() if 0 < n < threshold}
    rels = relations(populations)

    def smallest(candidates):
        return min(candidates, key=lambda c: (values[c] == 0, values[c], c))

    changed = True
    while changed:
        changed = False
        for total, parts in rels:
            hidden = [c for c in (total, *parts) if c in withheld]
            if len(hidden) == 1:
                withheld.add(smallest([c for c in parts if c not in withheld] or [total]))
                changed = True
        for p in populations:  # what combining a population's own relations would give
            mine = frozenset(name for q, name in withheld if q == p)
            found = _recoverable(mine)
            if found:
                atoms = ATOMS[min(found)]
                withheld.add(smallest([(p, name) for name, parts in ATOMS.items()
                                       if name not in mine and atoms.keys() & parts.keys()]))
                changed = True
    return withheld


_RECOVERABLE: dict[frozenset, frozenset] = {}


def _recoverable(withheld: frozenset) -> frozenset:
    """The withheld cells of a population that the others determine (sums and differences of any
    number of them). Depends only on which cells are withheld: remembered."""
    if withheld not in _RECOVERABLE:
        basis: dict[str, dict[str, int]] = {}  # pivot atom -> row reduced to it
        for name, parts in ATOMS.items():
            if name not in withheld:
                _reduce_into(basis, dict(parts))
        _RECOVERABLE[withheld] = frozenset(name for name in withheld if not _reduced(basis, dict(ATOMS[name])))
    return _RECOVERABLE[withheld]


def _reduced(basis: dict, row: dict) -> dict:
    """The row minus its components along the basis, modulo PRIME; empty when the basis spans it."""
    row = {a: v % PRIME for a, v in row.items() if v % PRIME}
    while True:
        pivots = [atom for atom in row if atom in basis]
        if not pivots:
            return row
        pivot = min(pivots)  # each basis row's pivot is its smallest atom: eliminating it adds only larger ones
        k = row[pivot]
        for atom, v in basis[pivot].items():
            row[atom] = (row.get(atom, 0) - k * v) % PRIME
        row = {a: v for a, v in row.items() if v}


def _reduce_into(basis: dict, row: dict) -> None:
    row = _reduced(basis, row)
    if row:
        pivot = min(row)
        inverse = pow(row[pivot], PRIME - 2, PRIME)
        basis[pivot] = {a: v * inverse % PRIME for a, v in row.items()}


def protect(result: dict, threshold: int) -> dict:
    """The key figures with every withheld count and rate shown as WITHHELD (numerator and
    denominator of a withheld rate removed). `result` is the network's figures, with its
    breakdown's groups if any; it is not changed."""
    groups = result.get("breakdown", {}).get("groups", [])
    blocks = {NETWORK: result, **{f"group:{g['key']}": g for g in groups}}
    values = {(p, name): n for p, block in blocks.items() for name, n in cells_of(block).items()}
    withheld = choose_withheld(values, threshold)
    out = {**result, **_masked(result, NETWORK, withheld), "suppressed_under": threshold}
    if groups:
        out["breakdown"] = {**result["breakdown"], "groups": [
            {**g, **_masked(g, f"group:{g['key']}", withheld)} for g in groups]}
    return out


def _masked(block: dict, population: str, withheld: set[Cell]) -> dict:
    def mark(name: str, value):
        return WITHHELD if (population, name) in withheld else value

    counts = dict(block["counts"])
    for name in SCALARS:
        counts[name] = mark(name, counts[name])
    for key, (prefix, _) in NESTED.items():
        if key in counts:
            counts[key] = {code: mark(f"{prefix}.{code}", n) for code, n in counts[key].items()}
    rates = _copy(block["rates"])
    for path, (numerator, denominator) in RATES.items():
        if (population, numerator) in withheld or (population, denominator) in withheld:
            node = rates
            for key in path[:-1]:
                node = node[key]
            node[path[-1]] = {"value": WITHHELD, "numerator": None, "denominator": None, "suppressed": True}
    return {"counts": counts, "rates": rates}


def _copy(node):
    return {k: _copy(v) for k, v in node.items()} if isinstance(node, dict) else node
