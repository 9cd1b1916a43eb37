"""Which implementation the capstone trains with: the learner's exercise file when it passes its checks,
the course's reference (``solutions/<id>.py``) otherwise.

"Passes" is read from the progress cache (``grader.progress``), the memory `rlhf-course check` and the
overview keep: an entry counts only if it was made for the file's *current* bytes, with the current checks
and stored reference, and every check passed. That costs nothing at run time and never runs unchecked
learner code; a learner who has just edited the file runs `rlhf-course check <id>` once to qualify it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from grader import exercises as registry
from grader.learner import LoadError, load_namespace

USED = {  # what the capstone calls from each exercise (helpers such as `encode` come from the reference)
    "reward_model": ("RewardModel", "pairwise_loss", "rating_loss", "preference_accuracy"),
    "ppo": ("token_logprobs", "kl_estimators", "masked_mean", "masked_whiten", "kl_penalized_rewards", "gae",
            "ppo_policy_loss", "ppo_value_loss"),
    "dpo": ("sequence_logps", "dpo_loss", "dpo_step"),
}


@dataclass
class Implementation:
    exercise: str
    source: str  # "yours" or "reference"
    path: Path
    why: str
    namespace: dict

    def __getattr__(self, name):  # impl.pairwise_loss(...) reads the chosen file's function
        try:
            return self.__dict__["namespace"][name]
        except KeyError:
            raise AttributeError(f"{self.path} defines no {name!r}") from None

    def describe(self) -> str:
        return f"{self.exercise}: {self.source} ({self.path.name}; {self.why})"


def course_root() -> Path:
    root = registry.course_root()
    if root is None or not (root / "solutions").is_dir():
        raise FileNotFoundError("the capstone needs the course's clone (solutions/ and exercises/); run it from "
                                "there or set RLHF_COURSE_ROOT")
    return root


def learner_passes(exercise: str, device: str | None = None) -> tuple[bool, str]:
    """(passed, why) from the progress cache entry for the learner's file at its current content."""
    from grader import progress

    file = str(course_root() / registry.get(exercise).stub)
    book = progress.Progress()
    for request in dict.fromkeys((device, None)):  # graded with this --device, or with the default choice
        entry = book.lookup(exercise, file, progress.key(exercise, file, request))
        if entry is not None:
            results = entry["results"]
            passed = sum(r["status"] == "pass" for r in results)
            if results and passed == len(results):
                return True, f"passed all {passed} checks at its current content"
            return False, (f"your file passes {passed} of {len(results)} checks; the reference is used "
                           f"until `rlhf-course check {exercise}` passes")
    return False, f"your file is not checked at its current content; run `rlhf-course check {exercise}`"


def choose(exercise: str, device: str | None = None, force_reference: bool = False) -> Implementation:
    root = course_root()
    yours, why = (False, "the reference was asked for (--reference)") if force_reference else \
        learner_passes(exercise, device)
    path = root / (registry.get(exercise).stub if yours else registry.get(exercise).solution)
    try:
        namespace = load_namespace(path)
        missing = [n for n in USED[exercise] if n not in namespace]
    except LoadError as exc:  # passed its checks, but does not load here now (edited since?): never crash mid-run
        if not yours:
            raise
        missing = [str(exc).splitlines()[0]]
    if yours and missing:  # passing checks means they exist; guard anyway
        path, why = root / registry.get(exercise).solution, f"your file could not be used: {', '.join(missing)}"
        namespace, yours = load_namespace(path), False
    return Implementation(exercise, "yours" if yours else "reference", path, why, namespace)


def reference(exercise: str) -> dict:
    """The reference's namespace: given helpers (``encode``, ``tokenize_pairs``) always come from here."""
    return load_namespace(course_root() / registry.get(exercise).solution)


def choose_all(device: str | None = None, force_reference: bool = False) -> dict[str, Implementation]:
    return {e: choose(e, device, force_reference) for e in USED}
