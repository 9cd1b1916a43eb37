"""Regenerate the stored reference observations, ``grader/reference/<exercise>.npz``.

Runs every check against ``solutions/<exercise>.py`` and against each catalogued mistake (from
``tests/mistakes/<exercise>.py``) on the CPU, and stores the observations with the checks' metadata
(points, time limits, the catalogue's hints) that the judge needs. Only outputs are stored, never
code, so the shipped grader holds no solution; the sandbox hides this folder from learner code. Needs
a clone of the course (``solutions/`` and ``tests/``); run it as ``rlhf-course refs [EXERCISE ...]``
after changing a solution or a check.
"""

from __future__ import annotations

import sys
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch

from grader.checking import checks_module
from grader.engine.executor import observe
from grader.engine.judge import MATCH_ATOL, MATCH_RTOL, Reference, close, observation_tolerance, reference_path


class StaleCatalogue(Exception):
    """A mistake the checks cannot see, or two mistakes they cannot tell apart."""


def _observe(exercise: str, check, ns: dict, variant: int) -> dict | None:
    """Observations, or None when the check fails structurally (its hint comes from that failure)."""
    return observe(exercise, check, ns, torch.device("cpu"), variant=variant).get("observed")


def meta(exercise: str, variant: int = 0) -> dict:
    """What the judge needs to know of the checks module, as plain data."""
    module = checks_module(exercise)
    return {
        "variant": variant,
        "checks": [{"name": c.name, "functions": list(c.functions), "calls": list(c.calls), "points": c.points, "timeout_s": c.timeout_s,
                    "description": c.description, **({"generic_hint": c.generic_hint} if c.generic_hint else {})}
                   for c in module.CHECKS],
        "mistakes": {m: asdict(mistake) for m, mistake in module.MISTAKES.items()},
        "observations": dict(getattr(module, "OBSERVATIONS", {})),
        # observations judged by a lower bound, not by equality (outcomes that differ between correct code)
        "at_least": dict(getattr(module, "AT_LEAST", {})),
        "at_most": dict(getattr(module, "AT_MOST", {})),
        # observations compared more loosely than the device's tolerance (rtol, atol), with the reason in the module
        "tolerance": {k: list(v) for k, v in getattr(module, "TOLERANCE", {}).items()},
        # observations that are strings (judge.encode_text), shown as text; only where a module has them
        **({"text": sorted(module.TEXT_OBSERVATIONS)} if getattr(module, "TEXT_OBSERVATIONS", None) else {}),
    }


def compute(exercise: str, variant: int = 0) -> Reference:
    """The observations of the reference and of every catalogued mistake, on the inputs of ``variant`` (0: the
    public ones shipped in the package; another number: a course's secret inputs, ``rlhf-course nbgrader``)."""
    root = Path(__file__).resolve().parents[2]  # the clone: this file is in grader/course/
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
    info = meta(exercise, variant)
    expected_all: dict = {}
    mistakes_all: dict = {}
    seen_by: dict[str, list[str]] = {m: [] for m in module.MISTAKES}  # mistake -> checks that fail on it
    for check in module.CHECKS:
        expected = _observe(exercise, check, ref_ns, variant)
        if expected is None:
            raise StaleCatalogue(f"the reference fails check {check.name!r}")
        low = [k for k, bound in getattr(module, "AT_LEAST", {}).items() if k in expected and expected[k] < bound]
        low += [k for k, bound in getattr(module, "AT_MOST", {}).items() if k in expected and expected[k] > bound]
        if low:
            raise StaleCatalogue(f"the reference falls below the bound of {low} in check {check.name!r}")
        expected_all[check.name] = expected
        seen = mistakes_all[check.name] = {}
        for mistake_id, mistake in module.MISTAKES.items():
            if mistake.function != check.functions[0]:
                continue  # a check names only its own function's mistakes (judge.match_mistake)
            observed = _observe(exercise, check, with_mistake(exercise, mistake_id), variant)
            if observed is None:
                seen_by[mistake_id].append(check.name)
                continue
            if all(close(observed[k], expected[k], *observation_tolerance(info, k, "cpu")) for k in expected):
                continue  # the judge could not tell it from the reference: not a mistake this check sees
            seen_by[mistake_id].append(check.name)
            seen[mistake_id] = observed
        # Two mistakes this check cannot tell apart: it names neither (another check must).
        twins = {m for a in seen for b in seen if a < b
                 and all(close(seen[a][k], seen[b][k], MATCH_RTOL, MATCH_ATOL) for k in seen[a]) for m in (a, b)}
        for m in twins:
            del seen[m]
            seen_by[m].remove(check.name)
    unnamed = [m for m, checks in seen_by.items() if not checks]
    if unnamed:
        raise StaleCatalogue(f"no check fails on (or tells apart) the catalogued mistakes {unnamed}")
    return Reference(info, expected_all, mistakes_all)


def write(exercise: str, path: Path | None = None, variant: int = 0) -> Path:
    """Store the reference for ``variant``: by default the package's public one."""
    path = path or reference_path(exercise)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, **compute(exercise, variant).to_arrays())
    return path
