"""Issue 18: the outcomes service's pages in French first (English on the switch), the staff page's
signed-in state and acting person, and the managers' dashboard with its downloads."""

from __future__ import annotations

import csv
import io
import json
import re

import pytest

from tests.integration.helpers import eventually
from tests.integration.test_access import make_keys
from tests.integration.test_staff_sessions import dsn, followup_id, journey, sign_in, staff_app  # noqa: F401

pytestmark = pytest.mark.integration


async def test_the_staff_page_speaks_french_first_and_english_on_the_switch(dsn, kafka):  # noqa: F811
    keys = await make_keys(dsn)
    await journey(kafka)
    async with staff_app_client(dsn, kafka) as client:
        login = (await client.get("/staff/login")).text
        assert '<html lang="fr">' in login and "Se connecter" in login and "Se déconnecter" not in login
        followup = await followup_id(client, keys["admin"])
        await sign_in(client, keys["followup"])
        page = (await client.get(f"/staff/followups/{followup}")).text
        assert "Connecté : followup" in page and "Se déconnecter" in page
        assert "sorti le 02/10/2020" in page and "Votre nom" not in page and 'name="staff"' not in page
        assert "CDD de 6 mois ou plus" in page and "poursuite d&#39;études ou de formation" in page
        english = await client.get(f"/staff/followups/{followup}", params={"lang": "en"})
        assert "parcours_lang=en" in english.headers["set-cookie"]
        assert '<html lang="en">' in english.text and "left on 02/10/2020" in english.text
        assert '<html lang="en">' in (await client.get("/staff")).text  # the choice is kept
        client.cookies.delete("parcours_lang")
        browser = await client.get("/staff", headers={"Accept-Language": "en-GB,en;q=0.9"})
        assert '<html lang="en">' in browser.text
        csrf = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
        wrong = await client.post(f"/staff/followups/{followup}/outcome", headers={"Accept-Language": "fr"},
                                  data={"csrf": csrf, "situations": "inactive", "digital_job": "true",
                                        "observed_on": "2021-04-02", "source": "learner_statement"})
        assert wrong.status_code == 422 and "Un emploi dans le numérique" in wrong.text


async def test_a_manager_signs_in_to_the_dashboard_and_downloads_what_it_shows(dsn, kafka):  # noqa: F811
    keys = await make_keys(dsn)
    await journey(kafka)
    async with staff_app_client(dsn, kafka) as client:
        await followup_id(client, keys["admin"])
        assert (await client.get("/manager", follow_redirects=False)).headers["location"] == "/staff/login"
        signed = await client.post("/staff/login", data={"key": keys["manager"]}, follow_redirects=False)
        assert signed.headers["location"] == "/manager"
        query = {"year": 2020, "compare": 2019, "by": "region", "definition": "durable_employment_v1",
                 "every_count": "1"}

        async def shown():
            page = (await client.get("/manager", params=query)).text
            return page if "Connecté : manager" in page and 'id="breakdown"' in page else None
        page = await eventually(shown)
        assert "Chiffres clés 2020" in page and "emploi durable" in page
        assert re.search(r'data-rate="positive_exit_rate.durable_employment_v1" class="chosen"', page)
        assert "Candidatures" in page and "Par région" in page
        csv_file = await client.get("/manager/download", params={**query, "format": "csv"})
        as_json = await client.get("/manager/download", params={**query, "format": "json"})
        html = await client.get("/manager/download", params={**query, "format": "html"})
        api = await client.get("/key-figures", params={"year": 2020, "by": "region"},
                               headers={"Authorization": f"Bearer {keys['manager']}"})
        followup_page = await client.get("/staff", follow_redirects=False)
    rows = list(csv.DictReader(io.StringIO(csv_file.text)))
    assert csv_file.headers["content-disposition"] == 'attachment; filename="parcours-2020-region.csv"'
    assert rows[0]["group"] == "network" and int(rows[0]["exits_total"]) == api.json()["counts"]["exits_total"] == 1
    assert json.loads(as_json.text)["counts"] == api.json()["counts"]
    assert html.text.startswith("<!doctype html>") and "Chiffres clés 2020" in html.text and "<form" not in html.text
    assert followup_page.status_code == 403  # a manager's session does not open the follow-ups


def staff_app_client(dsn, kafka):  # noqa: F811
    from tests.integration.helpers import running
    return running(staff_app(dsn, kafka))
