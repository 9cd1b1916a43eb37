"""The judge: turns what the executor observed into a verdict. It never imports or runs learner code.

It holds what the executor must never see: the reference's observations for each check, the
observations of each catalogued mistake (to name the likely mistake), the tolerances and the points,
all read from ``grader/reference/<exercise>.npz`` (written by ``rlhf-course refs`` from ``solutions/``
and ``tests/mistakes/``; the sandbox hides that folder). A check passes only when every expected
observation arrived, well-formed, and matches within the device's tolerance. A reply that says a
check failed (a structural problem found by the check's code, the learner's exception, "not
implemented") can only cost points, so it is reported as it came, with its status checked.

numpy only: the CLI's parent process judges without importing torch.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from grader.engine.wire import BadObservation, decode_all
from grader.tolerances import tolerance

REFERENCE_DIR = Path(__file__).resolve().parent.parent / "reference"
FAILED_STATUSES = {"fail", "not_implemented", "missing", "error"}
MAX_TEXT = 4000  # characters of any message the executor sends
# A learner's output "is" a catalogued mistake's when it agrees within this (looser than grading: the learner's
# version of the mistake may sum in another order). Also how refs.compute decides that two mistakes are twins.
MATCH_RTOL, MATCH_ATOL = 1e-3, 1e-4


@dataclass
class Outcome:
    exercise: str
    check: str
    status: str  # pass | fail | not_implemented | missing | error | timeout
    message: str = ""
    expected: str | None = None
    got: str | None = None
    hint: str | None = None
    mistake: str | None = None  # catalogue id of the mistake it matched, if any
    seconds: float = 0.0
    points: int = 0
    max_points: int = 1

    @property
    def passed(self) -> bool:
        return self.status == "pass"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def describe(self) -> str:
        """A few lines a learner can act on."""
        if self.passed:
            return f"{self.check}: passed"
        lines = [f"{self.check}: {self.message}"]
        for label, value in (("expected", self.expected), ("got", self.got), ("hint", self.hint)):
            if value is not None:
                lines.append(f"  {label + ':':<10}{value}")
        return "\n".join(lines)


# --- the stored reference ------------------------------------------------------------------------


@dataclass(frozen=True)
class CheckInfo:
    name: str
    functions: tuple[str, ...]
    points: int
    timeout_s: float
    description: str
    calls: tuple[str, ...] = ()  # other graded functions it calls without grading them (for "fix X first")
    generic_hint: str = ""  # the check's own words for an unexplained difference ("" : GENERIC_HINT)


class Reference:
    """One exercise's stored observations and the checks' metadata (points, catalogue hints)."""

    def __init__(self, meta: dict, expected: dict, mistakes: dict):
        self.meta, self.expected, self.mistakes = meta, expected, mistakes
        self.checks = [CheckInfo(c["name"], tuple(c["functions"]), c["points"], c["timeout_s"], c["description"],
                                 tuple(c.get("calls", ())), c.get("generic_hint", "")) for c in meta["checks"]]
        self.by_name = {c.name: c for c in self.checks}

    @property
    def variant(self) -> int:
        """Which inputs these observations are for: 0 the public ones, else a course's secret ones."""
        return int(self.meta.get("variant", 0))

    @property
    def catalogue(self) -> dict[str, dict]:
        return self.meta["mistakes"]

    @property
    def descriptions(self) -> dict[str, str]:
        return self.meta["observations"]

    def tolerance(self, key: str, device_type: str) -> tuple[float, float]:
        return observation_tolerance(self.meta, key, device_type)

    @property
    def at_least(self) -> dict[str, float]:
        """Observations judged by a lower bound (outcomes that differ between correct implementations)."""
        return self.meta.get("at_least", {})

    @property
    def at_most(self) -> dict[str, float]:
        return self.meta.get("at_most", {})

    @property
    def bounded(self) -> set[str]:
        return {*self.at_least, *self.at_most}

    @property
    def text(self) -> set[str]:
        """Observations that are strings (``encode_text``): shown as text, not as byte codes."""
        return set(self.meta.get("text", ()))

    def to_arrays(self) -> dict[str, np.ndarray]:
        arrays = {"meta": np.array(json.dumps(self.meta, sort_keys=True))}
        for check, obs in self.expected.items():
            arrays.update({f"checks/{check}/{k}": v for k, v in obs.items()})
        for check, by_mistake in self.mistakes.items():
            for mistake, obs in by_mistake.items():
                arrays.update({f"mistakes/{check}/{mistake}/{k}": v for k, v in obs.items()})
        return arrays

    @classmethod
    def from_arrays(cls, arrays) -> "Reference":
        meta = json.loads(str(arrays["meta"]))
        expected: dict = {c["name"]: {} for c in meta["checks"]}
        mistakes: dict = {c["name"]: {} for c in meta["checks"]}
        for key in arrays.keys():
            parts = key.split("/")
            if parts[0] == "checks":
                expected[parts[1]][parts[2]] = arrays[key]
            elif parts[0] == "mistakes":
                mistakes[parts[1]].setdefault(parts[2], {})[parts[3]] = arrays[key]
        return cls(meta, expected, mistakes)


def observation_tolerance(meta: dict, key: str, device_type: str) -> tuple[float, float]:
    """The device's tolerance, or the observation's own where the checks declare a looser one (``TOLERANCE``).
    The one rule for "equal": the judge grades with it, and ``refs`` uses it (on the CPU) to decide whether a
    catalogued mistake is visible at all."""
    rtol, atol = tolerance(device_type)
    own = meta.get("tolerance", {}).get(key)
    return (max(rtol, own[0]), max(atol, own[1])) if own else (rtol, atol)


def reference_path(exercise: str) -> Path:
    return REFERENCE_DIR / f"{exercise}.npz"


@lru_cache(maxsize=None)
def load(exercise: str) -> Reference:
    """The public reference shipped with the package (inputs of variant 0)."""
    path = reference_path(exercise)
    if not path.exists():
        raise FileNotFoundError(f"no stored reference for {exercise!r} at {path}; "
                                f"run `rlhf-course refs {exercise}` in a clone of the course")
    return load_file(path)


def load_file(path: Path) -> Reference:
    """A stored reference, e.g. a course's secret one (``rlhf-course nbgrader``)."""
    with np.load(path, allow_pickle=False) as arrays:
        return Reference.from_arrays({k: arrays[k] for k in arrays.files})


# --- comparing -----------------------------------------------------------------------------------


def as_float(x: np.ndarray) -> np.ndarray:
    return np.asarray(x, dtype=np.float64)


def close(a: np.ndarray, b: np.ndarray, rtol: float, atol: float) -> bool:
    a, b = as_float(a), as_float(b)
    return a.shape == b.shape and bool(np.allclose(a, b, rtol=rtol, atol=atol, equal_nan=False))


def show(x: Any, limit: int = 6) -> str:
    """A short rendering of an observation (an expected/got line)."""
    if isinstance(x, str):
        return x
    x = np.asarray(x)
    flat = x.reshape(-1)
    fmt = (lambda v: f"{v:.6g}") if x.dtype.kind == "f" else str
    if x.ndim == 0:
        return fmt(flat[0].item())
    vals = ", ".join(fmt(v) for v in flat[:limit].tolist())
    return f"shape {tuple(x.shape)}: [{vals}{', ...' if flat.size > limit else ''}]"


def show_pair(expected: np.ndarray, got: np.ndarray, rtol: float, atol: float, limit: int = 4) -> tuple[str, str]:
    """Expected and got, showing the first *differing* elements with their indices when the shapes agree
    (the first few values are often identical when the difference sits in a padded row)."""
    e, g = as_float(expected), as_float(got)
    if e.shape != g.shape or e.ndim == 0 or e.size <= limit:
        return show(expected), show(got)
    bad = ~np.isclose(g, e, rtol=rtol, atol=atol, equal_nan=False)
    where = list(zip(*np.nonzero(bad)))[:limit]
    if not where:
        return show(expected), show(got)
    more = ", ..." if int(bad.sum()) > limit else ""

    def render(a):
        return f"shape {tuple(a.shape)}, where they differ: " + ", ".join(
            f"[{', '.join(map(str, i))}] {a[i]:.6g}" for i in where) + more

    return render(e), render(g)


# --- strings as observations -----------------------------------------------------------------------

TEXT_BYTES = 1024  # the longest string an observation holds; a longer one is cut (its length still counts)


def encode_text(x: str | None, width: int = TEXT_BYTES) -> np.ndarray:
    """A string as an observation, (1 + width,) float64: its length in UTF-8 bytes (-1 for None), then the bytes,
    -1 beyond. A check returns it for a string; the judge shows it back as text (``Reference.text``)."""
    out = np.full(1 + width, -1.0)
    if x is not None:
        raw = np.frombuffer(x.encode("utf-8"), dtype=np.uint8)
        out[0] = raw.size
        out[1:1 + min(raw.size, width)] = raw[:width]
    return out


def decode_text(a: np.ndarray) -> str | None:
    """The string ``encode_text`` encoded (cut strings end with "…"); ValueError for anything else (a tampered
    executor's observation)."""
    a = as_float(a).reshape(-1)
    if a.size < 1 or not np.isfinite(a).all() or a[0] != np.round(a[0]) or a[0] < -1:
        raise ValueError("not an encoded string")
    if a[0] == -1:
        return None
    n = int(min(a[0], a.size - 1))
    raw = a[1:1 + n]
    if not ((raw >= 0) & (raw <= 255) & (raw == np.round(raw))).all():
        raise ValueError("not an encoded string")
    return bytes(raw.astype(np.uint8)).decode("utf-8", "replace") + ("…" if a[0] > n else "")


def show_text_pair(expected: np.ndarray, got: np.ndarray, width: int = 100) -> tuple[str, str, int]:
    """Expected and got strings as Python literals, from a little before their first difference; and where that
    difference is (a character index)."""
    e, g = decode_text(expected), decode_text(got)
    if e is None or g is None:
        first = 0
    else:
        first = next((i for i, (x, y) in enumerate(zip(e, g)) if x != y), min(len(e), len(g)))
    start = max(0, first - 30)

    def render(s: str | None) -> str:
        if s is None:
            return "None"
        cut = s[start:start + width]
        return ("…" if start else "") + repr(cut) + ("…" if len(s) > start + width else "")

    return render(e), render(g), first


def text_hint(first: int) -> str:
    return (f"the text differs from character {first} on (shown from a little before it): compare it, character by "
            f"character, with the rules the exercise states")


def generic_hint(got: np.ndarray, expected: np.ndarray, otherwise: str = "") -> str:
    """When no catalogued mistake matches, say what kind of difference it is, and only what the evidence shows:
    a sign or a scale needs at least two nonzero elements with one consistent ratio (for a single number any
    two values have "a ratio", and it says nothing about the cause). ``otherwise``: the check's own words for what is
    left (``CheckInfo.generic_hint``), else GENERIC_HINT."""
    g, e = as_float(got).reshape(-1), as_float(expected).reshape(-1)
    if g.shape == e.shape and np.isfinite(g).all():
        nz = np.abs(e) > 1e-6 * max(np.abs(e).max(), 1e-30)
        if nz.sum() >= 2:
            ratio = g[nz] / e[nz]
            consistent = np.allclose(ratio, ratio[0], rtol=1e-3) and np.allclose(g[~nz], 0, atol=1e-6)
            if consistent and np.isclose(ratio[0], -1, rtol=1e-3):
                return "the sign is flipped"
            if consistent and abs(ratio[0]) > 1e-6 and not np.isclose(ratio[0], 1, rtol=1e-3):
                return f"every value is off by the same factor, {ratio[0]:.4g} (a sum vs a mean, or a missing scale?)"
    return otherwise or GENERIC_HINT


GENERIC_HINT = "recheck the formula against the lesson; the values are not off by a simple sign or scale"


def _text(x: Any) -> str | None:
    return x[:MAX_TEXT] if isinstance(x, str) else None


def _seconds(x: Any) -> float:
    return round(x, 3) if isinstance(x, float) and 0 <= x < 1e6 else 0.0


def mistake_hint(ref: Reference, check: CheckInfo, mistake_id: str) -> str:
    """The catalogue's hint for a matched mistake; for two at once ("a+b", ``_two_mistakes``) both."""
    if "+" in mistake_id:
        return "two slips: " + "; and ".join(mistake_hint(ref, check, m) for m in mistake_id.split("+"))
    mistake = ref.catalogue[mistake_id]
    where = "" if mistake["function"] == check.functions[0] else f"in `{mistake['function']}`: "
    return where + mistake["hint"]


def verdict(exercise: str, check_name: str, reply: dict, device_type: str, ref: Reference | None = None) -> Outcome:
    """The outcome of one check from the executor's reply: ``{"observed": {...}}`` or ``{"failed": {...}}``.

    The reply comes from a process running learner code: anything in it may be hostile, so every field is
    type-checked and a malformed reply is a failed check, never an exception here."""
    ref = ref or load(exercise)
    check = ref.by_name[check_name]
    out = Outcome(exercise, check.name, "fail", max_points=check.points)
    if not isinstance(reply, dict):
        out.message = "the grader's executor sent an unreadable reply"
        return out
    out.seconds = _seconds(reply.get("seconds"))
    if "failed" in reply:
        failed = reply["failed"] if isinstance(reply["failed"], dict) else {}
        status = failed.get("status")
        out.status = status if isinstance(status, str) and status in FAILED_STATUSES else "fail"
        out.message = _text(failed.get("message")) or "failed"
        out.expected, out.got, out.hint = (_text(failed.get(k)) for k in ("expected", "got", "hint"))
        mistake = failed.get("mistake")
        if isinstance(mistake, str) and mistake in ref.catalogue:  # the catalogue's own words, not the executor's
            out.mistake, out.hint = mistake, mistake_hint(ref, check, mistake)
        return out
    try:
        observed = decode_all(reply.get("observed"))
    except (BadObservation, ValueError, TypeError) as exc:
        out.message = f"the grader's executor sent unreadable observations ({exc})"
        return out
    expected = ref.expected[check.name]
    missing = [k for k in expected if k not in observed]
    if missing:
        out.message = f"no observation of {ref.descriptions.get(missing[0], missing[0])} came back"
        return out
    exact = [k for k in expected if k not in ref.bounded]
    wrong = [k for k in exact if not close(observed[k], expected[k], *ref.tolerance(k, device_type))]
    if not wrong:
        for key in (k for k in expected if k in ref.bounded):
            value = float(observed[key].reshape(-1)[0]) if observed[key].size == 1 else float("nan")
            low, high = ref.at_least.get(key, -np.inf), ref.at_most.get(key, np.inf)
            if not low <= value <= high:
                out.message = f"{ref.descriptions.get(key, key)} is out of bounds"
                out.expected = f">= {low:g}" if key in ref.at_least else f"<= {high:g}"
                out.got = show(observed[key])
                out.hint = ("the first steps match the reference's; check what happens over a longer run "
                            "(and fix the other checks first)")
                return out
        out.status, out.points, out.message = "pass", check.points, "passed"
        return out
    key = wrong[0]
    out.message = f"mismatch in {ref.descriptions.get(key, key)}"
    out.expected, out.got = show_pair(expected[key], observed[key], *ref.tolerance(key, device_type))
    out.hint = generic_hint(observed[key], expected[key], check.generic_hint)
    if key in ref.text:
        try:
            out.expected, out.got, first = show_text_pair(expected[key], observed[key])
            out.hint = text_hint(first)
        except ValueError:
            pass  # not a string after all (a tampered reply): shown as numbers
    mistake_id = match_mistake(ref, check, observed, set(wrong), device_type)
    if mistake_id:
        out.mistake, out.hint = mistake_id, mistake_hint(ref, check, mistake_id)
    return out


def match_mistake(ref: Reference, check: CheckInfo, observed: dict, wrong: set[str], device_type: str) -> str | None:
    """The catalogued mistake the learner's observations show, if the evidence is clear; None when it is not.

    A mistake matches when, on every observation the learner got wrong, the learner's values are the mistake's
    (``MATCH_RTOL``), the mistake also gets each of those wrong, and that agreement covers at least two wrong
    values: one coinciding number is not evidence (a scalar has few values to fall on). The learner may get right
    some observations the mistake gets wrong: a variant of it (the same slip, reached by fewer inputs). A learner
    who matches only as a variant, of more than one mistake, is told neither. Only mistakes of the function the
    check grades are named: a later check matching an earlier function's mistake whose own check passed would
    point at code that is right (``explain_by_earlier`` covers the case where it fails)."""
    if not wrong:
        return None
    expected = ref.expected[check.name]
    own = _own_mistakes(ref, check, device_type)
    exact, variant = [], []
    for mistake_id, (obs, differs) in own.items():
        if not wrong <= differs or not all(close(observed[k], obs[k], MATCH_RTOL, MATCH_ATOL) for k in wrong):
            continue
        evidence = sum(_differing(obs[k], expected[k], *ref.tolerance(k, device_type)) for k in wrong)
        if evidence >= 2:
            (exact if wrong == differs else variant).append(mistake_id)
    if exact:
        return exact[0]  # refs.compute removes twins, so there is at most one
    if len(variant) == 1:
        return variant[0]
    return None if variant else _two_mistakes(own, observed, wrong)


def _own_mistakes(ref: Reference, check: CheckInfo, device_type: str) -> dict[str, tuple[dict, frozenset]]:
    """The catalogued mistakes of the function ``check`` grades: id -> (observations, the ones that differ from
    the reference's)."""
    expected = ref.expected[check.name]
    return {m: (obs, frozenset(k for k, v in obs.items() if k in expected and k not in ref.bounded
                               and not close(v, expected[k], *ref.tolerance(k, device_type))))
            for m, obs in ref.mistakes[check.name].items() if ref.catalogue[m]["function"] == check.functions[0]}


def _differing(a: np.ndarray, b: np.ndarray, rtol: float, atol: float) -> int:
    """How many elements of ``a`` differ from ``b`` (all of them when the shapes differ)."""
    a, b = as_float(a), as_float(b)
    return int(a.size) if a.shape != b.shape else int((~np.isclose(a, b, rtol=rtol, atol=atol)).sum())


def _two_mistakes(own: dict[str, tuple[dict, frozenset]], observed: dict, wrong: set[str]) -> str | None:
    """Two catalogued slips at once, "a+b": each accounts exactly for its own wrong observations, the two sets do
    not overlap (so neither's values depend on the other) and together they are everything the learner got
    wrong (e.g. neither old_logp nor the advantages detached). Only when exactly one pair fits."""
    fits = [m for m, (obs, keys) in own.items() if keys and keys < wrong
            and all(close(observed[k], obs[k], MATCH_RTOL, MATCH_ATOL) for k in keys)]
    pairs = [(a, b) for i, a in enumerate(fits) for b in fits[i + 1:]
             if not own[a][1] & own[b][1] and own[a][1] | own[b][1] == wrong]
    return "+".join(pairs[0]) if len(pairs) == 1 else None


def explain_by_earlier(out: Outcome, ref: Reference, failed: dict[str, str]) -> Outcome:
    """Call on each outcome of one submission in check order; ``failed`` (graded function -> its failing check)
    carries what came before. A check that calls a graded function whose own check failed says "fix `X` first"
    rather than guess at a cause: its failure may be that function's (a wrong KL sign fails the PPO loop too)."""
    check = ref.by_name[out.check]
    earlier = [f for f in (*check.functions[1:], *check.calls) if f in failed]
    if not out.passed and earlier and out.status in ("fail", "error", "timeout"):
        others = f" (then {', '.join(f'`{f}`' for f in earlier[1:])})" if len(earlier) > 1 else ""
        out.hint = (f"fix `{earlier[0]}` first{others}: its own check fails, and this check calls it, so this "
                    f"failure may come from there")
        out.mistake = None
    if not out.passed:
        failed.setdefault(check.functions[0], out.check)
    return out
