"""The mutation tool on a fast sample: every mutant is either killed by its grader or listed as equivalent
(tests/mutants/<id>.txt) with a reason, and the list names no mutant that no longer exists.
`python benchmarks/mutation.py` runs every mutant and prints the kill rates."""

import random

import pytest

from grader.engine.supervisor import Executor
from grader.exercises import EXERCISES
from grader.mutation import equivalents, mutants, run, solution_lines

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
    survivors = [r.mutant.id + " " + r.mutant.description for r in run(exercise, sample, executor) if not r.killed]
    assert not survivors, survivors
    equivalent_sample = [m for m in mutants(exercise) if m.id in known][:2]
    assert not any(r.killed for r in run(exercise, equivalent_sample, executor)), "an 'equivalent' mutant is killed"
