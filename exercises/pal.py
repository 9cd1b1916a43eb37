# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# This file is generated from solutions/pal.py by `rlhf-course stubs`; edit it freely to solve
# the exercise (regenerating overwrites it).

# %% [markdown]
# # Exercise: program-aided language models (PAL)
#
# Read the lesson `lessons/pal.md` first. A PAL model answers a word problem by writing a Python program; the
# program's output is the answer. You will build the loop around the model, on 24 word problems written for the
# course and five stored completions per problem (`grader/data/pal/`): some right, some wrong, some malformed,
# some hostile (an endless loop, an 8 GB list, a flood of output, a fork bomb, reading `~/.ssh` or
# `../solutions`, a network call). You will implement
#
# 1. `build_prompt`: the few-shot prompt with worked programs;
# 2. `extract_program`: the program inside a completion (a fenced block, or a bare `def solution():`);
# 3. `run_program`: run it through the course's sandbox with limits, and read its answer or say why there is none;
# 4. `parse_answer`: the answer from what the program printed;
# 5. `majority_vote`: self-consistency over several programs;
# 6. `pal_answer`: the whole loop for one problem;
# 7. `accuracy_report`: how good the answers are.
#
# Fill in each `raise NotImplementedError()`; the rest of the notebook is given. Check your work with
#
#     rlhf-course check pal
#
# Model-written code runs only in the course's sandbox (`grader.engine.programs`): no network, no view of your
# files, limits on time, memory, processes and output. Where no sandbox can run, it refuses, and so must you.

# %% [markdown]
# Check each function as soon as you have written it: the cell after it, `check("...")`, grades what you
# ran in this notebook as `rlhf-course check pal` does (your code runs in the course's sandbox, not in
# this kernel) and shows the result under the cell. Demo cells run under `with demo():`: one that needs a
# function you have not written yet says so, and the rest of the notebook still runs.

# %%
from grader import check, demo

# %%
import math
import os
import re
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

from grader.engine.programs import ProgramError, ProgramLimits, available
from grader.engine.programs import run as run_untrusted
from grader.engine.sandbox import SandboxUnavailable
from grader.pal_data import LM_ENV, load_completions, load_examples, load_lm, load_problems

# %% [markdown]
# ## 1. The few-shot prompt
#
# The prompt is `PREAMBLE`, then each worked example formatted with `EXAMPLE` (its question and its program, both
# stripped of surrounding whitespace), in the order given, then the new question, stripped too, formatted with
# `QUERY`. The parts follow one another with nothing between them (`PREAMBLE` and `EXAMPLE` end with their own blank
# line). The model continues after `QUERY`: it writes the code block itself.

# %%
PREAMBLE = ("Solve each question with a Python program. Define solution(), return the answer as a number, "
            "and print it.\n\n")
EXAMPLE = "Question: {question}\n```python\n{program}\n\nprint(solution())\n```\n\n"
QUERY = "Question: {question}\n"


# %%
def build_prompt(question: str, examples: list[dict]) -> str:
    """PREAMBLE + one EXAMPLE per worked example ({"question", "program"}) + QUERY for `question`."""
    # YOUR CODE HERE
    raise NotImplementedError()


# %%
check("build_prompt")  # grades your build_prompt as `rlhf-course check pal` does

# %%
with demo():
    print(build_prompt("A box holds 12 eggs. How many eggs are in 7 boxes?", load_examples()[:1]))

# %% [markdown]
# ## 2. The program inside a completion
#
# `extract_program(completion)` returns the program a completion holds, or `None`:
#
# 1. the first *closed* fenced block (a line starting with three backticks, the code, a line of three backticks)
#    whose language tag is empty, `python`, `py` or `python3` (any case: `Python` too); blocks tagged otherwise
#    (`text`, `output`) are skipped; the code is what lies between the fence lines. A fence starts at the start of
#    its line (an indented ```` ``` ```` opens nothing), and a fence never closed holds no block;
# 2. failing that, a bare function: from the first line that starts with `def solution(` (at the start of the
#    line: an indented one inside prose is not a program) through the lines after it that are blank or indented
#    (the function ends at the first line that is neither);
# 3. failing that, `None`.
#
# A model that follows the examples often defines `solution()` and stops, without calling it. When the program
# defines `solution` (a line starting with `def solution(`) and no other line calls it (contains the text
# `solution()`; a comment that mentions "the solution" calls nothing), append a line `print(solution())`. Return the
# program with trailing whitespace stripped (before any appended call); leading whitespace stays, it is the first
# line's indentation. Blank lines and trailing spaces are not graded: `print(solution())` may follow the program
# directly or after a blank line.

# %%
def extract_program(completion: str) -> str | None:
    """The program in a completion (first closed Python fence, else a bare def solution()), or None."""
    # YOUR CODE HERE
    raise NotImplementedError()


# %%
check("extract_program")  # grades your extract_program as `rlhf-course check pal` does

# %%
with demo():
    print(extract_program("Here is my program:\n```python\ndef solution():\n    return 6 * 7\n```\nDone."))

# %% [markdown]
# ## 3. Reading the answer
#
# `parse_answer(stdout)` reads the answer from what the program printed: the last non-blank line, stripped.
# No such line, or the line `None` (a `solution()` that never returned; `None ` too, once stripped), is no answer:
# `None`. Otherwise, with commas removed (thousands separators: `2,334`), a line that `float()` reads as a finite
# number is that number as a float, rounded to 6 decimals (`66.00000000000001` is `66.0`, `16.857142857142858` is
# `16.857143`); `42` and `42.0` are the same answer, so the int `42` for a whole number is accepted too. `nan` and
# `inf` are no answer (`None`). Any other line is returned as it stands, stripped: the commas are removed only to
# read a number (`yes, 42 apples` stays `yes, 42 apples`).

# %%
def parse_answer(stdout: str) -> float | str | None:
    """The answer on the last non-blank line: a float rounded to 6 decimals, a string, or None."""
    # YOUR CODE HERE
    raise NotImplementedError()


# %%
check("parse_answer")  # grades your parse_answer as `rlhf-course check pal` does


# %% [markdown]
# ## 4. Running a program, contained
#
# `run_program(program, timeout_s, memory_mb, output_kb, runner)` runs one program and returns its answer.
# `runner(program, limits)` runs it and returns a `ProgramResult` (`status`, `stdout`, `stderr`, `message`); it is
# the course's sandboxed `run_untrusted` when `runner` is None (the checks pass their own). Build the limits as
# `ProgramLimits(timeout_s=timeout_s, memory_bytes=memory_mb * 2**20, output_bytes=output_kb * 2**10)` (other
# fields at their defaults). Then:
#
# - status `refused` (no sandbox can run here): raise `SandboxUnavailable(result.message)`: nothing may run;
# - any other status but `ok` (`timeout`, `memory`, `output_limit`, `error`): raise
#   `ProgramError(result.status, result.message)`; stdout of a program that did not finish is not an answer;
# - `ok`: the answer is `parse_answer(result.stdout)`; when that is None, raise
#   `ProgramError("no_answer", "the program printed no answer")`.

# %%
def run_program(program: str, timeout_s: float = 2.0, memory_mb: int = 256, output_kb: int = 64,
                runner=None) -> float | str:
    """Run `program` contained and return its answer; ProgramError when there is none, SandboxUnavailable when
    nothing may run here."""
    # YOUR CODE HERE
    raise NotImplementedError()


# %%
check("run_program")  # grades your run_program as `rlhf-course check pal` does

# %%
with demo():
    print("programs run in:", available()[1])
    if available()[0]:
        print(run_program("print(sum(range(10)))"))
        for hostile in ("while True: pass", "x = bytearray(8 << 30)", "print(open('../solutions/pal.py').read())"):
            try:
                run_program(hostile, timeout_s=1.0)
            except ProgramError as exc:
                print(f"{hostile[:40]!r:44} -> {exc}")

# %% [markdown]
# ## 5. Self-consistency: a majority vote
#
# `majority_vote(answers)` returns the answer given most often, ignoring `None` (a program that failed has no
# vote). Ties go to the answer that appears first in the list. With no answer at all, return `None`.

# %%
def majority_vote(answers: list) -> float | str | None:
    """The most frequent non-None answer; ties to the earliest; None when there is none."""
    # YOUR CODE HERE
    raise NotImplementedError()


# %%
check("majority_vote")  # grades your majority_vote as `rlhf-course check pal` does


# %% [markdown]
# ## 6. One problem, several samples
#
# `pal_answer(completions, runner=None)` extracts each completion's program and runs it with `run_program` (its
# default limits, `runner` passed on). A completion without a program, or whose program raises `ProgramError`,
# answers `None`; `SandboxUnavailable` is not caught: it stops the whole run. Return
# `(majority_vote(answers), answers)`, with one answer per completion, in order.

# %%
def pal_answer(completions: list[str], runner=None) -> tuple:
    """(the voted answer, one answer or None per completion)."""
    # YOUR CODE HERE
    raise NotImplementedError()


# %%
check("pal_answer")  # grades your pal_answer as `rlhf-course check pal` does


# %% [markdown]
# ## 7. The accuracy report
#
# `accuracy_report(predictions, answers)` compares one prediction per problem with the exact answers (numbers). A
# prediction is correct when it is a number (int or float, not a string, not None) close to the answer:
# `math.isclose(prediction, answer, rel_tol=1e-6, abs_tol=1e-6)`. Return a dict of Python floats: `accuracy`
# (correct over all problems), `answered` (the fraction of problems with a prediction that is not None) and
# `accuracy_answered` (correct over the problems answered; 0.0 when none was).

# %%
def accuracy_report(predictions: list, answers: list[float]) -> dict[str, float]:
    """{"accuracy", "answered", "accuracy_answered"} of predictions against exact numeric answers."""
    # YOUR CODE HERE
    raise NotImplementedError()


# %%
check("accuracy_report")  # grades your accuracy_report as `rlhf-course check pal` does

# %% [markdown]
# ## The loop on the course's problems
#
# Each problem's five stored completions, run in the sandbox (four at a time: each run waits on its own process).
# The first sample alone is one PAL answer; the vote over five is self-consistency. The lesson's figure
# (`lessons/figures/pal_accuracy.py`) makes the same table.

# %%
with demo():
    problems, completions = load_problems(), load_completions()
    if available()[0]:
        with ThreadPoolExecutor(4) as pool:
            results = list(pool.map(lambda p: pal_answer([c["text"] for c in completions[p["id"]]]), problems))
        gold = [p["answer"] for p in problems]
        first = [answers[0] for _, answers in results]
        voted = [vote for vote, _ in results]
        for name, predictions in (("PAL, first sample", first), ("PAL, vote of 5", voted)):
            r = accuracy_report(predictions, gold)
            print(f"{name:<20} accuracy {r['accuracy']:.3f}  answered {r['answered']:.3f}")
    else:
        print("model-written programs are not run here:", available()[1])

# %% [markdown]
# ## A live model (optional)
#
# Set `PAL_LM_DIR` to the folder of a causal LM already on your disk (one that writes code: the course's tiny
# GPT-2 cannot) to sample programs for the first problem and vote over them. Nothing is downloaded.

# %%
with demo():
    if LM_ENV in os.environ and available()[0]:
        lm, lm_tokenizer = load_lm(os.environ[LM_ENV])
        prompt = build_prompt(problems[0]["question"], load_examples())
        ids = lm_tokenizer(prompt, return_tensors="pt").to(lm.device)
        out = lm.generate(**ids, max_new_tokens=200, do_sample=True, temperature=0.7, num_return_sequences=3)
        samples = lm_tokenizer.batch_decode(out[:, ids["input_ids"].shape[1]:], skip_special_tokens=True)
        print(pal_answer(samples), "expected", problems[0]["answer"])
    else:
        print(f"set {LM_ENV} to a local causal LM's folder to sample programs live")
