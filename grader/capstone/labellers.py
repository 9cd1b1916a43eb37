"""Labellers that need no person: for CI, demos, and to see what a reward model learns from a known preference.

``SimulatedLabeller`` applies the task's stated preference (``task.preference_score``: kind words minus rude
words), optionally with noise. ``JudgeLabeller`` is the RLAIF exercise's AI judge: a causal LM asked which of
two responses is better, read from its label probabilities with both orders averaged.
"""

from __future__ import annotations

import random

from grader.capstone.task import preference_score
from grader.learner import load_namespace

JUDGE_FUNCTIONS = ("format_judge_prompt", "label_token_ids", "label_probs", "judge_probs", "judge_preference")
JUDGE_NAMES = (*JUDGE_FUNCTIONS, "HHH_PREAMBLE", "SHORT_PREAMBLE")  # what the labeller reads from the exercise


class SimulatedLabeller:
    """Rates by ``preference_score``: good (1) above 0, neutral (2) at 0, bad (3) below 0; in a comparison the
    higher score wins, and equal scores are skipped (None).

    noise: the probability that an answer is replaced by a uniformly random one (1, 2 or 3; "a" or "b"), as a
    careless labeller would give. The draw is seeded by ``seed`` and the item itself, so the same item always
    gets the same answer, in any order and in any process.
    """

    def __init__(self, noise: float = 0.0, seed: int = 0):
        if not 0.0 <= noise <= 1.0:
            raise ValueError(f"noise is a probability in [0, 1], not {noise}")
        self.noise, self.seed = noise, seed
        self.name = "simulated" if noise == 0 else f"simulated(noise={noise:g},seed={seed})"

    def _rng(self, *item: str) -> random.Random:
        return random.Random("\0".join((str(self.seed), *item)))  # a str seed is hashed with SHA-512: stable

    def rate(self, prompt: str, completion: str) -> int:
        rng = self._rng("rate", prompt, completion)
        if rng.random() < self.noise:
            return rng.choice((1, 2, 3))
        score = preference_score(completion)
        return 1 if score > 0 else 3 if score < 0 else 2

    def compare(self, prompt: str, a: str, b: str) -> str | None:
        rng = self._rng("compare", prompt, a, b)
        if rng.random() < self.noise:
            return rng.choice(("a", "b"))
        sa, sb = preference_score(a), preference_score(b)
        return "a" if sa > sb else "b" if sb > sa else None


def judge_functions(device: str | None = None) -> tuple[dict, str]:
    """The RLAIF judge's functions and where they came from: ``(namespace, description)``.

    The learner's ``exercises/rlaif.py`` when the course's progress record shows that its current contents
    passed every check (``grader.capstone.implementations.learner_passes``), else the reference
    ``solutions/rlaif.py``.
    """
    from grader import exercises as registry
    from grader.capstone.implementations import course_root, learner_passes

    yours, why = learner_passes("rlaif", device)
    path = course_root() / (registry.get("rlaif").stub if yours else registry.get("rlaif").solution)
    namespace = load_namespace(path)
    if yours and not all(name in namespace for name in JUDGE_NAMES):  # passing checks implies the functions
        missing = ", ".join(name for name in JUDGE_NAMES if name not in namespace)
        path, why = course_root() / registry.get("rlaif").solution, f"your file lacks {missing}"
        namespace, yours = load_namespace(path), False
    return namespace, f"{'yours' if yours else 'the reference'}, {path} ({why})"


class JudgeLabeller:
    """The RLAIF judge: P(A better than B) from a causal LM, both orders averaged (``judge_preference``).

    ``compare`` answers "a" or "b" when the judge's confidence max(p, 1 - p) reaches ``min_confidence``, else
    None (a near-tie is skipped, as ``ai_preference_pairs`` does). The default judge is the tiny GPT-2
    (``load_gpt2(judge_model)``), which shows the mechanics but has no judgement: its answers are close to 0.5
    and mostly skipped. A real model (``judge_model="gpt2"`` or a local directory) reads the responses.
    The HHH preamble is used when the judge's prompt fits the model's positions, else the short one; a pair
    that does not fit even then is skipped.
    """

    def __init__(self, judge_model: str = "tiny", device=None, min_confidence: float = 0.6, model=None,
                 tokenizer=None):
        from grader.tiny_models import load_gpt2

        if not 0.5 < min_confidence <= 1.0:
            raise ValueError(f"min_confidence must be in (0.5, 1], not {min_confidence}")
        self.functions, self.source = judge_functions(device)
        self.name = f"judge({judge_model if model is None else model.name_or_path})"
        if model is None:
            model, tokenizer, _ = load_gpt2(judge_model, device=device)
        self.model, self.tokenizer, self.min_confidence = model, tokenizer, min_confidence

    def _preamble(self, prompt: str, a: str, b: str) -> str | None:
        """The longest preamble with which both orders of the pair fit the judge's positions, or None."""
        f, limit = self.functions, self.model.config.n_positions
        for preamble in (f["HHH_PREAMBLE"], f["SHORT_PREAMBLE"]):
            texts = (f["format_judge_prompt"](prompt, a, b, preamble), f["format_judge_prompt"](prompt, b, a, preamble))
            if all(len(self.tokenizer(t, verbose=False)["input_ids"]) <= limit for t in texts):
                return preamble
        return None

    def probability(self, prompt: str, a: str, b: str) -> float | None:
        """P(a better than b), or None when the pair does not fit the judge's context."""
        preamble = self._preamble(prompt, a, b)
        if preamble is None:
            return None
        return float(self.functions["judge_preference"](self.model, self.tokenizer, [prompt], [a], [b], preamble)[0])

    def compare(self, prompt: str, a: str, b: str) -> str | None:
        p = self.probability(prompt, a, b)
        if p is None or max(p, 1 - p) < self.min_confidence:
            return None
        return "a" if p > 0.5 else "b"


def label_samples(store, labeller, prompts: list[str], samples: list[list[str]], mode: str = "both",
                  progress: bool = False) -> dict[str, int]:
    """Have ``labeller`` rate each prompt's distinct samples and/or compare them in consecutive pairs (0 with 1,
    2 with 3, ...), saving each answer in ``store`` as it comes; what this labeller already answered is skipped,
    so a rerun resumes. ``samples[i]`` are the completions of ``prompts[i]``; mode: "ratings", "comparisons" or
    "both". Returns how many ratings and comparisons were saved."""
    from tqdm.auto import tqdm

    saved = {"ratings": 0, "comparisons": 0}
    if mode in ("ratings", "both"):
        done = store.rated(labeller.name)
        items = [(p, c) for p, cs in zip(prompts, samples) for c in dict.fromkeys(cs) if (p, c) not in done]
        for p, c in tqdm(items, desc=f"rating ({labeller.name})", unit="item", disable=not progress):
            store.add_rating(p, c, labeller.rate(p, c), labeller.name)
            saved["ratings"] += 1
    if mode in ("comparisons", "both"):
        done = store.compared(labeller.name)
        items = [(p, cs[i], cs[i + 1]) for p, cs in zip(prompts, samples) for i in range(0, len(cs) - 1, 2)
                 if (p, cs[i], cs[i + 1]) not in done]
        for p, a, b in tqdm(items, desc=f"comparing ({labeller.name})", unit="pair", disable=not progress):
            store.add_comparison(p, a, b, labeller.compare(p, a, b), labeller.name)
            saved["comparisons"] += 1
    return saved
