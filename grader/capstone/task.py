"""The capstone's task: answer everyday questions kindly and helpfully, not rudely.

The demonstrations (``grader/data/capstone/demonstrations.jsonl``) give every training prompt two kind,
helpful answers and two rude, dismissive ones, so the fine-tuned policy writes both (on the held-out prompts
about a third of its samples are kind and half rude): RLHF has a behaviour to move, and a reader sees it move
in samples. The stated preference is a word list
(``lexicon.tsv``): ``preference_score`` counts kind words minus rude words. The simulated labeller applies
it; a person rating in the terminal applies their own judgement, which should mostly agree.
"""

from __future__ import annotations

import re
from functools import lru_cache
from importlib.resources import files

from grader.data_files import read_jsonl

DATA = files("grader").joinpath("data", "capstone")

DESCRIPTION = (
    "The policy answers short everyday questions (how to make tea, how to sleep better). After its brief "
    "supervised fine-tuning it answers in one of two styles, each of them often: kind and helpful "
    "(\"Happy to help! Pour hot water on a tea bag and wait.\") or rude and dismissive (\"Ugh, what a silly "
    "question. Figure it out yourself.\"). The preference is for the kind, helpful answers. The simulated labeller "
    "scores a completion by a shipped word list, kind words minus rude words (preference_score), and rates "
    "it good above 0, bad below 0, neutral at 0; a person rates by reading. Alignment works when the "
    "policy's share of kind answers and its mean score rise on held-out prompts while its KL to the SFT "
    "model stays small."
)

# Held out: no demonstration uses these prompts; the before/after evaluation samples on them.
EVAL_PROMPTS: tuple[str, ...] = (
    "How do I make coffee?",
    "How can I relax after work?",
    "How do I cook an egg?",
    "What should I drink in the morning?",
    "How do I wash my clothes?",
    "How can I learn to cook?",
    "How do I take care of a cat?",
    "What can I do this weekend?",
    "How do I get better at writing?",
    "How can I eat more fruit?",
    "How do I keep my bag tidy?",
    "How do I make a new friend?",
)


@lru_cache(maxsize=None)
def demonstrations() -> tuple[dict, ...]:
    """The SFT demonstrations: dicts with ``prompt``, ``response`` and ``style`` ("kind" or "rude")."""
    return read_jsonl(DATA.joinpath("demonstrations.jsonl"))


TRAIN_PROMPTS: tuple[str, ...] = tuple(dict.fromkeys(d["prompt"] for d in demonstrations()))


@lru_cache(maxsize=None)
def lexicon() -> dict[str, float]:
    """word -> weight, from ``lexicon.tsv`` (lines ``word<TAB>weight``; ``#`` starts a comment)."""
    words = {}
    for line in DATA.joinpath("lexicon.tsv").read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            word, weight = line.split("\t")
            words[word] = float(weight)
    return words


_WORD = re.compile(r"[a-z']+")


def preference_score(text: str) -> float:
    """The stated preference: the lexicon weight of each whole word or phrase in ``text``, summed (kind +1
    each, rude -1 each)."""
    words = _WORD.findall(text.lower())
    score = 0.0
    for entry, weight in lexicon().items():
        phrase = entry.split()
        n = len(phrase)
        score += weight * sum(words[i:i + n] == phrase for i in range(len(words) - n + 1))
    return score
