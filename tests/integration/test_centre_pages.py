"""Issue 18: a training centre's space, in French first. In intake: its sessions with the places
left and the waitlists, the applications waiting for its decision, decided one by one or together.
In progress: a spreadsheet checked (a dry run, each refused line in words), fixed, applied; its
learners and their states; its LMS's statements that wait. Signed in with the centre's key as a
session; a form without the session's CSRF token records nothing."""

# ruff: noqa: F811 -- `stacks` is test_access's fixture, imported and then named by the tests.
from __future__ import annotations

import re
import uuid

import pytest

from tests.integration import factories as f
from tests.integration.helpers import eventually, publish, running
from tests.integration.test_access import (  # noqa: F401
    CENTRE_A,
    PROGRAMME_A,
    application_to,
    header,
    make_keys,
    stacks,
)

pytestmark = pytest.mark.integration
PROGRAMME_OTHER = PROGRAMME_A | {"centre_id": str(uuid.uuid4()), "centre_name": "Centre C", "title": "Data"}


def csrf_of(page: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', page).group(1)


async def sign_in(client, path: str, key: str) -> None:
    r = await client.post(path, data={"key": key}, follow_redirects=False)
    assert r.status_code == 303, r.text


async def test_a_centre_decides_its_applications_one_by_one_and_together(stacks, kafka):
    intake, dsn, _ = stacks["intake"]
    keys = await make_keys(dsn)
    admin, a = header(keys["admin"]), header(keys["centre_a"])
    async with running(intake) as client:
        programme = (await client.post("/programmes", json=PROGRAMME_A | {"capacity": 2}, headers=admin)).json()
        other = (await client.post("/programmes", json=PROGRAMME_OTHER, headers=admin)).json()["programme_id"]
        ids = [(await client.post("/applications", json=application_to(programme["programme_id"],
                                                                        f"p{i}@example.org"), headers=a)).json()
               ["application_id"] for i in range(4)]
        foreign = (await client.post("/applications", json=application_to(other, "x@example.org"),
                                     headers=admin)).json()["application_id"]
        assert (await client.get("/centre", follow_redirects=False)).headers["location"] == "/centre/login"
        wrong = await client.post("/centre/login", data={"key": keys["followup"]})
        assert wrong.status_code == 401 and "réservées aux organismes de formation" in wrong.text
        await sign_in(client, "/centre/login", keys["centre_a"])
        page = (await client.get("/centre")).text
        csrf = csrf_of(page)
        assert "Candidatures en attente de votre décision" in page and page.count('data-application="') == 4
        assert foreign not in page  # another centre's application is never listed
        assert re.search(r'class="num places-left">2<', page)
        one = await client.post("/centre/decisions", data={"csrf": csrf, "one": f"admitted:{ids[0]}"},
                                follow_redirects=False)
        together = await client.post("/centre/decisions", follow_redirects=False, data={
            "csrf": csrf, "application_id": [ids[1], ids[2], foreign], "decision": "admitted"})
        forged = await client.post("/centre/decisions", data={"one": f"admitted:{ids[3]}"})
        reject = await client.post("/centre/decisions", data={"csrf": csrf, "application_id": [ids[3]],
                                                              "decision": "rejected"})
        after = (await client.get("/centre")).text
        statuses = {i: (await client.get(f"/applications/{i}", headers=a)).json()["status"] for i in ids}
        english = (await client.get("/centre", params={"lang": "en"})).text
    assert one.status_code == 303 and one.headers["location"] == "/centre?done=1"
    # Two admitted in a session of two places: the third is refused in words, the foreign one too.
    assert together.status_code == 409 and "la session est complète" in together.text
    assert "n&#39;est pas l&#39;une des vôtres" in together.text
    assert forged.status_code == 403 and reject.status_code == 409 and "un refus doit avoir un motif" in reject.text
    assert statuses == {ids[0]: "admitted", ids[1]: "admitted", ids[2]: "submitted", ids[3]: "submitted"}
    assert re.search(r'class="num places-left">0<', after) and after.count('data-application="') == 2
    assert "Applications waiting for your decision" in english


async def test_a_centre_checks_a_spreadsheet_fixes_it_applies_it_and_sees_its_learners(stacks, kafka):
    progress, dsn, _ = stacks["progress"]
    keys = await make_keys(dsn)
    learner, programme, application = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    await publish(kafka, [f.programme(programme).model_copy(update={"data": f.programme(programme).data.model_copy(
        update={"centre_id": CENTRE_A})}), f.admitted(learner, programme, application)])
    good = (f"application_id;programme_id;type;occurred_at;hours\n"
            f"{application};{programme};started;02/03/2020 09:00;\n"
            f"{application};{programme};attendance;06/03/2020 17:30;7,5\n")
    bad = good + f"{application};{programme};attendence;07/03/2020 17:30;3\n{uuid.uuid4()};{programme};attendance;" \
                 f"08/03/2020 17:30;2\n"
    async with running(progress) as client:
        async def enrolled():
            return (await client.get(f"/enrolments/{application}", headers=header(keys["centre_a"]))).status_code == 200
        await eventually(enrolled)
        await sign_in(client, "/centre/progress/login", keys["centre_a"])
        page = (await client.get("/centre/progress")).text
        csrf = csrf_of(page)
        assert "Vos apprenants" in page and "admis, pas encore entré" in page
        template = await client.get("/centre/progress/template")
        checked = await client.post("/centre/progress/csv", data={"csrf": csrf, "apply": "0"},
                                    files={"file": ("facts.csv", bad.encode(), "text/csv")})
        still = (await client.get(f"/enrolments/{application}", headers=header(keys["centre_a"]))).json()
        fixed = await client.post("/centre/progress/csv", data={"csrf": csrf, "apply": "0"},
                                  files={"file": ("facts.csv", good.encode(), "text/csv")})
        kept = re.search(r'<textarea name="checked" hidden aria-hidden="true">(.*?)</textarea>', fixed.text, re.S)
        applied = await client.post("/centre/progress/csv", data={"csrf": csrf, "apply": "1",
                                                                   "checked": kept.group(1).replace("&#34;", '"')})
        forged = await client.post("/centre/progress/csv", data={"apply": "1", "checked": good})
        view = (await client.get(f"/enrolments/{application}", headers=header(keys["centre_a"]))).json()
    assert template.status_code == 200 and template.text.startswith("event_id;application_id")
    assert checked.status_code == 200 and "rien n&#39;a été enregistré" in checked.text
    assert re.search(r'data-line="4"><td class="num">4</td><td>colonne type : valeur inconnue', checked.text)
    assert re.search(r'data-line="5"><td class="num">5</td><td>aucune candidature admise', checked.text)
    assert still["state"] == "admitted" and still["facts"] == []  # a dry run stores nothing
    assert 'id="apply"' in fixed.text and "2 lignes : 2 à appliquer" in fixed.text
    assert "2 lignes : 2 appliquées" in applied.text and 'data-state="started"' in applied.text
    assert "7,5" in applied.text  # hours as written in France
    assert forged.status_code == 403
    assert view["state"] == "started" and view["attendance_hours"] == 7.5
