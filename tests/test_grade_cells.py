"""Every catalogued mistake, through the code an nbgrader grade cell runs (`grader.notebook.grade`):
the cells of the mistaken function fail with the mistake's hint, and a cell that does not use it still
earns its points, so the credit is partial. (tests/test_nbgrader.py runs a sample through real nbgrader.)"""

import pytest

from grader.checking import checks_module
from grader.exercises import EXERCISES
from grader.notebook import GradeFailed, grade
from tests.reference import with_mistake

CASES = [(e.id, m) for e in EXERCISES for m in sorted(checks_module(e.id).MISTAKES)]


@pytest.mark.parametrize("exercise,mistake_id", CASES, ids=[f"{e}-{m}" for e, m in CASES])
def test_mistake_fails_its_cells_and_keeps_the_others(exercise, mistake_id):
    checks = checks_module(exercise).CHECKS
    function = checks_module(exercise).MISTAKES[mistake_id].function
    hint = checks_module(exercise).MISTAKES[mistake_id].hint
    ns = with_mistake(exercise, mistake_id)
    failures = []
    for check in (c for c in checks if c.functions[0] == function):
        try:
            grade(exercise, check.name, ns)
        except GradeFailed as failed:
            failures.append(str(failed))
    assert any(hint in f for f in failures), failures
    # The cheapest cell that does not involve the mistaken function still earns its points.
    other = next(c for c in checks if function not in c.functions and c.timeout_s <= 30)
    grade(exercise, other.name, ns)
