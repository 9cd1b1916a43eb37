"""The small preference set shipped with the course, in TRL's format (``prompt``, ``chosen``, ``rejected``).

``load_preferences("train")``: 200 pairs; ``load_preferences("test")``: 40 held-out pairs whose prompts
never appear in train. One loader for the notebooks and the graders alike (no torch import here).

Pairs made elsewhere in the course (an AI judge's, a feedback export) are JSON Lines files in the same
format: ``save_preferences(records, "pairs.jsonl")`` writes them and ``load_preferences("pairs.jsonl")``
reads them back. Each record needs the three strings; extra keys (a soft label such as ``p_chosen``) are kept.
"""

from __future__ import annotations

import json
from importlib.resources import files
from pathlib import Path

SPLITS = {"train": "preferences.jsonl", "test": "preferences_test.jsonl"}
FIELDS = ("prompt", "chosen", "rejected")


def check_record(record, where: str = "record") -> dict:
    """``record`` if it is a preference pair in TRL's format: a dict whose ``prompt``, ``chosen`` and
    ``rejected`` are strings (other keys may hold JSON values); else ``ValueError`` saying what is wrong."""
    if not isinstance(record, dict):
        raise ValueError(f"{where} is a {type(record).__name__}, not a dict with {', '.join(FIELDS)}")
    for key in FIELDS:
        if not isinstance(record.get(key), str):
            got = "missing" if key not in record else f"a {type(record[key]).__name__}"
            raise ValueError(f"{where}: {key!r} must be a string ({got})")
    return record


def load_preferences(split: str | Path = "train") -> list[dict]:
    """The shipped ``"train"`` or ``"test"`` split, or the pairs in a ``.jsonl`` file (one JSON record a line)."""
    if isinstance(split, str) and split in SPLITS:
        name, text = split, files("grader").joinpath("data", SPLITS[split]).read_text(encoding="utf-8")
    elif Path(split).suffix == ".jsonl" and Path(split).is_file():
        name, text = str(split), Path(split).read_text(encoding="utf-8")
    else:
        raise ValueError(f"unknown split {str(split)!r}; choose one of {', '.join(SPLITS)}, "
                         f"or give the path of a .jsonl file of preference pairs")
    records = []
    for n, line in enumerate(text.splitlines(), 1):
        if line.strip():
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ValueError(f"{name}, line {n}: not JSON ({exc})") from None
            records.append(check_record(record, f"{name}, line {n}"))
    return records


def save_preferences(records, path: str | Path) -> Path:
    """Write preference pairs as JSON Lines, after checking each one as ``load_preferences`` will."""
    path = Path(path)
    lines = [json.dumps(check_record(r, f"record {i}"), ensure_ascii=False) for i, r in enumerate(records)]
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path
