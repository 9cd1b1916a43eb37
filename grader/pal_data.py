"""The PAL exercise's data, written for the course and shipped in ``grader/data/pal/``:

    problems = load_problems()        # [{"id": "p01", "question": ..., "answer": 28}, ...]
    completions = load_completions()  # {"p01": [{"sample": 0, "kind": "right", "text": ...}, ...], ...}
    direct = load_direct()            # {"p01": "There are 38 rolls left.", ...}: answers without a program
    examples = load_examples()        # the few-shot prompt's worked programs: [{"question", "program"}, ...]

Each problem has five stored completions, sampled as a model would (some right, some wrong, some malformed,
some hostile: an endless loop, an 8 GB list, a flood of output, a fork bomb, reading ``~/.ssh`` or
``../solutions``, a network call, an answer never returned). ``load_lm(folder)`` loads a real causal LM from a
local folder with transformers (nothing is downloaded). Torch-free at import.
"""

from __future__ import annotations

from collections import defaultdict
from functools import lru_cache
from pathlib import Path

from grader.data_files import read_jsonl

PAL_DIR = Path(__file__).resolve().parent / "data" / "pal"
LM_ENV = "PAL_LM_DIR"  # the folder of a local causal LM for the notebook's optional live run


@lru_cache(maxsize=None)
def _read(name: str) -> tuple[dict, ...]:
    return read_jsonl(PAL_DIR / name)


def load_problems() -> list[dict]:
    """The word problems in a fixed order, each with its exact ``answer`` (a number)."""
    return [dict(p) for p in _read("problems.jsonl")]


def load_completions() -> dict[str, list[dict]]:
    """Problem id -> its stored completions in sample order (``text``; ``kind`` is for the lesson, not the code)."""
    out: dict[str, list[dict]] = defaultdict(list)
    for c in _read("completions.jsonl"):
        out[c["problem"]].append(dict(c))
    return {pid: sorted(cs, key=lambda c: c["sample"]) for pid, cs in out.items()}


def load_direct() -> dict[str, str]:
    """Problem id -> the answer a model gave when asked for the answer directly, without a program."""
    return {d["problem"]: d["text"] for d in _read("direct.jsonl")}


def load_examples() -> list[dict]:
    """The worked (question, program) pairs of the few-shot prompt."""
    return [dict(e) for e in _read("examples.jsonl")]


def load_lm(folder: str, device: str | None = None):
    """``(model, tokenizer)`` of the causal LM saved in ``folder`` (``save_pretrained`` layout), in eval mode;
    never downloads (``local_files_only``)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
    model = AutoModelForCausalLM.from_pretrained(folder, local_files_only=True).eval()
    return (model.to(device) if device else model), tokenizer
