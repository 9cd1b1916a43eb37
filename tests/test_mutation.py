"""The mutation tool on a fast sample: every mutant is either killed by its grader or listed as equivalent
(tests/mutants/<id>.txt) with a reason, and the list names no mutant that no longer exists.
`python benchmarks/mutation.py` runs every mutant and prints the kill rates."""

import random

import pytest

from grader.engine.supervisor import Executor
from grader.exercises import EXERCISES
from grader.course.mutation import equivalents, misleading, mutants, run, solution_lines

IDS = [e.id for e in EXERCISES]
SAMPLE = 6  # per exercise; the same every run


@pytest.fixture(scope="module")
def executor():
    with Executor() as ex:
        yield ex


def test_mutants_change_only_solution_regions():
    from pathlib import Path

    source = (Path(__file__).resolve().parent.parent / "solutions" / "dpo.py").read_text()
    inside = solution_lines(source)
    for m in mutants("dpo"):
        changed = [n for n, (a, b) in enumerate(zip(source.splitlines(), m.source.splitlines()), 1) if a != b]
        assert changed, m.id
        assert int(m.id.split(":")[1]) in inside, m.id


@pytest.mark.parametrize("exercise", IDS)
def test_equivalents_list_only_existing_mutants_with_a_reason(exercise):
    found = {m.id for m in mutants(exercise)}
    for mutant_id, reason in equivalents(exercise).items():
        assert mutant_id in found, f"tests/mutants/{exercise}.txt lists {mutant_id}, which no longer exists"
        assert len(reason) > 15, mutant_id


@pytest.mark.parametrize("exercise", IDS)
def test_a_sample_of_mutants_is_killed_or_known_equivalent(executor, exercise):
    known = equivalents(exercise)
    candidates = [m for m in mutants(exercise) if m.id not in known]
    sample = random.Random(exercise).sample(candidates, min(SAMPLE, len(candidates)))
    results = run(exercise, sample, executor)
    survivors = [r.mutant.id + " " + r.mutant.description for r in results if not r.killed]
    assert not survivors, survivors
    wrong_place = [f"{r.mutant.id} {r.mutant.description}: {misleading(exercise, r)}" for r in results
                   if misleading(exercise, r)]
    assert not wrong_place, wrong_place
    equivalent_sample = [m for m in mutants(exercise) if m.id in known][:2]
    assert not any(r.killed for r in run(exercise, equivalent_sample, executor)), "an 'equivalent' mutant is killed"


def test_no_dpo_mutant_gets_a_hint_about_another_function(executor):
    """Every mutant of the fastest grader (about 7 s): a catalogued hint names a mistake of the function the
    mutant changed, never one elsewhere (an earlier function's failure makes later checks say "fix X first")."""
    results = run("dpo", mutants("dpo"), executor)
    wrong_place = [f"{r.mutant.id} {r.mutant.description}: {misleading('dpo', r)}" for r in results
                   if misleading("dpo", r)]
    assert not wrong_place, wrong_place
    assert any(r.named for r in results)  # the catalogue does name mutants' mistakes
