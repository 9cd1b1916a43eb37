"""The graders as pytest tests, one per check, against your exercise files:

    pytest --pyargs grader.learner_checks -m dpo
    pytest --pyargs grader.learner_checks -m dpo --exercise-file my_dpo.ipynb

``rlhf-course check`` runs the same checks in a supervised process (timeouts, crashes); this runs
them in-process, for learners who prefer pytest's output or their editor's test runner.
"""

import pytest

from grader.checking import checks_module, run_check
from grader.exercises import EXERCISES, course_root
from grader.learner import load_namespace

_namespaces: dict = {}

CASES = [pytest.param(e.id, c.name, marks=getattr(pytest.mark, e.id), id=f"{e.id}-{c.name}")
         for e in EXERCISES for c in checks_module(e.id).CHECKS]


def _namespace(config, exercise: str):
    if exercise not in _namespaces:
        path = config.getoption("--exercise-file")
        if path is None:
            root = course_root()
            if root is None:
                pytest.fail("no exercises/ folder here or above; pass --exercise-file", pytrace=False)
            path = root / "exercises" / f"{exercise}.py"
        _namespaces[exercise] = (load_namespace(path), str(path))
    return _namespaces[exercise]


@pytest.mark.parametrize("exercise,check_name", CASES)
def test_check(request, exercise, check_name):
    from grader.devices import pick_device, prepare

    ns, path = _namespace(request.config, exercise)
    check = next(c for c in checks_module(exercise).CHECKS if c.name == check_name)
    outcome = run_check(exercise, check, ns, prepare(pick_device().device), (path,))
    if outcome.status == "not_implemented":
        pytest.fail(outcome.message, pytrace=False)
    assert outcome.passed, outcome.describe()
