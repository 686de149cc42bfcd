"""The key figures as one HTML file, readable offline: the journey funnel and breakdown charts,
drawn by matplotlib as inline SVG."""

from __future__ import annotations

import html
import io

import matplotlib

matplotlib.use("Agg")  # no screen: render to files only
import matplotlib.pyplot as plt  # noqa: E402

from parcours.report import PER_PLACE  # noqa: E402
from services.outcomes.disclosure import WITHHELD  # noqa: E402

BLUE, GREY = "#1d3d6b", "#a0aec0"


def _svg(fig) -> str:
    buffer = io.StringIO()
    fig.savefig(buffer, format="svg", bbox_inches="tight")
    plt.close(fig)
    text = buffer.getvalue()
    return text[text.index("<svg"):]  # drop the XML prologue: the SVG is inlined in HTML


def _number(value) -> float:
    return value if isinstance(value, int | float) else 0.0


def funnel_chart(counts: dict, rates: dict) -> str:
    positive = rates["positive_exit_rate"]["gen_2020"]["numerator"]
    steps = [("Applications", counts["applications_submitted"]), ("Admitted", counts["applications_admitted"]),
             ("Started", counts["learners_started"]), ("Exits", counts["exits_total"]),
             ("Followed up", counts["followups_in_scope"]), ("Situation known", counts["outcomes_recorded"]),
             ("Positive exit (gen_2020)", positive)]
    labels = [s[0] for s in steps][::-1]
    values = [_number(s[1]) for s in steps][::-1]
    fig, ax = plt.subplots(figsize=(8, 3.6))
    bars = ax.barh(labels, values, color=BLUE)
    for bar, step in zip(bars, steps[::-1], strict=True):
        shown = step[1] if isinstance(step[1], int | float) else WITHHELD
        ax.text(bar.get_width(), bar.get_y() + bar.get_height() / 2, f" {shown}", va="center", fontsize=9)
    ax.set_title("The journey, from application to six months after")
    ax.spines[["top", "right"]].set_visible(False)
    return _svg(fig)


def plain(label: str) -> str:
    """A label as matplotlib must draw it: `$` would start mathtext (and an unmatched one fail the report)."""
    return label.replace("$", r"\$")


def breakdown_chart(groups: list[dict], title: str, rate_path: tuple[str, ...]) -> str:
    labels, values, suppressed = [], [], []
    for g in groups:
        node = g["rates"]
        for key in rate_path:
            node = node[key]
        labels.append(plain(str(g["label"])[:40]))
        values.append(100 * node["value"] if isinstance(node["value"], int | float) else 0.0)
        suppressed.append(not isinstance(node["value"], int | float))
    fig, ax = plt.subplots(figsize=(8, max(2.5, 0.35 * len(groups) + 1)))
    ax.barh(labels[::-1], values[::-1], color=[GREY if s else BLUE for s in suppressed[::-1]])
    ax.set_xlabel("%  (grey: withheld or no data)")
    ax.set_xlim(0, 100)
    ax.set_title(title)
    ax.spines[["top", "right"]].set_visible(False)
    return _svg(fig)


def _rate(node, per_place: bool = False) -> str:
    if isinstance(node["value"], str):
        return html.escape(node["value"])
    if node["value"] is None:
        return "n/a"
    # A ratio is not a share: 4.01 applications per place, not 401 %.
    shown = f"{node['value']:.2f} applications per place" if per_place else f"{100 * node['value']:.1f} %"
    return f"{shown} <small>({node['numerator']}/{node['denominator']})</small>"


def render(figures: dict, rows: list[tuple[str, object]], rate_rows: list[tuple[str, dict]]) -> str:
    year, counts, rates = figures["year"], figures["counts"], figures["rates"]
    parts = [f"<h1>Key figures {year}</h1>",
             f"<p>Definitions {html.escape(figures['definitions'])}; {html.escape(figures['cohorts']['followups'])}. "
             f"Learners: {html.escape(figures['cohorts']['learners'])}. "
             f"Exits: {html.escape(figures['cohorts']['exits'])}."
             + (f" Counts under {figures['suppressed_under']} are withheld, and so are those that would give them "
                f"away; a withheld figure reads {WITHHELD}." if figures.get("suppressed_under") else "")
             + "</p>",
             f"<figure id='funnel'>{funnel_chart(counts, rates)}</figure>",
             "<table><tbody>"]
    parts += [f"<tr><th>{html.escape(label)}</th><td>{html.escape(str(value))}</td></tr>" for label, value in rows]
    parts += [f"<tr><th>{html.escape(label)}</th><td>{_rate(rate, label == PER_PLACE)}</td></tr>"
              for label, rate in rate_rows]
    parts.append("</tbody></table>")
    breakdown = figures.get("breakdown")
    if breakdown:
        by, groups = breakdown["by"], breakdown["groups"]
        parts.append(f"<h2>By {html.escape(by.replace('_', ' '))}</h2>")
        for title, path in (("Positive exit rate (gen_2020)", ("positive_exit_rate", "gen_2020")),
                            ("Share baccalauréat or lower", ("share_bac_or_lower",)),
                            ("Completion rate", ("completion_rate",)),
                            ("Follow-up response rate", ("response_rate",))):
            parts.append(f"<figure class='breakdown'>{breakdown_chart(groups, title, path)}</figure>")
        head = "<tr><th>group</th><th>applications</th><th>learners</th><th>exits</th><th>positive exit</th></tr>"
        body = "".join(
            f"<tr><td>{html.escape(str(g['label']))}</td><td>{g['counts']['applications_submitted']}</td>"
            f"<td>{g['counts']['learners_trained_or_in_training']}</td><td>{g['counts']['exits_total']}</td>"
            f"<td>{_rate(g['rates']['positive_exit_rate']['gen_2020'])}</td></tr>" for g in groups)
        parts.append(f"<table>{head}{body}</table>")
    style = ("body{font-family:system-ui,sans-serif;max-width:900px;margin:1.5rem auto;color:#1d2433}"
             "table{border-collapse:collapse;margin:1rem 0}th,td{text-align:left;padding:.25rem .8rem;"
             "border-bottom:1px solid #dde1e7}figure{margin:1rem 0}svg{max-width:100%;height:auto}")
    return (f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>Parcours key figures {year}</title>"
            f"<style>{style}</style></head><body>{''.join(parts)}</body></html>\n")
