"""Suppressed key figures leak nothing: every figure shown is written as a sum of the hidden
quantities it counts (per group of programmes: applications by status, learners, exits by reason,
situations with and without a digital job), independently of the suppression's own list of
relations; a withheld cell that is a linear combination of the cells shown (sums, differences,
rate times denominator, across rows, columns, numerators, denominators and definitions) would be
recovered by an analyst, and the test finds none, on reports of several seeds."""

from __future__ import annotations

import random

import numpy as np
import pytest

from services.outcomes import disclosure, indicators
from shared.contracts.vocabulary import DURABLE, EMPLOYMENT, FOLLOWED_UP_EXITS, REFERRALS_COUNTED, SITUATIONS

THRESHOLD = 20
SCALARS = indicators.SUMMED


def atoms_of(group: int) -> list[tuple]:
    return ([(group, "raw", k) for k in SCALARS] + [(group, "exit", r) for r in FOLLOWED_UP_EXITS]
            + [(group, "cell", s, d) for s in SITUATIONS for d in (True, False)]
            + [(group, kind, s) for kind in ("referred", "admitted_by") for s in REFERRALS_COUNTED])


def report(seed: int, groups: int) -> tuple[dict, dict]:
    """The figures of a network of `groups` groups with small random counts, and each group's atoms."""
    rng = random.Random(seed)
    per_group, values = {}, {}
    for g in range(groups):
        raw = {k: rng.choice([0, rng.randint(1, 30), rng.randint(1, 400)]) for k in SCALARS}
        for kind, total in (("applications_by_referral", "applications_submitted"),
                            ("admissions_by_referral", "applications_admitted")):
            raw[kind] = {s: rng.choice([0, rng.randint(1, 12), rng.randint(1, 150)]) for s in REFERRALS_COUNTED}
            raw[total] = sum(raw[kind].values())
        raw["exits_by_reason"] = {r: rng.choice([0, rng.randint(1, 25), rng.randint(1, 200)])
                                  for r in FOLLOWED_UP_EXITS}
        cells = {(s, d): rng.choice([0, rng.randint(1, 15), rng.randint(1, 90)]) for s in SITUATIONS
                 for d in (True, False) if d is False or s in EMPLOYMENT}
        per_group[f"g{g}"] = (raw, cells)
        values |= {(g, "raw", k): raw[k] for k in SCALARS}
        values |= {(g, "exit", r): raw["exits_by_reason"][r] for r in FOLLOWED_UP_EXITS}
        values |= {(g, "cell", s, d): cells.get((s, d), 0) for s in SITUATIONS for d in (True, False)}
        values |= {(g, "referred", s): raw["applications_by_referral"][s] for s in REFERRALS_COUNTED}
        values |= {(g, "admitted_by", s): raw["admissions_by_referral"][s] for s in REFERRALS_COUNTED}
    total = indicators.group(per_group, lambda _: "all")["all"]
    result = {"year": 2020, **indicators.figures(*total), "breakdown": {"by": "region", "groups": [
        {"key": key, "label": key, **indicators.figures(*per_group[key])} for key in sorted(per_group)]}}
    return result, values


def meaning(name: str, groups: list[int]) -> dict[tuple, int]:
    """What a cell counts, as a sum of atoms: written here from the definitions, not from disclosure."""
    def raw(k):
        return {(g, "raw", k): 1 for g in groups}

    def exits(*reasons):
        return {(g, "exit", r): 1 for g in groups for r in reasons}

    def cells(situations, digital=(True, False)):
        return {(g, "cell", s, d): 1 for g in groups for s in situations for d in digital}

    def referred(kind, sources=REFERRALS_COUNTED):
        return {(g, kind, s): 1 for g in groups for s in sources}

    known = {
        "applications_submitted": referred("referred"), "applications_admitted": referred("admitted_by"),
        "decided": {**referred("admitted_by"), **raw("applications_rejected")},
        "exits_total": exits(*FOLLOWED_UP_EXITS), "outcomes_recorded": cells(SITUATIONS),
        "outcomes_digital_job": cells(EMPLOYMENT, (True,)),
        "completed_any": exits("completed", "certified", "not_certified"),
        "left_early": exits("dropped_out", "excluded"), "certification_decided": exits("certified", "not_certified"),
        "other_job": cells(EMPLOYMENT, (False,)),
        "positive.gen_2020": {**cells(EMPLOYMENT, (True,)), **cells(["further_study"])},
        "positive.employment_or_study_v1": cells([*EMPLOYMENT, "further_study"]),
        "positive.durable_employment_v1": cells(DURABLE),
    }
    if name in known:
        return known[name]
    if name.startswith("exits."):
        return exits(name.split(".", 1)[1])
    if name.startswith("situation."):
        return cells([name.split(".", 1)[1]])
    if name.startswith(("referral.", "admitted_by.")):
        kind, source = name.split(".", 1)
        return referred("referred" if kind == "referral" else "admitted_by", [source])
    return raw(name)


# Each rate, as the figures name it: its numerator and denominator cells.
RATE_CELLS = {
    "admission_rate": ("applications_admitted", "decided"),
    "applications_per_place": ("applications_submitted", "places_offered"),
    "completion_rate": ("completed_any", "exits_total"), "certification_rate": ("exits.certified",
                                                                                "certification_decided"),
    "dropout_rate": ("left_early", "exits_total"), "response_rate": ("outcomes_recorded", "followups_in_scope"),
    **{f"share_{s}": (f"learners_{s}", "learners_trained_or_in_training") for s in indicators.SHARES},
    **{f"positive_exit_rate.{d}": (f"positive.{d}", "outcomes_recorded") for d in indicators.POSITIVE_DEFINITIONS},
    **{f"positive_exit_rate_strict.{d}": (f"positive.{d}", "followups_in_scope")
       for d in indicators.POSITIVE_DEFINITIONS},
    "share_digital_job": ("outcomes_digital_job", "outcomes_recorded"),
    "share_other_job": ("other_job", "outcomes_recorded"), "share_further_study": ("situation.further_study",
                                                                                 "outcomes_recorded"),
}


def flat_rates(rates: dict, prefix: str = "") -> dict[str, dict]:
    out = {}
    for key, node in rates.items():
        if "denominator" in node:
            out[prefix + key] = node
        else:
            out |= flat_rates(node, f"{prefix}{key}.")
    return out


def shown_and_hidden(block: dict, groups: list[int]) -> tuple[list, list]:
    """(vectors of what a reader sees, vectors of every withheld count) of one population."""
    shown, hidden = [], []
    counts = block["counts"]
    scalar = [(k, counts[k]) for k in (*SCALARS, "exits_total", "outcomes_recorded", "outcomes_digital_job")]
    listed = scalar + [(f"exits.{r}", n) for r, n in counts["exits_by_reason"].items()]
    listed += [(f"situation.{s}", n) for s, n in counts["outcomes_by_situation"].items()]
    listed += [(f"referral.{s}", n) for s, n in counts["applications_by_referral"].items()]
    listed += [(f"admitted_by.{s}", n) for s, n in counts["admissions_by_referral"].items()]
    for name, value in listed:
        (hidden if value == disclosure.WITHHELD else shown).append((name, meaning(name, groups)))
    for path, node in flat_rates(block["rates"]).items():
        if node["value"] != disclosure.WITHHELD:
            numerator, denominator = RATE_CELLS[path]
            shown += [(numerator, meaning(numerator, groups)), (denominator, meaning(denominator, groups))]
    return shown, hidden


def recoverable(shown: list, hidden: list, atoms: list) -> list[str]:
    """The withheld cells in the span of those shown (exactly: a tolerance far below one count)."""
    index = {a: i for i, a in enumerate(atoms)}

    def vector(parts: dict) -> np.ndarray:
        v = np.zeros(len(atoms))
        for atom, k in parts.items():
            v[index[atom]] += k
        return v

    matrix = np.array([vector(parts) for _, parts in shown])
    _, singular, vt = np.linalg.svd(matrix, full_matrices=False)
    basis = vt[singular > 1e-9]
    found = []
    for name, parts in hidden:
        v = vector(parts)
        if np.linalg.norm(v - basis.T @ (basis @ v)) < 1e-6:
            found.append(name)
    return found


def values_of(parts: dict, values: dict) -> int:
    return sum(values[a] * k for a, k in parts.items())


@pytest.mark.parametrize("seed", range(1, 13))
def test_no_withheld_cell_can_be_recomputed_from_what_is_shown(seed):
    groups = 2 + seed % 9
    result, values = report(seed, groups)
    protected = disclosure.protect(result, THRESHOLD)
    atoms = [a for g in range(groups) for a in atoms_of(g)]
    populations = [("network", protected, list(range(groups)))]
    populations += [(g["key"], g, [int(g["key"][1:])]) for g in protected["breakdown"]["groups"]]
    shown, hidden = [], []
    for label, block, members in populations:
        s, h = shown_and_hidden(block, members)
        shown += s
        hidden += [(f"{label}:{name}", parts) for name, parts in h]
        for name, parts in s:  # the test's meaning of each cell is the figures' own
            if not name.startswith(("positive.", "decided", "completed_any", "left_early", "certification_",
                                    "other_job")):
                continue
            rates = {RATE_CELLS[p][i]: node[("numerator", "denominator")[i]]
                     for p, node in flat_rates(block["rates"]).items() for i in (0, 1)
                     if node["value"] != disclosure.WITHHELD}
            assert rates[name] == values_of(parts, values), name
    primary = [name for name, parts in hidden if 0 < values_of(parts, values) < THRESHOLD]
    assert primary, "the report has small cells to protect"
    assert recoverable(shown, hidden, atoms) == []


def test_small_cells_are_withheld_and_large_ones_mostly_shown():
    result, _ = report(7, 5)
    protected = disclosure.protect(result, THRESHOLD)
    network = protected["counts"]
    assert protected["suppressed_under"] == THRESHOLD
    every = [v for g in [protected, *protected["breakdown"]["groups"]] for v in (
        *(g["counts"][k] for k in SCALARS), *g["counts"]["exits_by_reason"].values(),
        *g["counts"]["outcomes_by_situation"].values(), *g["counts"]["applications_by_referral"].values(),
        *g["counts"]["admissions_by_referral"].values())]
    assert all(v == disclosure.WITHHELD or v == 0 or v >= THRESHOLD for v in every)
    assert sum(v == disclosure.WITHHELD for v in every) < len(every) / 2
    assert isinstance(network["applications_submitted"], int)  # a large total stays


def test_the_suppression_knows_every_count_and_rate_the_figures_have():
    result, _ = report(1, 2)
    counts = result["counts"]
    scalar = {k for k, v in counts.items() if not isinstance(v, dict)}
    assert scalar == set(disclosure.SCALARS)
    assert {k for k, v in counts.items() if isinstance(v, dict)} == set(disclosure.NESTED)
    assert set(flat_rates(result["rates"])) == {".".join(path) for path in disclosure.RATES}
    assert {".".join(path) for path in disclosure.RATES} == set(RATE_CELLS)
