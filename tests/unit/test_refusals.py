"""Rules refuse by kind; the HTTP layer alone gives the status."""

from __future__ import annotations

import inspect

import pytest

from services.intake import domain as intake_domain
from services.intake import service as intake_service
from services.outcomes import domain as outcomes_domain
from services.outcomes import service as outcomes_service
from services.progress import domain as progress_domain
from services.progress import service as progress_service
from shared.plumbing.http import refusal, status_of
from shared.refusals import Refusal

MODULES = (intake_domain, intake_service, outcomes_domain, outcomes_service, progress_domain, progress_service)
REFUSALS = sorted({cls for module in MODULES for _, cls in inspect.getmembers(module, inspect.isclass)
                   if issubclass(cls, Refusal)}, key=lambda cls: f"{cls.__module__}.{cls.__name__}")


@pytest.mark.parametrize("cls", REFUSALS, ids=lambda cls: f"{cls.__module__.split('.')[1]}.{cls.__name__}")
def test_no_refusal_carries_an_http_status_and_each_has_one_by_its_kind(cls):
    assert "status" not in vars(cls), f"{cls.__name__} names an HTTP status: say its kind (Invalid, Missing)"
    assert status_of(cls("why")) in (404, 409, 422)


def test_the_kinds_answer_404_422_409_with_the_code_the_sentence_and_the_field():
    assert status_of(outcomes_service.NotFound("no follow-up")) == 404
    assert status_of(progress_domain.NotAdmitted("never admitted")) == 422
    assert status_of(progress_domain.OutOfOrder("before the start")) == 409
    answer = refusal(intake_domain.MissingField("give the e-mail", field="email"))
    assert answer.status_code == 422
    assert answer.body == b'{"detail":"give the e-mail","code":"missing_field","field":"email"}'
