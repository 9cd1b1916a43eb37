"""The graders as pytest tests, one per check, against your exercise files:

    pytest --pyargs grader.learner_checks -m dpo
    pytest --pyargs grader.learner_checks -m dpo --exercise-file my_dpo.ipynb

Each exercise is graded once, as ``rlhf-course check`` grades it (your code in the sandboxed executor,
the verdict in this process); each test then reports one check's outcome, for learners who prefer
pytest's output or their editor's test runner.
"""

import pytest

from grader.checking import checks_module
from grader.exercises import EXERCISES, course_root

_reports: dict = {}

CASES = [pytest.param(e.id, c.name, marks=getattr(pytest.mark, e.id), id=f"{e.id}-{c.name}")
         for e in EXERCISES for c in checks_module(e.id).CHECKS]


def _outcomes(config, exercise: str) -> dict:
    from grader.engine.judge import Outcome
    from grader.engine.supervisor import NO_SANDBOX_NOTICE, grade

    if exercise not in _reports:
        path = config.getoption("--exercise-file")
        if path is None:
            root = course_root()
            if root is None:
                pytest.fail("no exercises/ folder here or above; pass --exercise-file", pytrace=False)
            path = root / "exercises" / f"{exercise}.py"
        report = grade([(exercise, str(path))])
        if not report.sandboxed and report.sandbox_note:
            print(NO_SANDBOX_NOTICE.format(why=report.sandbox_note))
        startup = [r for r in report.results if r["check"] == "(startup)"]
        if startup:
            pytest.fail(f"the grader could not start: {startup[0]['message']}", pytrace=False)
        _reports[exercise] = {r["check"]: Outcome(**r) for r in report.results}
    return _reports[exercise]


@pytest.mark.parametrize("exercise,check_name", CASES)
def test_check(request, exercise, check_name):
    outcome = _outcomes(request.config, exercise)[check_name]
    if outcome.status == "not_implemented":
        pytest.fail(outcome.message, pytrace=False)
    assert outcome.passed, outcome.describe()
