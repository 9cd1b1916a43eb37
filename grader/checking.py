"""The machinery every exercise's checks share: what a check declares and what it may call.

A check calls the learner's functions on fixed inputs chosen to separate mistakes and returns
*observations* (output values and gradients, as tensors). This code runs in the executor, beside the
learner's code (``grader.engine.executor``); the judge, in another process, compares the observations
with the stored reference and the catalogue's (``grader.engine.judge``). Structural problems (wrong
shape, NaN, a gradient where none belongs) fail here, before any comparison, with their own hints: a
learner who tampers with them can only lose points, never gain them.
"""

from __future__ import annotations

import contextlib
import importlib
import sys
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np
import torch

from grader.devices import tolerance
from grader.learner import CELL_ERRORS, SKIPPED_NAMES

GRADE_DTYPE = torch.float32  # every device has it; references are computed in float64 on the CPU


# ---------------------------------------------------------------------------------------------
# What checks declare


@dataclass(frozen=True)
class Mistake:
    """A realistic wrong implementation, known by its id; only its hint ships with the grader."""

    function: str
    hint: str


@dataclass(frozen=True)
class Check:
    """One graded unit: usually one learner function, sometimes a training step that uses several."""

    name: str
    functions: tuple[str, ...]  # learner names it calls; the first is the one it grades
    run: Callable[["Context"], dict[str, torch.Tensor]]
    description: str
    points: int = 1
    timeout_s: float = 30.0
    calls: tuple[str, ...] = ()  # other graded functions it calls but does not grade: it says "fix X first"
    # What the judge says when no catalogued mistake matches and the difference is no sign or scale; None: "recheck
    # the formula" (judge.GENERIC_HINT), which does not fit a check with no formula (tokenizing, padding, a loop).
    generic_hint: str | None = None


class CheckFailed(Exception):
    def __init__(self, message: str, expected: Any = None, got: Any = None, hint: str | None = None,
                 mistake: str | None = None):
        super().__init__(message)
        self.message, self.hint, self.mistake = message, hint, mistake
        self.expected = None if expected is None else _show(expected)
        self.got = None if got is None else _show(got)


class NotImplementedYet(Exception):
    pass


class LearnerError(Exception):
    """The learner's code raised; ``where`` points at the learner's own line."""

    def __init__(self, function: str, exc: BaseException, where: str, hint: str | None = None):
        super().__init__(f"{function} raised {type(exc).__name__}: {exc}")
        self.where, self.hint = where, hint


# ---------------------------------------------------------------------------------------------
# Running checks against a namespace (a learner module's globals, or a notebook's)


class Context:
    """What a check sees: the learner's namespace, the device, and how to compare."""

    def __init__(self, exercise: str, check: Check, ns: Mapping[str, Any], device: torch.device,
                 learner_files: tuple[str, ...] = ()):
        self.exercise, self.check, self.ns, self.device = exercise, check, ns, device
        self.dtype = GRADE_DTYPE
        self.rtol, self.atol = tolerance(device, GRADE_DTYPE)
        self.learner_files = learner_files

    def fn(self, name: str) -> Callable:
        obj = self.ns.get(name)
        if obj is None:
            broken = self.ns.get(CELL_ERRORS) or []
            hint = (f"a cell of your notebook did not run, and `{name}` may be defined there: {broken[0]}" if broken
                    else f"define `{name}` with the signature given in the exercise (check the spelling)")
            raise CheckFailed(f"no function or class named `{name}` was found", hint=hint)
        if not callable(obj):
            raise CheckFailed(f"`{name}` is a {type(obj).__name__}, not a function")
        return obj

    def call(self, name: str, *args, **kwargs):
        """Call a learner function; turn its exceptions into readable outcomes."""
        return self.invoke(name, self.fn(name), *args, **kwargs)

    def invoke(self, name: str, func: Callable, *args, **kwargs):
        """Call learner code that is not a top-level name (a method, a module's forward) as `call` does;
        ``name`` is what the report calls it, e.g. "RewardModel.forward"."""
        try:
            return func(*args, **kwargs)
        except NotImplementedError as exc:
            raise NotImplementedYet(name) from exc
        except (CheckFailed, NotImplementedYet):
            raise
        except TypeError as exc:
            if exc.__traceback__ is not None and exc.__traceback__.tb_next is None:
                # Raised by the call itself, before any learner line ran: the signature is wrong.
                raise CheckFailed(f"`{name}` cannot be called as the exercise specifies: {exc}",
                                  expected="the parameters given in the exercise's stub",
                                  got=f"{name}{_signature(func)}",
                                  hint="keep the parameter names, order and defaults of the stub") from None
            raise LearnerError(name, exc, learner_frames(exc, self.learner_files)) from exc
        except NameError as exc:
            error = LearnerError(name, exc, learner_frames(exc, self.learner_files))
            if getattr(exc, "name", None) in self.ns.get(SKIPPED_NAMES, ()):
                error.hint = (f"`{exc.name}` is set by a top-level statement that calls something; the grader runs "
                              f"only imports, functions, classes and constant assignments, so define `{exc.name}` "
                              f"inside your function (or as a plain constant)")
            raise error from exc
        except Exception as exc:  # noqa: BLE001 - any learner error becomes a report, not a traceback wall
            raise LearnerError(name, exc, learner_frames(exc, self.learner_files)) from exc

    def tensor(self, data, requires_grad: bool = False) -> torch.Tensor:
        t = torch.as_tensor(data, dtype=self.dtype).to(self.device)
        return t.requires_grad_(requires_grad)

    @property
    def variant(self) -> int:
        """0 for the public inputs; a course's secret number under ``input_variant``."""
        return _variant

    def literal(self, data, requires_grad: bool = False) -> torch.Tensor:
        """A hand-picked input (ties, signs, extremes): itself in the public variant, jittered in a secret one."""
        t = torch.as_tensor(data, dtype=torch.float64)
        if _variant:
            t = torch.tensor([_jitter(v) for v in t.flatten().tolist()], dtype=torch.float64).view(t.shape)
        return self.tensor(t, requires_grad)


def _signature(func: Callable) -> str:
    import inspect

    try:
        return str(inspect.signature(func))
    except (TypeError, ValueError):
        return "(...)"


def learner_frames(exc: BaseException, learner_files: tuple[str, ...]) -> str:
    """The traceback lines that belong to learner code (not the grader, torch or transformers)."""
    frames = traceback.extract_tb(exc.__traceback__)
    grader_dir = str(Path(__file__).parent)
    mine = [f for f in frames if (learner_files and any(f.filename.startswith(p) for p in learner_files))
            or not (f.filename.startswith(grader_dir) or "site-packages" in f.filename
                    or f.filename.startswith(sys.prefix))]
    shown = mine[-3:] or frames[-1:]
    return "\n".join(f"{f.filename}, line {f.lineno}: {(f.line or '').strip()}" for f in shown)


def _show(x: Any) -> str:
    """A short, readable rendering of a value for expected/got lines: the judge's own (``judge.show``)."""
    from grader.engine.judge import show

    if isinstance(x, str):
        return x
    if isinstance(x, torch.Tensor):
        x = (x.detach().to("cpu", torch.float64) if x.is_floating_point() else x.detach().cpu()).numpy()
    elif isinstance(x, float):
        x = np.float64(x)
    return show(x) if isinstance(x, (np.ndarray, np.float64)) else repr(x)


# --- the structural checks every exercise needs ------------------------------------------------


NONFINITE_HINT = ("an overflow or a division by zero: use numerically stable forms (log_softmax, F.logsigmoid, "
                  "softplus) and keep denominators away from 0")


def expect_value_error(call: Callable[[], Any], what: str, got: str = "no error", hint: str | None = None,
                       mistake: str | None = None) -> None:
    """``call()`` must raise ValueError: ``what`` says on which input ("dpo_loss with an unknown loss_type"), ``got``
    what returning instead shows. A stub's NotImplementedError is left to the checks of its values."""
    try:
        call()
    except (ValueError, NotImplementedError):
        return
    except Exception as exc:  # noqa: BLE001 - the learner's code raised something else
        raise CheckFailed(f"{what} should raise ValueError", got=f"{type(exc).__name__}: {exc}") from None
    raise CheckFailed(f"{what} should raise ValueError", expected="ValueError", got=got, hint=hint, mistake=mistake)


def expect_tensor(name: str, x: Any, shape: tuple[int, ...], what: str = "output",
                  nonfinite_hint: str = NONFINITE_HINT) -> torch.Tensor:
    """``x`` is a finite tensor of ``shape``; ``nonfinite_hint``: what inf/NaN means on this check's input."""
    if not isinstance(x, torch.Tensor):
        raise CheckFailed(f"{name} must return a torch.Tensor as its {what}", expected="a tensor",
                          got=type(x).__name__, hint="return tensors, not Python numbers or lists")
    if tuple(x.shape) != tuple(shape):
        raise CheckFailed(f"{name}: {what} has the wrong shape", expected=f"shape {tuple(shape)}",
                          got=f"shape {tuple(x.shape)}", hint=shape_hint(tuple(x.shape), tuple(shape)))
    if x.is_floating_point() and not torch.isfinite(x).all():
        raise CheckFailed(f"{name}: {what} contains inf or NaN", got=x, hint=nonfinite_hint)
    return x


def shape_hint(got: tuple[int, ...], expected: tuple[int, ...]) -> str:
    if len(got) == len(expected) + 1 and got[-1] == 1:
        return "a trailing dimension of size 1: squeeze(-1) the last dimension"
    if len(got) == 2 and got[0] == got[1] and len(expected) == 1:
        return "a (B, 1) tensor combined with a (B,) tensor broadcasts to (B, B); keep everything (B,)"
    if len(got) == 0 and len(expected) == 1:
        return "the result was reduced to a scalar; return one value per example"
    if len(got) == 1 and len(expected) == 0:
        return "return a scalar: reduce over the batch (mean)"
    return "check which dimensions you reduce over"


# --- the inputs' variant: the public inputs every learner sees (0), or an instructor's secret ones ----------

_variant = 0
VARIANT_STRIDE = 1_000_003  # variants shift every seed by a multiple of this prime
LITERAL_JITTER = 0.01  # a literal input moves by up to 1% of itself in a secret variant


@contextlib.contextmanager
def input_variant(variant: int):
    """Within this block, ``seeded``, ``seed_for`` and ``Context.literal`` make the inputs of ``variant``: 0 for
    the public inputs (``grader/reference/``), another number for a course's secret ones (``rlhf-course
    nbgrader``), so that outputs copied from the public reference are wrong there."""
    global _variant
    before, _variant = _variant, int(variant)
    try:
        yield
    finally:
        _variant = before


def seed_for(seed: int) -> int:
    return seed + VARIANT_STRIDE * _variant


def seeded(seed: int) -> torch.Generator:
    """A CPU generator: check inputs are drawn on the CPU, so they are the same on every device."""
    return torch.Generator().manual_seed(seed_for(seed))


def _jitter(value: float) -> float:
    """``value`` moved by up to LITERAL_JITTER of itself, by a hash of (variant, value): equal values stay equal
    (ties), zeros stay zero (padding) and signs stay, so the case a literal input was chosen for still holds."""
    import hashlib

    digest = hashlib.sha256(f"{_variant}:{value!r}".encode()).digest()
    unit = int.from_bytes(digest[:8], "big") / 2**64 * 2 - 1  # [-1, 1)
    return value * (1 + LITERAL_JITTER * unit)


def weighted_grads(name: str, output: torch.Tensor, inputs: list[torch.Tensor],
                   weights: torch.Tensor | None = None) -> list[torch.Tensor]:
    """Gradients of ``sum(weights * output)`` with respect to ``inputs``; zeros for an input the output does
    not depend on. Distinct weights per element make per-element scaling mistakes show in the gradient."""
    objective = (output * weights).sum() if weights is not None else output.sum()
    if not objective.requires_grad:
        raise CheckFailed(f"{name}: the output carries no gradient", hint="do not detach the result or compute it "
                          "under torch.no_grad(); it must be differentiable")
    grads = torch.autograd.grad(objective, inputs, allow_unused=True)
    return [torch.zeros_like(x) if g is None else g for g, x in zip(grads, inputs)]


# ---------------------------------------------------------------------------------------------
# Exercise modules and running them


@contextlib.contextmanager
def one_cpu_thread(device: torch.device):
    """Checks run tiny models whose ops are too small to gain from intra-op threads; on a busy CPU the
    threads' waiting costs several times the work (measured: 18 s instead of 3 s for the PPO loop, 7 s
    instead of 1 s for reward-model training, on 2 loaded cores). The caller's setting is restored."""
    threads = torch.get_num_threads()
    if device.type == "cpu":
        torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def checks_module(exercise: str):
    return importlib.import_module(f"grader.checks.{exercise}")
