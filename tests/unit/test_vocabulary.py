"""Every vocabulary is declared once (shared/contracts/vocabulary.py); the copies that cannot
import it (SQL checks, pages, metrics labels, the simulator's tables) are held to it here."""

from __future__ import annotations

import re
import typing
from importlib import resources

import pytest

from parcours.simulation import truth, world
from services.intake import geography
from services.intake import schemas as intake_schemas
from services.outcomes import store as outcomes_store
from services.outcomes import web
from services.outcomes.schemas import CloseIn
from services.progress import metrics as progress_metrics
from services.progress import xapi
from shared.contracts import events
from shared.contracts import vocabulary as v

CHECK = re.compile(r"ADD CONSTRAINT (\w+)\s+CHECK \((\w+) (?:IN \(|<@ ARRAY\[)([^)\]]*)[)\]]", re.S)


def sql_checks(package: str) -> dict[str, tuple[str, ...]]:
    """{constraint name: the codes its IN list allows} over a service's migrations."""
    found = {}
    for file in (resources.files(package) / "migrations").iterdir():
        if file.name.endswith(".sql"):
            for name, _column, codes in CHECK.findall(file.read_text()):
                found[name] = tuple(re.findall(r"'([^']*)'", codes))
    return found


@pytest.mark.parametrize(("package", "constraint", "codes"), [
    ("services.progress", "enrolments_state_vocabulary", v.ENROLMENT_STATES),
    ("services.progress", "enrolments_exit_reason_vocabulary", v.EXIT_REASONS),
    ("services.outcomes", "applications_decision_vocabulary", v.DECISIONS),
    ("services.outcomes", "enrolments_exit_reason_vocabulary", v.EXIT_REASONS),
    ("services.outcomes", "followups_exit_reason_vocabulary", v.FOLLOWED_UP_EXITS),
    # due and overdue are computed from today's date, never stored
    ("services.outcomes", "followups_status_vocabulary",
     tuple(s for s in v.FOLLOWUP_STATUSES if s not in ("due", "overdue"))),
    ("services.outcomes", "outcomes_situation_vocabulary", v.SITUATIONS),
    ("services.outcomes", "outcomes_situations_vocabulary", v.SITUATIONS),
    ("services.intake", "applications_status_vocabulary", v.APPLICATION_STATUSES),
    ("services.intake", "applications_gender_vocabulary", v.GENDERS),
    ("services.intake", "applications_education_level_vocabulary", v.EDUCATION_LEVELS),
    ("services.intake", "applications_age_band_vocabulary", typing.get_args(v.AgeBand)),
])
def test_sql_constraints_allow_exactly_the_declared_codes(package, constraint, codes):
    assert sql_checks(package)[constraint] == codes


def test_contract_fields_are_typed_with_the_vocabulary():
    def codes(model, field):
        annotation = model.model_fields[field].annotation
        args = typing.get_args(annotation)
        literal = next((a for a in args if typing.get_origin(a) is typing.Literal), annotation)
        return typing.get_args(literal)

    assert codes(events.TrainingExitedData, "reason") == v.EXIT_REASONS
    assert codes(events.TrainingExitedData, "dropout_cause") == v.DROPOUT_CAUSES
    assert codes(events.TrainingCorrectedData, "state") == v.ENROLMENT_STATES
    assert codes(events.OutcomeRecordedData, "situation") == v.SITUATIONS
    assert codes(events.FollowupClosedData, "status") == v.CLOSED_STATUSES
    assert codes(events.ApplicationDecidedData, "decision") == v.DECISIONS
    assert codes(events.ApplicationDecidedDataV2, "decision") == v.DECISIONS_V2
    assert codes(events.CandidateProfile, "gender") == v.GENDERS


def test_the_staff_page_offers_exactly_the_declared_codes():
    closings = list(web.CLOSINGS)
    assert closings == list(typing.get_args(CloseIn.model_fields["status"].annotation))
    assert set(closings) < set(v.CLOSED_STATUSES)
    offered = set(web.STATUS_CHOICES) - {"open", "all"}
    assert offered == set(v.FOLLOWUP_STATUSES)
    assert set(web.OPEN) <= set(v.FOLLOWUP_STATUSES)


def test_the_followup_status_sql_knows_every_closed_state():
    closed = re.search(r"f\.status IN \(([^)]*)\)", outcomes_store.STATUS_SQL).group(1)
    assert tuple(re.findall(r"'([^']*)'", closed)) == v.CLOSED_STATUSES
    computed = set(re.findall(r"THEN '(\w+)'", outcomes_store.STATUS_SQL))
    assert computed <= set(v.FOLLOWUP_STATUSES)


class _FakeConn:
    async def __aenter__(self):
        return self

    async def __aexit__(self, *exc):
        return False


class _FakePool:
    def acquire(self):
        return _FakeConn()


async def test_progress_metrics_expose_every_enrolment_state(monkeypatch):
    states = {state: n for n, state in enumerate(v.ENROLMENT_STATES, start=1)}

    async def summary(conn):
        return states

    async def waiting(conn):
        return 4

    monkeypatch.setattr(progress_metrics.store, "summary", summary)
    monkeypatch.setattr(progress_metrics.statements_store, "count_attention", waiting)
    m = progress_metrics.ProgressMetrics()
    await m.refresh(_FakePool())
    by_state = {s.labels["state"]: s.value for s in m.enrolments.collect()[0].samples}
    assert by_state == {state: float(n) for state, n in states.items()}  # no_show included
    # Exits by reason are a key figure (security review, finding 6): not on /metrics.
    assert "parcours_exits" not in {metric.name for metric in m.registry.collect()}
    assert m.xapi_waiting.collect()[0].samples[0].value == 4


def test_copies_elsewhere_agree():
    assert geography.REGIONS is v.REGIONS
    assert set(world.REGIONS) <= set(v.REGIONS)
    assert {code for code, _ in world.EXIT_REASONS} == set(v.EXIT_REASONS)
    assert set(world.DROPOUT_CAUSES) == set(v.DROPOUT_CAUSES)
    assert {code for code, _ in world.EMPLOYMENT_SPLIT} == v.EMPLOYMENT
    assert {code for code, _ in world.EDUCATION} == set(v.EDUCATION_LEVELS)
    assert {code for code, _ in world.GENDER} == set(v.GENDERS)
    assert truth.EXIT_REASONS == v.FOLLOWED_UP_EXITS
    assert set(typing.get_args(intake_schemas.DecisionCode)) <= set(v.APPLICATION_STATUSES)
    for meaning in xapi.VERBS.values():
        assert {meaning.programme, meaning.module} - {None} <= set(v.FACT_TYPES)
        assert meaning.exit_reason is None or meaning.exit_reason in v.EXIT_REASONS


def test_the_counted_situation_is_the_first_by_priority():
    assert v.counted_situation(["further_study", "fixed_term_under_6m"]) == "fixed_term_under_6m"
    assert v.counted_situation(["inactive", "job_seeker"]) == "job_seeker"
    assert v.counted_situation(["permanent_contract"]) == "permanent_contract"
    with pytest.raises(ValueError):
        v.counted_situation([])


def test_every_code_a_person_reads_has_its_label_declared_once():
    from shared.contracts import labels

    assert list(labels.SITUATION) == list(v.SITUATIONS)
    assert list(labels.EXIT_REASON) == list(v.EXIT_REASONS)
    assert list(labels.REFERRAL) == list(v.REFERRALS_COUNTED)
    assert list(labels.INFORMATION_SOURCE) == list(v.INFORMATION_SOURCES)
    assert list(labels.EXEMPT_REASON) == list(v.EXEMPT_REASONS)
    assert list(labels.FUNDING_LINE) == list(v.FUNDING_LINES)
    assert list(labels.FOLLOWUP_STATUS) == list(v.FOLLOWUP_STATUSES)
    assert list(labels.CONTACT_CHANNEL) == list(v.CONTACT_CHANNELS)
    assert list(labels.CONTACT_RESULT) == list(v.CONTACT_RESULTS)
    assert list(labels.DROPOUT_CAUSE) == list(v.DROPOUT_CAUSES)
    assert list(labels.ENROLMENT_STATE) == list(v.ENROLMENT_STATES)
    assert list(labels.APPLICATION_STATUS) == list(v.APPLICATION_STATUSES)
    assert set(labels.MODE) == set(typing.get_args(v.Mode))


def test_every_job_family_the_simulator_uses_has_its_words():
    from shared.contracts import labels

    assert {code for code, _ in world.JOB_FAMILIES} <= set(labels.JOB_FAMILY)
