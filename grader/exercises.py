"""The course's exercises, in course order. One id names everything about an exercise:

    lessons/<id>.md        the lesson
    solutions/<id>.py      the reference (single source, nbgrader solution markers)
    exercises/<id>.py      the learner stub, generated from the reference
    grader/checks/<id>.py  the checks and the catalogue of mistakes
    grader/reference/<id>.npz stored reference observations (the judge's; hidden from learner code)
    pytest -m <id>         the pytest marker;  nbgrader assignment <id>

This module stays free of torch so that the CLI starts instantly.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Exercise:
    id: str
    title: str

    @property
    def lesson(self) -> str:
        return f"lessons/{self.id}.md"

    @property
    def stub(self) -> str:
        return f"exercises/{self.id}.py"

    @property
    def solution(self) -> str:
        return f"solutions/{self.id}.py"

    @property
    def checks_module(self) -> str:
        return f"grader.checks.{self.id}"


EXERCISES: tuple[Exercise, ...] = (
    Exercise("sft", "Supervised fine-tuning"),
    Exercise("reward_model", "Reward models from human preferences"),
    Exercise("ppo", "PPO with a KL-penalised reward"),
    Exercise("dpo", "Direct Preference Optimization"),
    Exercise("rlaif", "An AI judge for RLAIF"),
    Exercise("rag", "Retrieval-augmented generation"),
    Exercise("pal", "Program-aided language models"),
)
BY_ID = {e.id: e for e in EXERCISES}


def get(exercise_id: str) -> Exercise:
    try:
        return BY_ID[exercise_id]
    except KeyError:
        known = ", ".join(BY_ID)
        raise KeyError(f"unknown exercise {exercise_id!r}; known exercises: {known}") from None


def course_root(start: Path | None = None) -> Path | None:
    """The folder holding the course's ``exercises/``: from $RLHF_COURSE_ROOT, the current folder
    or one above it, else the clone this package was installed from (editable installs)."""
    if os.environ.get("RLHF_COURSE_ROOT"):
        return Path(os.environ["RLHF_COURSE_ROOT"]).resolve()
    here = (start or Path.cwd()).resolve()
    for d in (here, *here.parents):
        if (d / "exercises").is_dir() and (d / "lessons").is_dir():
            return d
    if (PACKAGE_DIR.parent / "exercises").is_dir():
        return PACKAGE_DIR.parent
    return None
