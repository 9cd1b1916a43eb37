"""The small preference set shipped with the course, in TRL's format (``prompt``, ``chosen``, ``rejected``).

``load_preferences("train")``: 200 pairs; ``load_preferences("test")``: 40 held-out pairs whose prompts
never appear in train. One loader for the notebooks and the graders alike (no torch import here).
"""

from __future__ import annotations

import json
from importlib.resources import files

SPLITS = {"train": "preferences.jsonl", "test": "preferences_test.jsonl"}


def load_preferences(split: str = "train") -> list[dict]:
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; choose one of {', '.join(SPLITS)}")
    text = files("grader").joinpath("data", SPLITS[split]).read_text(encoding="utf-8")
    return [json.loads(line) for line in text.splitlines() if line.strip()]
