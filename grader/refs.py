"""Regenerate the stored reference observations, ``grader/reference/<exercise>.pt``.

Runs every check against ``solutions/<exercise>.py`` and against each catalogued mistake (from
``tests/mistakes/<exercise>.py``) on the CPU, and stores the observations. Only outputs are stored,
never code, so the shipped grader holds no solution. Needs a clone of the course (``solutions/`` and
``tests/``); run it as ``rlhf-course refs [EXERCISE ...]`` after changing a solution or a check.
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch

from grader.checking import (REFERENCE_DIR, CheckFailed, Context, LearnerError, NotImplementedYet, checks_module,
                             close, one_cpu_thread)


class StaleCatalogue(Exception):
    """A mistake the checks cannot see, or two mistakes they cannot tell apart."""


def _observe(exercise: str, check, ns: dict) -> dict | None:
    """Observations, or None when the check fails structurally (its hint comes from that failure)."""
    ctx = Context(exercise, check, ns, torch.device("cpu"))
    try:
        with one_cpu_thread(ctx.device):  # as run_check grades
            return {k: v.detach().cpu().contiguous() for k, v in check.run(ctx).items()}
    except (CheckFailed, LearnerError, NotImplementedYet):
        return None


def compute(exercise: str) -> dict:
    root = Path(__file__).resolve().parent.parent
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    from tests.reference import mistakes, solution, with_mistake  # a clone of the course only

    torch.manual_seed(0)
    module = checks_module(exercise)
    ref_ns = solution(exercise)
    wrong = mistakes(exercise)
    missing = set(module.MISTAKES) - set(wrong)
    if missing:
        raise StaleCatalogue(f"catalogued mistakes with no implementation in tests/mistakes/{exercise}.py: {sorted(missing)}")
    out: dict = {"checks": {}, "mistakes": {}}
    seen_by: dict[str, list[str]] = {m: [] for m in module.MISTAKES}  # mistake -> checks that fail on it
    for check in module.CHECKS:
        expected = _observe(exercise, check, ref_ns)
        if expected is None:
            raise StaleCatalogue(f"the reference fails check {check.name!r}")
        out["checks"][check.name] = expected
        out["mistakes"][check.name] = {}
        for mistake_id, mistake in module.MISTAKES.items():
            if mistake.function not in check.functions:
                continue
            observed = _observe(exercise, check, with_mistake(exercise, mistake_id))
            if observed is None:
                seen_by[mistake_id].append(check.name)
                continue
            if all(close(observed[k], expected[k], 1e-4, 1e-6) for k in expected):
                continue
            seen_by[mistake_id].append(check.name)
            out["mistakes"][check.name][mistake_id] = observed
        # Two mistakes this check cannot tell apart: it names neither (another check must).
        seen = out["mistakes"][check.name]
        twins = {m for a in seen for b in seen if a < b
                 and all(close(seen[a][k], seen[b][k], 1e-3, 1e-4) for k in seen[a]) for m in (a, b)}
        for m in twins:
            del seen[m]
            seen_by[m].remove(check.name)
    unnamed = [m for m, checks in seen_by.items() if not checks]
    if unnamed:
        raise StaleCatalogue(f"no check fails on (or tells apart) the catalogued mistakes {unnamed}")
    return out


def write(exercise: str) -> Path:
    REFERENCE_DIR.mkdir(exist_ok=True)
    path = REFERENCE_DIR / f"{exercise}.pt"
    torch.save(compute(exercise), path)
    return path
