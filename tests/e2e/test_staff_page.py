"""Follow-up staff and managers in a real browser (Debian's chromium driven by Playwright), in
French as a French browser asks: log an attempt, record an outcome with several situations, see
it leave the worklist and appear in the figures; a manager opens 2020, switches the breakdown and
the definition, downloads the CSV; the HTML report opens offline with its charts. Every page is
checked by axe-core (no serious or critical violation) and photographed: with
PARCOURS_SCREENSHOTS=1 (`make screenshots`) into docs/screenshots, for the README."""

from __future__ import annotations

import csv
import hashlib
import io
import os
import shutil
import struct
import uuid
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from tests.e2e.helpers import Up, run, service_ports
from tests.tools import require

CHROMIUM = shutil.which("chromium")
# Issue 18 asks for these in a real browser: without Chromium they fail and say why, never skip.
pytestmark = pytest.mark.e2e
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--no-first-run"]


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    ports = service_ports()
    up = Up(tmp_path_factory.mktemp("staff") / "state", ports)
    try:
        up.wait_ready()
        sim = run(["simulate", "--year", "2020", "--scale", "0.01", "--seed", "5", "--quiet", "--timeout", "120"],
                  up.env())
        assert sim.returncode == 0, sim.stdout + sim.stderr
        yield up
    finally:
        up.stop()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    require("chromium", package="chromium")
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield chromium
        chromium.close()


def png_size(path) -> tuple[int, int]:
    with open(path, "rb") as f:
        header = f.read(24)
    assert header[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", header[16:24])


def key_figures(stack, year: int) -> dict:
    outcomes = f"http://127.0.0.1:{stack.ports['outcomes']}"
    return httpx.get(f"{outcomes}/key-figures", params={"year": year}, headers=stack.headers,
                     timeout=30).json()["counts"]


def followup_key(stack, role: str = "followup", name: str = "Samia") -> str:
    created = run(["keys", "create", "--role", role, "--name", name, "--state-dir", str(stack.state_dir)],
                  stack.env())
    assert created.returncode == 0, created.stdout + created.stderr
    return next(line for line in created.stdout.splitlines() if line.startswith("pk_"))


DOCS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


def photographed(page, name: str, tmp_path) -> Path:
    """A full-page screenshot: into docs/screenshots when asked (make screenshots), else beside the test."""
    folder = DOCS if os.environ.get("PARCOURS_SCREENSHOTS") else tmp_path
    folder.mkdir(parents=True, exist_ok=True)
    shot = folder / f"{name}.png"
    page.screenshot(path=str(shot), full_page=True)
    return shot


def accessible(page) -> None:
    """axe-core, run in the page (RGAA's automatable checks are WCAG's): no serious or critical violation."""
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page)
    serious = [(v["id"], v["impact"], [n["target"] for n in v["nodes"]][:3])
               for v in results.response["violations"] if v["impact"] in ("serious", "critical")]
    assert serious == [], f"{page.url}: {serious}"


def french_page(browser):
    return browser.new_page(viewport={"width": 1280, "height": 800}, locale="fr-FR", accept_downloads=True)


def test_staff_log_an_attempt_record_an_outcome_and_see_it_counted(stack, browser, tmp_path):
    outcomes = f"http://127.0.0.1:{stack.ports['outcomes']}"
    page = french_page(browser)
    page.goto(f"{outcomes}/staff")
    assert page.url.endswith("/staff/login")  # no key yet: to the sign-in form
    assert page.locator("html").get_attribute("lang") == "fr"
    assert page.locator("text=Se déconnecter").count() == 0  # nobody to sign out yet
    accessible(page)
    photographed(page, "staff-sign-in", tmp_path)
    page.fill("#key", "pk_not-a-key")
    page.click("button:has-text('Se connecter')")
    assert "inconnue, révoquée ou expirée" in page.inner_text("[role=alert]")
    page.fill("#key", followup_key(stack))
    page.click("button:has-text('Se connecter')")
    page.wait_for_url(f"{outcomes}/staff")
    rows = page.locator("tbody tr[data-learner]")
    assert rows.count() > 0
    assert page.locator("h1").inner_text() == "Personnes à suivre"
    assert page.inner_text("#signed-in") == "Connecté : Samia"
    # The learner is named for staff whose key may read contact details (the simulator's names).
    assert rows.first.locator("a").inner_text() != "" and not rows.first.locator("a").inner_text().startswith(
        "Personne ")
    accessible(page)
    shot = photographed(page, "staff-worklist", tmp_path)
    width, height = png_size(shot)
    assert width >= 1200 and height >= 400 and shot.stat().st_size > 20_000

    # Keyboard only: Tab to the first follow-up link and open it with Enter.
    followup = rows.first.get_attribute("data-followup")
    for _ in range(40):
        page.keyboard.press("Tab")
        href = page.evaluate("document.activeElement.getAttribute('href') || ''")
        if href.startswith("/staff/followups/"):
            break
    assert href == f"/staff/followups/{followup}"  # a follow-up is addressed by its own id
    page.keyboard.press("Enter")
    page.wait_for_url(f"**{href}")
    exit_date = page.locator("main p").first.inner_text().split("sorti le ")[1][:10]
    assert exit_date[2] == "/" and exit_date[5] == "/"  # 03/12/2026, as written in France
    exit_year = int(exit_date[6:])
    assert "@example.org" in page.inner_text("body")  # contact details fetched from intake just now
    assert page.locator("#attempt-staff").count() == 0  # the acting person is the one signed in
    accessible(page)
    photographed(page, "staff-followup", tmp_path)
    before = key_figures(stack, exit_year)

    page.select_option("#channel", "phone")
    page.select_option("#result", "no_answer")
    page.click("text=Noter la tentative")
    assert "Tentative enregistrée." in page.inner_text("main")
    assert "téléphone · pas de réponse · Samia" in page.inner_text("#attempts")

    page.check("#situation-permanent_contract")
    page.check("#situation-further_study")  # several ticked: the first by priority counts
    page.check("#digital_job")
    page.fill("#job_title", "Développeuse web")
    page.click("button:has-text('Enregistrer la situation')")
    page.wait_for_url("**/staff?done=*")
    assert "Situation enregistrée." in page.inner_text("main")
    assert page.locator(f"tr[data-followup='{followup}']").count() == 0  # it left the worklist

    after = key_figures(stack, exit_year)
    assert after["outcomes_recorded"] == before["outcomes_recorded"] + 1
    assert after["outcomes_by_situation"]["permanent_contract"] == \
        before["outcomes_by_situation"]["permanent_contract"] + 1
    detail = httpx.get(f"{outcomes}/followups/{followup}", headers=stack.headers, timeout=10).json()
    assert detail["status"] == "recorded" and detail["attempts"][0]["result"] == "no_answer"
    assert detail["attempts"][0]["staff"] == "Samia"  # the one signed in, not a name typed in a form
    assert detail["outcomes"][0]["situations"] == ["permanent_contract", "further_study"]

    # A wrong form answers with the reason, on the page, and stores nothing.
    page.goto(f"{outcomes}/staff/followups/{followup}")
    assert "CDI" in page.inner_text("#history")
    page.check("#situation-inactive")
    page.check("#digital_job")
    page.click("text=Enregistrer la correction")
    assert "digital_job is only for an employment situation" in page.inner_text("[role=alert]")
    assert key_figures(stack, exit_year) == after

    # The switch: the same page in English, kept for the pages that follow.
    page.click("a[hreflang=en]")
    assert page.locator("html").get_attribute("lang") == "en" and page.inner_text("h1").startswith("Follow-up")
    page.goto(f"{outcomes}/staff")
    assert page.locator("h1").inner_text() == "Learners to follow up"


def test_a_manager_opens_2020_switches_breakdown_and_definition_and_downloads_the_csv(stack, browser, tmp_path):
    outcomes = f"http://127.0.0.1:{stack.ports['outcomes']}"
    page = french_page(browser)
    page.goto(f"{outcomes}/manager")
    assert page.url.endswith("/staff/login")
    page.fill("#key", followup_key(stack, "manager", "Claire"))
    page.click("button:has-text('Se connecter')")
    page.wait_for_url(f"{outcomes}/manager")
    assert page.inner_text("#signed-in") == "Connecté : Claire"
    page.select_option("#year", "2020")
    page.select_option("#compare", "previous")
    page.click("button:has-text('Afficher')")
    assert page.locator("h1").inner_text() == "Chiffres clés 2020"
    assert page.locator("#funnel tbody tr").count() == 7
    page.select_option("#by", "region")
    page.select_option("#definition", "durable_employment_v1")
    page.check("input[name=every_count]")
    page.click("button:has-text('Afficher')")
    assert "by=region" in page.url and "definition=durable_employment_v1" in page.url
    assert page.locator("#breakdown-h").inner_text() == "Par région"
    chosen = page.locator("tr.chosen")
    assert chosen.get_attribute("data-rate") == "positive_exit_rate.durable_employment_v1"
    assert "emploi durable" in chosen.inner_text() and "%" in chosen.locator(".value").inner_text()
    figures = httpx.get(f"{outcomes}/key-figures", params={"year": 2020, "by": "region"}, headers=stack.headers,
                        timeout=30).json()
    durable = figures["rates"]["positive_exit_rate"]["durable_employment_v1"]
    numerator, denominator = (n.replace("\u202f", "").replace("\xa0", "") for n in
                              chosen.locator("td").nth(1).inner_text().split(" / "))
    assert (int(numerator), int(denominator)) == (durable["numerator"], durable["denominator"])
    assert page.locator("#breakdown tbody tr").count() == len(figures["breakdown"]["groups"])
    accessible(page)
    photographed(page, "manager-dashboard", tmp_path)

    with page.expect_download() as download:
        page.click("#downloads a:has-text('CSV')")
    path = download.value.path()
    assert download.value.suggested_filename == "parcours-2020-region.csv"
    rows = list(csv.DictReader(io.StringIO(Path(path).read_text(encoding="utf-8"))))
    assert rows[0]["group"] == "network" and len(rows) == 1 + len(figures["breakdown"]["groups"])
    assert int(rows[0]["positive_exit_rate.durable_employment_v1.numerator"]) == durable["numerator"]
    assert int(rows[0]["exits_total"]) == figures["counts"]["exits_total"]


def test_html_report_opens_offline_with_its_charts(stack, browser, tmp_path):
    report = tmp_path / "report.html"
    done = run(["report", "--year", "2020", "--by", "region", "--format", "html", "--output", str(report)],
               stack.env())
    assert done.returncode == 0, done.stdout + done.stderr
    page = browser.new_page(viewport={"width": 1000, "height": 800})
    page.route("**/*", lambda route: route.abort() if not route.request.url.startswith("file:") else
               route.continue_())  # offline: the file must need nothing else
    page.goto(report.as_uri())
    assert page.title() == "Parcours · Chiffres clés 2020"  # French first (issue 18)
    assert page.locator("#funnel svg").count() == 1
    assert page.locator("figure.breakdown svg").count() == 4
    assert page.locator("#funnel svg path").count() > 5  # bars drawn
    text = page.inner_text("body")
    assert "Candidatures déposées" in text and "Par région" in text
    accessible(page)
    shot = tmp_path / "report.png"
    page.screenshot(path=str(shot), full_page=True)
    assert png_size(shot)[1] > 1500 and shot.stat().st_size > 30_000


def test_a_published_report_prints_again_byte_for_byte_and_its_changes_are_explained(stack, tmp_path):
    """Issue 17: publish, record more, and the published report is still what was published."""
    outcomes = f"http://127.0.0.1:{stack.ports['outcomes']}"
    due = httpx.get(f"{outcomes}/followups", params={"status": "overdue", "limit": 1}, headers=stack.headers,
                    timeout=30).json()["items"][0]
    year = int(due["exit_date"][:4])
    done = run(["publish", "--year", str(year)], stack.env())
    assert done.returncode == 0, done.stdout + done.stderr
    report_id, digest = done.stdout.split()[1], done.stdout.split("sha256 ")[1].split(")")[0]
    first = tmp_path / "first.json"
    assert run(["report", "--published", report_id, "--format", "json", "--output", str(first)],
               stack.env()).returncode == 0
    recorded = httpx.post(f"{outcomes}/followups/{due['followup_id']}/outcome", headers=stack.headers, timeout=30,
                          json={"situation": "further_study", "observed_on": due["observation_date"]})
    assert recorded.status_code == 201, recorded.text
    again = tmp_path / "again.json"
    assert run(["report", "--published", report_id, "--format", "json", "--output", str(again)],
               stack.env()).returncode == 0
    diff = run(["report", "--diff-published", report_id], stack.env())
    assert first.read_bytes() == again.read_bytes()
    assert hashlib.sha256(first.read_bytes()).hexdigest() == digest
    assert diff.returncode == 0 and "outcomes recorded: 1" in diff.stdout, diff.stdout
    network = run(["report", "--network", "--year", str(year)], stack.env())
    assert network.returncode == 0, network.stdout
    assert "Métiers visés" in network.stdout and "1. M1805" in network.stdout, network.stdout


def test_a_centre_decides_two_applications_fixes_a_spreadsheet_and_sees_its_learners(stack, browser, tmp_path):
    """Issue 18: a training centre in its own space, in French, with the keyboard and a mouse."""
    intake, progress, outcomes = (f"http://127.0.0.1:{stack.ports[s]}" for s in ("intake", "progress", "outcomes"))
    centre_id = str(uuid.uuid4())
    programme = httpx.post(f"{intake}/programmes", headers=stack.headers, timeout=30, json={
        "centre_id": centre_id, "centre_name": "Simplon Lille", "title": "Développeur web", "region": "32",
        "job_family": "M1805", "duration_months": 7, "capacity": 4, "start_date": "2026-11-02"}).json()
    created = run(["keys", "create", "--role", "centre", "--centre", centre_id, "--name", "Simplon Lille",
                   "--state-dir", str(stack.state_dir)], stack.env())
    key = next(line for line in created.stdout.splitlines() if line.startswith("pk_"))
    ids = [httpx.post(f"{intake}/applications", headers={"Authorization": f"Bearer {key}"}, timeout=30, json={
        "programme_id": programme["programme_id"], "submitted_at": "2026-10-15T10:00:00+02:00", "candidate": {
            "first_name": name, "last_name": "M", "email": f"{name.lower()}@example.org", "birth_year": 1999,
            "gender": "female", "education_level": "4", "qpv": True, "zrr": False, "job_seeker": True,
            "region": "32"}}).json()["application_id"] for name in ("Nadia", "Awa", "Lina")]

    page = french_page(browser)
    page.goto(f"{intake}/centre")
    assert page.url.endswith("/centre/login") and page.locator("h1").inner_text() == "Se connecter"
    accessible(page)
    page.fill("#key", key)
    page.click("button:has-text('Se connecter')")
    page.wait_for_url(f"{intake}/centre")
    assert page.locator("h1").inner_text() == "Vos candidatures et vos sessions"
    assert page.locator("#waiting tbody tr").count() == 3
    accessible(page)
    photographed(page, "centre-applications", tmp_path)
    page.click(f"tr[data-application='{ids[0]}'] button.admit")  # one by one
    assert "1 décision enregistrée." in page.inner_text("main")
    page.check(f"#pick-{ids[1]}")  # and together, with the form below the list
    page.select_option("#decision", "admitted")
    page.click("#decide-ticked")
    assert "1 décision enregistrée." in page.inner_text("main")
    assert page.locator("#waiting tbody tr").count() == 1
    assert page.locator("#sessions .places-left").first.inner_text() == "2"

    page.click("header a:has-text('Apprenants et progression')")
    page.wait_for_url("**/centre/progress/login")  # each service keeps its own session
    page.fill("#key", key)
    page.click("button:has-text('Se connecter')")
    page.wait_for_url(f"{progress}/centre/progress")
    for _ in range(60):  # progress learns of the admissions from intake's events
        if page.locator(f"#learners tr[data-application='{ids[1]}']").count():
            break
        page.wait_for_timeout(500)
        page.reload()
    template = page.request.get(f"{progress}/centre/progress/template").text()
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S+00:00")
    lines = template.strip().splitlines()
    rows = [lines[0]] + [line.split(";") for line in lines[1:3]]
    rows[1][0], rows[1][1], rows[1][2], rows[1][4] = "", ids[0], programme["programme_id"], now
    rows[2][1], rows[2][2], rows[2][4] = ids[0], programme["programme_id"], now
    bad = list(rows[2])
    bad[3] = "attendence"  # one bad line: a misspelt type
    text = "\n".join([rows[0], *(";".join(r) for r in (rows[1], bad, rows[2]))]) + "\n"
    page.set_input_files("#file", files=[{"name": "facts.csv", "mimeType": "text/csv", "buffer": text.encode()}])
    page.click("#check")
    refused = page.locator("#refusals tbody tr")
    assert refused.count() == 1 and refused.first.get_attribute("data-line") == "3"
    assert "colonne type : valeur inconnue" in refused.first.inner_text()
    assert "rien n'a été enregistré" in page.inner_text("#report")
    accessible(page)
    photographed(page, "centre-progress", tmp_path)
    fixed = "\n".join([rows[0], *(";".join(r) for r in (rows[1], rows[2]))]) + "\n"
    page.set_input_files("#file", files=[{"name": "facts.csv", "mimeType": "text/csv", "buffer": fixed.encode()}])
    page.click("#check")
    assert page.locator("#refusals").count() == 0
    page.focus("#apply")  # applied from the keyboard
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert "2 appliquées" in page.inner_text("#report-counts")
    learner = page.locator(f"#learners tr[data-application='{ids[0]}']")
    assert learner.get_attribute("data-state") == "started" and "7,5" in learner.inner_text()
    assert page.locator(f"#learners tr[data-application='{ids[1]}']").get_attribute("data-state") == "admitted"

    page.click("header a:has-text('Chiffres clés')")
    page.wait_for_url("**/centre/figures/login")
    page.fill("#key", key)
    page.click("button:has-text('Se connecter')")
    page.wait_for_url(f"{outcomes}/centre/figures")
    assert page.locator("h1").inner_text().startswith("Vos chiffres clés")
    assert page.locator("#centre-figures thead th").nth(2).inner_text() == "Le réseau"
    accessible(page)
    photographed(page, "centre-figures", tmp_path)
