"""Where the tiny models are cached and under which name; torch-free, so that the grading supervisor can
tell whether they are built (and bind the cache into the sandbox) without importing torch."""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from pathlib import Path
from typing import Callable

CACHE_ENV = "RLHF_COURSE_CACHE"
DATA_DIR = Path(__file__).parent / "data"
CORPUS = DATA_DIR / "corpus.txt"
RECIPE_VERSION = 1  # bump when the build below changes, so old caches are not reused

# Small enough to build in about a second and run a check in milliseconds; big enough to learn something.
GPT2_SIZES = dict(vocab_size=512, n_positions=128, n_embd=64, n_layer=2, n_head=4)
BERT_SIZES = dict(vocab_size=768, max_position_embeddings=128, hidden_size=64, num_hidden_layers=2,
                  num_attention_heads=4, intermediate_size=128)


def cache_dir() -> Path:
    """Where tiny models are saved: ``$RLHF_COURSE_CACHE``, else ``$XDG_CACHE_HOME/rlhf-course``."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "rlhf-course"


def recipe_key(kind: str, seed: int) -> str:
    """A name that changes whenever the corpus, the sizes or the recipe change."""
    sizes = GPT2_SIZES if kind == "gpt2" else BERT_SIZES
    h = hashlib.sha256(CORPUS.read_bytes())
    h.update(repr((RECIPE_VERSION, sorted(sizes.items()))).encode())
    return f"tiny-{kind}-seed{seed}-{h.hexdigest()[:10]}"



def built(seed: int = 0) -> bool:
    """Both tiny models are in the cache (``grader.tiny_models`` builds them on first use)."""
    return all((cache_dir() / recipe_key(kind, seed) / "config.json").exists() for kind in ("gpt2", "bert"))


def save_atomically(target: Path, write: Callable[[Path], None]) -> None:
    """Build a cache entry: ``write(folder)`` fills a fresh folder beside ``target``, which is then renamed to
    ``target`` in one step, so a reader never sees half a model and concurrent builders do not collide."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=target.name + ".", dir=target.parent))
    try:
        write(tmp)
        for path in (tmp, *tmp.iterdir()):  # mkdtemp makes 0700; a shared cache must be readable
            path.chmod(0o755 if path.is_dir() else 0o644)
        try:
            tmp.rename(target)  # atomic: a concurrent builder either wins or finds ours in place
        except OSError:
            if not (target / "config.json").exists():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
