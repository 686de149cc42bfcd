"""The Prometheus rules, their unit tests, the scrape config and the Grafana dashboard."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

from services.intake.metrics import build_metrics as intake_metrics
from services.outcomes.metrics import build_metrics as outcomes_metrics
from services.progress.metrics import build_metrics as progress_metrics
from tests.tools import needs

ROOT = Path(__file__).resolve().parents[2]
PROMETHEUS = ROOT / "deploy" / "prometheus"
needs_promtool = needs("promtool", package="prometheus")


def metric_names() -> set[str]:
    names = set()
    for build in (intake_metrics, progress_metrics, outcomes_metrics):
        for family in build().registry.collect():
            suffixes = {"counter": ["_total"], "histogram": ["_bucket", "_sum", "_count"]}.get(family.type, [""])
            names.update(family.name + suffix for suffix in suffixes)
    return names


@needs_promtool
def test_rules_are_valid_and_their_unit_tests_pass():
    check = subprocess.run(["promtool", "check", "rules", str(PROMETHEUS / "rules" / "parcours.rules.yml")],
                           capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    tests = subprocess.run(["promtool", "test", "rules", "parcours.rules.test.yml"], cwd=PROMETHEUS / "tests",
                           capture_output=True, text=True)
    assert tests.returncode == 0, tests.stdout + tests.stderr
    assert "SUCCESS" in tests.stdout


@needs_promtool
def test_scrape_config_is_valid():
    check = subprocess.run(["promtool", "check", "config", str(PROMETHEUS / "prometheus.yml")],
                           capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr


def test_every_alert_has_a_unit_test():
    rules = (PROMETHEUS / "rules" / "parcours.rules.yml").read_text()
    tests = (PROMETHEUS / "tests" / "parcours.rules.test.yml").read_text()
    alerts = re.findall(r"alert: (\w+)", rules)
    assert len(alerts) == 9
    for alert in alerts:
        assert f"alertname: {alert}" in tests


def test_rules_and_dashboard_use_only_metrics_that_exist():
    known = metric_names() | {"up"}
    dashboard = json.loads((ROOT / "deploy" / "grafana" / "dashboards" / "parcours.json").read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    exprs.append((PROMETHEUS / "rules" / "parcours.rules.yml").read_text())
    used = {m for e in exprs for m in re.findall(r"\b(parcours_[a-z0-9_]+|up)\b", e)}
    assert used and used <= known, used - known
    titles = {p["title"] for p in dashboard["panels"]}
    assert {"Journey funnel", "Consumer lag by topic", "Dead-lettered messages (DLQ)"} <= titles


def test_every_metric_is_documented():
    doc = (ROOT / "docs" / "metrics.md").read_text()
    families = {f.name for build in (intake_metrics, progress_metrics, outcomes_metrics)
                for f in build().registry.collect()}
    missing = [name for name in families if name not in doc]
    assert not missing, missing
