"""One result per measure, the JSON file, and the short table printed at the end."""

from __future__ import annotations

import json
import math
import os
import platform
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

RESULTS_DIR = Path(__file__).resolve().parent / "results"


@dataclass
class Result:
    """A measured value, what it is compared with, and whether it meets its target.

    `compare` says what the target applies to: "ratio" (value / baseline) or "value";
    `op` is ">=" or "<".
    """

    name: str
    value: float | None
    unit: str
    target: float | None = None
    op: str = ">="
    compare: str = "value"
    baseline: float | None = None
    baseline_name: str | None = None
    ratio: float | None = None
    met: bool | None = None
    note: str = ""
    details: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.ratio is None and self.baseline and self.value is not None:
            self.ratio = self.value / self.baseline
        if self.met is None and self.target is not None:
            self.met = self.evaluate()

    def evaluate(self) -> bool:
        measured = self.ratio if self.compare == "ratio" else self.value
        if measured is None or self.target is None or (isinstance(measured, float) and math.isnan(measured)):
            return False
        return measured >= self.target if self.op == ">=" else measured < self.target

    @property
    def target_text(self) -> str:
        if self.target is None:
            return ""
        if self.compare == "ratio":
            what = f"{self.target:g}x {self.baseline_name}" if self.baseline_name else f"ratio {self.target:g}"
            if self.target < 1:
                what = f"{self.target * 100:g}% of {self.baseline_name or 'baseline'}"
            return f"{self.op} {what}"
        return f"{self.op} {self.target:g} {self.unit}"

    def to_json(self) -> dict:
        data = asdict(self)
        data["target_text"] = self.target_text
        return _clean(data)


def failed(name: str, unit: str, error: str, target: float | None = None, op: str = ">=",
           compare: str = "value", baseline_name: str | None = None) -> Result:
    """A measure that could not be taken: recorded as not met, with the reason."""
    return Result(name, None, unit, target=target, op=op, compare=compare, baseline_name=baseline_name,
                  met=False, note=f"not measured: {error}")


def _clean(value):
    if isinstance(value, float):
        return None if math.isnan(value) or math.isinf(value) else round(value, 4)
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return value


def machine() -> dict:
    info = {"cores": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu"] = line.split(":", 1)[1].strip()
                break
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                info["memory_mb"] = int(line.split()[1]) // 1024
                break
    except OSError:
        pass
    return info


def write(results: list[Result], mode: str, started: datetime, elapsed: float, extra: dict,
          path: Path | None = None) -> Path:
    # A quick run has its own file: it must not replace the full run the README quotes.
    path = path or RESULTS_DIR / ("latest.json" if mode == "full" else f"latest-{mode}.json")
    path.parent.mkdir(parents=True, exist_ok=True)
    document = {
        "date": started.astimezone(UTC).isoformat(timespec="seconds"),
        "mode": mode,
        "cores": os.cpu_count(),
        "machine": machine(),
        "duration_seconds": round(elapsed, 1),
        "results": [r.to_json() for r in results],
        **extra,
    }
    path.write_text(json.dumps(document, indent=2) + "\n")
    return path


def _fmt(value: float | None, unit: str = "") -> str:
    if value is None:
        return "-"
    if abs(value) >= 1000:
        text = f"{value:,.0f}"
    elif abs(value) >= 100:
        text = f"{value:.0f}"
    elif abs(value) >= 10:
        text = f"{value:.1f}"
    else:
        text = f"{value:.2f}"
    return f"{text} {unit}".strip()


def table(results: list[Result]) -> str:
    rows = [("measure", "value", "baseline", "ratio", "target", "met")]
    for r in results:
        rows.append((
            r.name,
            _fmt(r.value, r.unit),
            _fmt(r.baseline, r.unit) if r.baseline is not None else "",
            f"{r.ratio:.2f}" if r.ratio is not None else "",
            r.target_text,
            "yes" if r.met else ("NO" if r.target is not None else "-"),
        ))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = []
    for n, row in enumerate(rows):
        lines.append("  ".join(cell.ljust(widths[i]) if i in (0, 4) else cell.rjust(widths[i])
                               for i, cell in enumerate(row)).rstrip())
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    notes = [f"  {r.name}: {r.note}" for r in results if r.note]
    if notes:
        lines += ["", "notes:", *notes]
    return "\n".join(lines)


def markdown_table(results: list[Result]) -> str:
    lines = ["| measure | value | baseline | ratio | target | met |", "|---|---:|---:|---:|---|:---:|"]
    for r in results:
        lines.append(
            f"| {r.name} | {_fmt(r.value, r.unit)} | "
            f"{_fmt(r.baseline, r.unit) if r.baseline is not None else ''} | "
            f"{f'{r.ratio:.2f}' if r.ratio is not None else ''} | {r.target_text} | "
            f"{'yes' if r.met else ('**no**' if r.target is not None else '-')} |"
        )
    return "\n".join(lines)
