"""The key figures as one HTML file, readable offline: the journey funnel and breakdown charts,
drawn by matplotlib as inline SVG."""

from __future__ import annotations

import html
import io

import matplotlib

matplotlib.use("Agg")  # no screen: render to files only
import matplotlib.pyplot as plt  # noqa: E402

from services.outcomes import report_files  # noqa: E402
from services.outcomes.disclosure import WITHHELD  # noqa: E402
from shared.i18n import Words  # noqa: E402

BLUE, GREY = "#1d3d6b", "#a0aec0"


def _svg(fig) -> str:
    buffer = io.StringIO()
    fig.savefig(buffer, format="svg", bbox_inches="tight")
    plt.close(fig)
    text = buffer.getvalue()
    return text[text.index("<svg"):]  # drop the XML prologue: the SVG is inlined in HTML


def _number(value) -> float:
    return value if isinstance(value, int | float) else 0.0


def funnel_chart(counts: dict, rates: dict, w: Words) -> str:
    steps = [(w._(words), value) for words, value in report_files.funnel(counts, rates)]
    labels = [s[0] for s in steps][::-1]
    values = [_number(s[1]) for s in steps][::-1]
    fig, ax = plt.subplots(figsize=(8, 3.6))
    bars = ax.barh(labels, values, color=BLUE)
    for bar, step in zip(bars, steps[::-1], strict=True):
        shown = step[1] if isinstance(step[1], int | float) else WITHHELD
        ax.text(bar.get_width(), bar.get_y() + bar.get_height() / 2, f" {shown}", va="center", fontsize=9)
    ax.set_title(w._("The journey, from application to six months after"))
    ax.spines[["top", "right"]].set_visible(False)
    return _svg(fig)


def plain(label: str) -> str:
    """A label as matplotlib must draw it: `$` would start mathtext (and an unmatched one fail the report)."""
    return label.replace("$", r"\$")


def breakdown_chart(groups: list[dict], title: str, rate_path: tuple[str, ...], w: Words, by: str = "") -> str:
    labels, values, suppressed = [], [], []
    for g in groups:
        node = g["rates"]
        for key in rate_path:
            node = node[key]
        labels.append(plain(report_files.group_label(w, by, g)[:40]))
        values.append(100 * node["value"] if isinstance(node["value"], int | float) else 0.0)
        suppressed.append(not isinstance(node["value"], int | float))
    fig, ax = plt.subplots(figsize=(8, max(2.5, 0.35 * len(groups) + 1)))
    ax.barh(labels[::-1], values[::-1], color=[GREY if s else BLUE for s in suppressed[::-1]])
    ax.set_xlabel(w._("%  (grey: withheld or no data)"))
    ax.set_xlim(0, 100)
    ax.set_title(title)
    ax.spines[["top", "right"]].set_visible(False)
    return _svg(fig)


def _rate(w: Words, node, per_place: bool = False) -> str:
    shown = html.escape(report_files.shown_rate(w, node, per_place))
    if not isinstance(node["value"], int | float):
        return shown
    return f"{shown} <small>({w.number(node['numerator'])}/{w.number(node['denominator'])})</small>"


def render(figures: dict, w: Words) -> str:
    year, counts, rates = figures["year"], figures["counts"], figures["rates"]
    title = w._("Key figures %(year)s", year=year)
    parts = [f"<h1>{html.escape(title)}</h1>", f"<p>{html.escape(report_files.who_is_counted(w, figures))}</p>",
             f"<figure id='funnel'>{funnel_chart(counts, rates, w)}</figure>",
             "<table><tbody>"]
    parts += [f"<tr><th>{html.escape(label)}</th><td>{html.escape(w.number(value))}</td></tr>"
              for label, value in report_files.count_rows(w, counts)]
    parts += [f"<tr><th>{html.escape(label)}</th><td>{_rate(w, rate, name == report_files.PER_PLACE)}</td></tr>"
              for name, label, rate in report_files.rate_rows(w, rates)]
    parts.append("</tbody></table>")
    breakdown = figures.get("breakdown")
    if breakdown:
        by, groups = breakdown["by"], breakdown["groups"]
        heading = w._("By %(breakdown)s", breakdown=w._(report_files.BREAKDOWNS[by]))
        parts.append(f"<h2>{html.escape(heading)}</h2>")
        for path in (("positive_exit_rate", "gen_2020"), ("share_bac_or_lower",), ("completion_rate",),
                     ("response_rate",)):
            chart = breakdown_chart(groups, w._(dict(report_files.RATES)[path]), path, w, by)
            parts.append(f"<figure class='breakdown'>{chart}</figure>")
        head = "".join(f"<th scope='col'>{html.escape(name)}</th>"
                       for name in map(w._, report_files.GROUP_COLUMNS))
        body = "".join(
            f"<tr><td>{html.escape(report_files.group_label(w, by, g))}</td>"
            f"<td>{w.number(g['counts']['applications_submitted'])}</td>"
            f"<td>{w.number(g['counts']['learners_trained_or_in_training'])}</td>"
            f"<td>{w.number(g['counts']['exits_total'])}</td>"
            f"<td>{_rate(w, g['rates']['positive_exit_rate']['gen_2020'])}</td></tr>" for g in groups)
        parts.append(f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")
    style = ("body{font-family:system-ui,sans-serif;max-width:900px;margin:1.5rem auto;color:#1d2433}"
             "table{border-collapse:collapse;margin:1rem 0}th,td{text-align:left;padding:.25rem .8rem;"
             "border-bottom:1px solid #dde1e7}figure{margin:1rem 0}svg{max-width:100%;height:auto}")
    return (f"<!doctype html><html lang='{w.lang}'><head><meta charset='utf-8'><title>Parcours · "
            f"{html.escape(title)}</title><style>{style}</style></head><body>{''.join(parts)}</body></html>\n")
