"""The catalogue's rules and codes: geography, SIRET, ROME, RNCP, dates, and where a programme is."""

import uuid
from datetime import date, datetime

import pytest
from pydantic import ValidationError

from services.intake import domain, geography
from services.intake.schemas import ApplicationFilter, CentreIn, DecisionIn, ProgrammeIn, SessionIn
from shared.contracts.calendar import add_months
from shared.plumbing.http import status_of

CENTRE = {"name": "Centre de Lille", "siret": "73282932000074",
          "address": {"street": "12 rue de Paris", "postcode": "59000", "city": "Lille"},
          "region": "32", "departement": "59"}
PROGRAMME = {"centre_id": str(uuid.uuid4()), "centre_name": "Centre de Lille", "title": "Développeur web",
             "region": "32", "job_family": "M1805", "duration_months": 7, "capacity": 20,
             "start_date": "2020-03-02"}


def fields_at_fault(model, body: dict) -> set[str]:
    with pytest.raises(ValidationError) as caught:
        model.model_validate(body)
    return {".".join(str(p) for p in e["loc"]) for e in caught.value.errors()}


def test_every_departement_belongs_to_exactly_one_current_region():
    metropolitan = {f"{n:02d}" for n in range(1, 96) if n != 20} | {"2A", "2B"}
    overseas = {"971", "972", "973", "974", "976"}
    assert set(geography.REGION_OF_DEPARTEMENT) == metropolitan | overseas
    assert set(geography.REGION_OF_DEPARTEMENT.values()) == set(geography.REGIONS)
    assert len(geography.REGIONS) == 18
    assert geography.region_of("59") == "32" and geography.region_of("2A") == "94"
    assert geography.region_of("976") == "06" and geography.region_of("975") is None


@pytest.mark.parametrize("siret,valid", [
    ("73282932000074", True), ("35600000000048", True), ("73282932000075", False),
    ("7328293200007", False), ("7328293200007A", False),
])
def test_siret_luhn(siret, valid):
    assert domain.siret_is_valid(siret) is valid


def test_a_valid_centre_is_normalised():
    centre = CentreIn.model_validate(CENTRE | {"siret": "732 829 320 00074", "departement": "59"})
    assert centre.siret == "73282932000074"
    corsica = CentreIn.model_validate(CENTRE | {"region": "94", "departement": "2a"})
    assert corsica.departement == "2A"


@pytest.mark.parametrize("change,field", [
    ({"siret": "73282932000075"}, "siret"),
    ({"siret": "1234"}, "siret"),
    ({"region": "31"}, "region"),  # Nord-Pas-de-Calais before 2016: no longer a region
    ({"departement": "20"}, "departement"),
    ({"departement": "975"}, "departement"),
    ({"departement": "75"}, "departement"),  # Paris is not in Hauts-de-France
    ({"address": {"street": "1 rue", "postcode": "5900", "city": "Lille"}}, "address.postcode"),
    ({"surprise": 1}, "surprise"),
])
def test_centre_errors_name_the_field(change, field):
    assert field in fields_at_fault(CentreIn, CENTRE | change)


@pytest.mark.parametrize("change,field", [
    ({"job_family": "dev"}, "job_family"),
    ({"job_family": "Z1805"}, "job_family"),
    ({"rncp": "RNCP12"}, "rncp"),
    ({"rncp": "RS5432"}, "rncp"),
    ({"label_year": 2014}, "label_year"),
    ({"label_year": date.today().year + 2}, "label_year"),
    ({"mode": "online"}, "mode"),
    ({"region": "99"}, "region"),
    ({"departement": "13"}, "departement"),
    ({"start_date": "1999-12-31"}, "start_date"),
    ({"end_date": "2020-03-02"}, "end_date"),
    ({"start_date": "2020-02-30"}, "start_date"),
])
def test_programme_errors_name_the_field(change, field):
    assert field in fields_at_fault(ProgrammeIn, PROGRAMME | change)


def test_programme_codes_are_normalised_and_the_old_body_still_works():
    assert ProgrammeIn.model_validate(PROGRAMME).region == "32"
    p = ProgrammeIn.model_validate(PROGRAMME | {"job_family": "m1805", "rncp": "rncp37674",
                                                "label_year": date.today().year + 1, "mode": "hybrid"})
    assert (p.job_family, p.rncp, p.mode) == ("M1805", "RNCP37674", "hybrid")
    minimal = {k: v for k, v in PROGRAMME.items() if k not in ("centre_name", "region")}
    assert ProgrammeIn.model_validate(minimal).centre_name is None


def test_session_dates():
    assert "end_date" in fields_at_fault(SessionIn, {"start_date": "2020-09-01", "end_date": "2020-08-31",
                                                     "capacity": 12})
    assert "capacity" in fields_at_fault(SessionIn, {"start_date": "2020-09-01", "end_date": "2021-03-01",
                                                     "capacity": 0})
    assert {"start_date", "end_date"} <= fields_at_fault(SessionIn, {"start_date": "01/09/2020",
                                                                     "end_date": "2101-01-01", "capacity": 1})


def test_decisions_and_filters_vocabulary():
    assert "decision" in fields_at_fault(DecisionIn, {"decision": "accepted", "decided_at": "2020-02-01T09:00:00Z"})
    assert DecisionIn.model_validate({"decision": "no_show", "decided_at": "2020-02-01T09:00:00Z"})
    assert "status" in fields_at_fault(ApplicationFilter, {"status": "pending"})
    assert "submitted_to" in fields_at_fault(ApplicationFilter, {"submitted_from": "2020-02-01",
                                                                 "submitted_to": "2020-01-31"})


def test_first_session_is_deterministic_and_ends_after_the_duration():
    programme_id = uuid.UUID("1b2c3d4e-5f60-4718-8a9b-0c1d2e3f4a5b")
    assert domain.first_session_id(programme_id) == uuid.uuid5(programme_id, "first-session")
    assert add_months(date(2020, 3, 2), 7) == date(2020, 10, 2)
    assert add_months(date(2020, 8, 31), 6) == date(2021, 2, 28)
    assert add_months(date(2019, 11, 30), 3) == date(2020, 2, 29)
    assert add_months(date(2020, 1, 15), 32) == date(2022, 9, 15)


LILLE = domain.Centre("Centre de Lille", "32", "59")


def test_a_registered_centre_names_and_places_its_programmes():
    assert domain.programme_place(LILLE, None, None, None) == domain.Place("Centre de Lille", "32", "59")
    assert domain.programme_place(LILLE, " centre  de LILLE ", None, None).centre_name == "Centre de Lille"
    # Elsewhere than the centre: the centre's département does not follow.
    assert domain.programme_place(LILLE, None, "11", None) == domain.Place("Centre de Lille", "11", None)
    assert domain.programme_place(LILLE, None, "11", "93").departement == "93"
    with pytest.raises(domain.CentreNameMismatch) as caught:
        domain.programme_place(LILLE, "Centre de Lyon", None, None)
    assert caught.value.field == "centre_name" and status_of(caught.value) == 422
    with pytest.raises(domain.DepartementNotInRegion):
        domain.programme_place(LILLE, None, None, "69")


def test_an_unregistered_centre_must_be_named_and_placed():
    assert domain.programme_place(None, "Centre", "32", None) == domain.Place("Centre", "32", None)
    with pytest.raises(domain.MissingField) as caught:
        domain.programme_place(None, None, "32", None)
    assert caught.value.field == "centre_name"
    with pytest.raises(domain.MissingField) as caught:
        domain.programme_place(None, "Centre", None, None)
    assert caught.value.field == "region"


@pytest.mark.parametrize("current,decision,frees", [
    ("submitted", "screened", False), ("screened", "admitted", False), ("admitted", "withdrawn", True),
    ("admitted", "no_show", True), ("waitlisted", "withdrawn", False), ("submitted", "withdrawn", False),
])
def test_screening_no_show_and_freed_places(current, decision, frees):
    outcome = domain.decide(current, decision, None, admitted=1, capacity=1 if decision != "admitted" else 2)
    assert outcome == domain.Decision(decision, frees)


@pytest.mark.parametrize("current,decision", [
    ("submitted", "no_show"), ("waitlisted", "no_show"), ("no_show", "admitted"), ("screened", "screened_twice"),
    ("admitted", "screened"), ("waitlisted", "screened"),
])
def test_refused_new_transitions(current, decision):
    with pytest.raises(domain.InvalidTransition):
        domain.decide(current, decision, "x", admitted=0, capacity=5)


def test_promotion_takes_a_free_place_never_before_the_waitlisting():
    freed, waitlisted = datetime(2020, 2, 10, 9), datetime(2020, 2, 1, 9)
    assert domain.promotion(freed, waitlisted, admitted=4, capacity=5) == freed
    assert domain.promotion(waitlisted, freed, admitted=4, capacity=5) == freed
    assert domain.promotion(freed, waitlisted, admitted=5, capacity=5) is None
