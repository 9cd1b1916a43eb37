"""The one reader of the JSON Lines files the course ships in ``grader/data/`` (documents, problems,
completions, trajectories, demonstrations)."""

from __future__ import annotations

import json


def read_jsonl(path) -> tuple[dict, ...]:
    """The records of a JSON Lines file, one per non-blank line; ``path`` is a ``Path`` or an
    ``importlib.resources`` file."""
    text = path.read_text(encoding="utf-8")
    return tuple(json.loads(line) for line in text.splitlines() if line.strip())
