"""Catalogued mistakes through the code an nbgrader grade cell runs (`grader.notebook.grade`): the cells of the
mistaken function fail with the mistake's hint, and a cell that does not use it still earns its points, so the
credit is partial. One mistake per graded function: every mistake's hint is already checked through the same
judge by tests/grader_meta.py; this is about the grade-cell path. (tests/test_nbgrader.py runs real nbgrader.)"""

import pytest

from grader.checking import checks_module
from grader.exercises import EXERCISES
from grader.notebook import GradeFailed, grade
from tests.reference import with_mistake

def _one_per_function(exercise: str) -> list[str]:
    first: dict[str, str] = {}
    for mistake_id, mistake in sorted(checks_module(exercise).MISTAKES.items()):
        first.setdefault(mistake.function, mistake_id)
    return sorted(first.values())


CASES = [(e.id, m) for e in EXERCISES for m in _one_per_function(e.id)]


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
