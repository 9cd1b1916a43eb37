"""The meta-tests every exercise's grader must pass, parametrised by exercise id.

For each exercise: the reference passes every check; the generated stub reports "not implemented"
for every check; each catalogued mistake fails the check(s) of its function with its own hint; each
alternative correct implementation passes. Test modules call ``make_meta_tests("<id>")``.
"""

from __future__ import annotations

import importlib

import pytest
import torch

from grader.engine.local import run_exercise
from grader.learner import load_namespace
from tests.reference import ROOT, solution, with_mistake

CPU = torch.device("cpu")


def _by_name(outcomes):
    return {o.check: o for o in outcomes}


def make_meta_tests(exercise: str):
    checks = importlib.import_module(f"grader.checks.{exercise}")
    alternatives = importlib.import_module(f"tests.alternatives.{exercise}").ALTERNATIVES

    def test_reference_passes_every_check():
        outcomes = run_exercise(exercise, solution(exercise), CPU)
        failed = [o.describe() for o in outcomes if not o.passed]
        assert not failed, "\n".join(failed)

    def test_stub_is_not_implemented():
        outcomes = run_exercise(exercise, load_namespace(ROOT / "exercises" / f"{exercise}.py"), CPU)
        assert [o.status for o in outcomes] == ["not_implemented"] * len(outcomes), [o.describe() for o in outcomes]
        assert all(o.points == 0 for o in outcomes)

    @pytest.mark.parametrize("mistake_id", sorted(checks.MISTAKES))
    def test_mistake_fails_with_its_hint(mistake_id):
        mistake = checks.MISTAKES[mistake_id]
        involved = tuple(c.name for c in checks.CHECKS if mistake.function in c.functions)
        outcomes = run_exercise(exercise, with_mistake(exercise, mistake_id), CPU, only=involved)
        own = [o for o in outcomes if o.check in {c.name for c in checks.CHECKS if c.functions[0] == mistake.function}]
        assert own and all(o.status == "fail" for o in own if o.mistake), [o.describe() for o in own]
        named = [o for o in own if o.mistake == mistake_id]
        assert named, f"no check named {mistake_id}: " + "\n".join(o.describe() for o in own)
        assert all(mistake.hint in o.hint for o in named)
        assert not any(o.passed for o in own if o.check == named[0].check)

    cases = [(fn_name, alt) for fn_name, alts in alternatives.items() for alt in alts]

    @pytest.mark.parametrize("function,alternative", cases, ids=[a.__name__ for _, a in cases])
    def test_alternative_implementation_passes(function, alternative):
        ns = load_namespace(ROOT / "solutions" / f"{exercise}.py")
        ns[function] = alternative
        graded = [c.name for c in checks.CHECKS if function in c.functions]
        outcomes = _by_name(run_exercise(exercise, ns, CPU, only=tuple(graded)))
        failed = [o.describe() for o in outcomes.values() if not o.passed]
        assert not failed, "\n".join(failed)

    return (test_reference_passes_every_check, test_stub_is_not_implemented, test_mistake_fails_with_its_hint,
            test_alternative_implementation_passes)
