"""Access to the reference solutions and the catalogue implementations, for the project's own tests and
for regenerating the stored reference observations. The shipped grader never imports this."""

from __future__ import annotations

import importlib
from functools import lru_cache
from pathlib import Path

from grader.learner import load_namespace

ROOT = Path(__file__).resolve().parent.parent


@lru_cache(maxsize=None)
def solution(exercise: str) -> dict:
    """The reference namespace (definitions only) of solutions/<exercise>.py."""
    return load_namespace(ROOT / "solutions" / f"{exercise}.py")


def mistakes(exercise: str) -> dict:
    """Catalogue id -> wrong implementation, from tests/mistakes/<exercise>.py."""
    module = importlib.import_module(f"tests.mistakes.{exercise}")
    catalogue = importlib.import_module(f"grader.checks.{exercise}").MISTAKES
    return {mid: getattr(module, mid) for mid in catalogue if hasattr(module, mid)}


def with_mistake(exercise: str, mistake_id: str) -> dict:
    """The reference namespace with one function replaced by the catalogued mistake."""
    catalogue = importlib.import_module(f"grader.checks.{exercise}").MISTAKES
    # A fresh namespace: it is the globals of the reference functions, so they call the mistake too.
    ns = load_namespace(ROOT / "solutions" / f"{exercise}.py")
    ns[catalogue[mistake_id].function] = mistakes(exercise)[mistake_id]
    return ns
