"""Checks for the program-aided language models exercise (``solutions/pal.py``).

Inputs are chosen to separate mistakes: worked examples and questions with whitespace around them, no examples;
completions with a program and prose after it, a definition never called, an ``output`` block before the Python
one, two Python blocks, a bare ``def solution():`` followed by the next question, a call on the line after a bare
function, a top-level print after a bare function, unclosed fences, prose only, a call through a variable, an
untagged fence, a ``Python`` tag with an import above the def, an indented fence before a real one, an indented def
in prose, an indented block, a comment that mentions the solution; printed answers on the last line after working,
with commas, with float noise (``66.00000000000001``), with many decimals, ``None`` (with a space after it), ``nan``,
blank lines, words with a comma; programs whose runs end in every status, one observation per status (the checks
pass a recording runner: no program runs during grading, so the verdict is the same on machines with and without a
sandbox, and the limits passed are observed; like the sandbox, it fails on a program that is not a str); votes with
ties, Nones and no answer at all; predictions that are strings, None, or numbers off by float noise or by less than
a half. A secret variant changes the numbers in the programs and answers.

Programs are compared line by line, blank lines and trailing whitespace left out (they change nothing when the
program runs), and strings are observations the judge shows back as text (``TEXT_OBSERVATIONS``).
"""

from __future__ import annotations

import math
import zlib

import torch

from grader.checking import Check, CheckFailed, Context, LearnerError, Mistake, seeded
from grader.engine.judge import encode_text
from grader.engine.programs import ProgramError, ProgramLimits, ProgramResult
from grader.engine.sandbox import SandboxUnavailable

MISTAKES: dict[str, Mistake] = {
    # build_prompt
    "no_query": Mistake("build_prompt", "end the prompt with QUERY.format(question=...): without the new question the "
                        "model has nothing to answer"),
    "query_as_example": Mistake("build_prompt", "format the new question with QUERY, not EXAMPLE: the model must write "
                                "the program itself, after 'Question: ...'"),
    "no_preamble": Mistake("build_prompt", "start the prompt with PREAMBLE: it states the convention (define "
                           "solution(), return a number, print it)"),
    "not_stripped": Mistake("build_prompt", "strip the questions and programs (.strip()) before formatting: stray "
                            "whitespace and blank lines change the pattern the model copies"),
    "extra_separator": Mistake("build_prompt", "put nothing between the parts: PREAMBLE and each EXAMPLE already end "
                               "with their blank line, so join with \"\" (an extra \"\\n\" adds a blank line the "
                               "examples do not have)"),
    # extract_program
    "greedy_fence": Mistake("extract_program", "a greedy .* runs from the first opening fence to the last closing one: "
                            "use a non-greedy (.*?) match so that each block ends at its own fence"),
    "last_block": Mistake("extract_program", "take the first Python block: later ones are usually the model going on "
                          "to invent the next question"),
    "tag_ignored": Mistake("extract_program", "skip blocks tagged with another language (```output, ```text): only an "
                           "empty tag, python, py or python3 is a program"),
    "never_appends": Mistake("extract_program", "a program that defines solution() but never calls it prints nothing: "
                             "append print(solution())"),
    "always_appends": Mistake("extract_program", "append print(solution()) only when no other line calls solution(): "
                              "otherwise the answer is printed twice (or a call through a variable is doubled)"),
    "bare_to_end": Mistake("extract_program", "a bare function ends at the first line that is neither blank nor "
                           "indented: what follows (the next 'Question:') is not code"),
    "no_bare": Mistake("extract_program", "a completion without a fence may still hold a program: take a bare "
                       "def solution(): and the indented lines after it"),
    "print_call_only": Mistake("extract_program", "any call of solution() counts (answer = solution(); print(answer)), "
                               "not only the exact text print(solution())"),
    "mention_is_call": Mistake("extract_program", "a call is the text solution() on a line other than the def: a "
                               "comment that mentions 'the solution' calls nothing, so the call is still appended"),
    "unclosed_accepted": Mistake("extract_program", "a fence that is never closed holds no block: take only closed "
                                 "blocks (the completion was cut off, the code is unfinished)"),
    "tag_case": Mistake("extract_program", "compare the tag in any case (tag.strip().lower()): ```Python and ```PY are "
                        "Python blocks too"),
    "fence_anywhere": Mistake("extract_program", "a fence is a line that starts with three backticks: anchor the "
                              "pattern at line starts (^ with re.MULTILINE), so that ``` inside an indented or inline "
                              "text opens nothing"),
    "def_anywhere": Mistake("extract_program", "a bare function starts at a line that starts with def solution( "
                            "(line.startswith): an indented def inside prose is not a program"),
    "leading_stripped": Mistake("extract_program", "strip only trailing whitespace (.rstrip()): leading whitespace is "
                                "the first line's indentation, and removing it changes the program"),
    # parse_answer
    "first_line": Mistake("parse_answer", "the answer is on the last non-blank line: programs often print their "
                          "working first"),
    "no_rounding": Mistake("parse_answer", "round numbers to 6 decimals: 66.00000000000001 and 66 are the same answer, "
                           "and votes must see them as one"),
    "commas_kept": Mistake("parse_answer", "remove thousands separators before float(): '2,334' is the number 2334"),
    "nonfinite_accepted": Mistake("parse_answer", "float() reads 'nan' and 'inf': they are not answers, return None "
                                  "(math.isfinite)"),
    "none_string": Mistake("parse_answer", "a printed None (a solution() that never returned) is no answer: return "
                           "None, not the string 'None'"),
    "blank_last_line": Mistake("parse_answer", "skip blank lines: stdout often ends with an empty line, and the answer "
                               "is the last non-blank one"),
    "int_only": Mistake("parse_answer", "read numbers with float(), not int(): '42.0' and '-0.5' are numbers"),
    "rounded_to_integer": Mistake("parse_answer", "round to 6 decimals, round(value, 6), not to an integer: 59.13 "
                                  "dollars and -0.5 are answers too"),
    "two_decimals": Mistake("parse_answer", "round to 6 decimals, round(value, 6), not 2: 0.0423457 and 0.04 are "
                            "different answers"),
    "none_unstripped": Mistake("parse_answer", "strip the line before comparing it with 'None': a printed 'None ' "
                               "is still no answer"),
    "text_commas_removed": Mistake("parse_answer", "remove commas only to read a number: a line that is not a number "
                                   "is returned as it stands, stripped ('yes, 42 apples' keeps its comma)"),
    # run_program
    "status_ignored": Mistake("run_program", "check result.status before reading stdout: a program stopped for time, "
                              "memory or output may have printed a partial answer, which is not its answer"),
    "refused_as_error": Mistake("run_program", "status 'refused' means nothing may run here: raise "
                                "SandboxUnavailable, not ProgramError (which the loop would record as one wrong answer)"),
    "limits_ignored": Mistake("run_program", "pass the limits built from timeout_s, memory_mb and output_kb to the "
                              "runner: runner(program, limits)"),
    "decimal_units": Mistake("run_program", "memory_mb and output_kb are binary units: memory_mb * 2**20 bytes and "
                             "output_kb * 2**10 bytes"),
    "decimal_mb": Mistake("run_program", "memory_mb is in MiB, and a MiB is 2**20 bytes: memory_bytes = "
                          "memory_mb * 2**20, not memory_mb * 10**6"),
    "decimal_kb": Mistake("run_program", "output_kb is in KiB, and a KiB is 2**10 bytes: output_bytes = "
                          "output_kb * 2**10, not output_kb * 1000"),
    "none_returned": Mistake("run_program", "a program that printed no answer must raise ProgramError('no_answer', "
                             "...), not return None"),
    # majority_vote
    "none_counted": Mistake("majority_vote", "failed programs (None) have no vote: count only the answers that are "
                            "not None"),
    "ties_last": Mistake("majority_vote", "ties go to the answer that appears first in the list, not the last"),
    "ties_smallest": Mistake("majority_vote", "ties go to the answer that appears first, not the smallest: "
                             "Counter.most_common keeps first-seen order"),
    "first_answer": Mistake("majority_vote", "vote: return the most frequent answer, not the first one"),
    "set_order": Mistake("majority_vote", "max(set(answers), key=answers.count) breaks ties in the set's (hash) order, "
                         "not by first appearance: count with Counter, whose most_common keeps first-seen order"),
    # pal_answer
    "refused_swallowed": Mistake("pal_answer", "catch only ProgramError: SandboxUnavailable must stop the run "
                                 "(otherwise every program silently answers None)"),
    "failed_dropped": Mistake("pal_answer", "keep one answer per completion: a failed program answers None in its "
                              "place, it is not left out"),
    "first_sample_only": Mistake("pal_answer", "run every completion and vote over all of them, not only the first"),
    "nones_dropped": Mistake("pal_answer", "keep one answer per completion: a completion without a program, or whose "
                             "program fails, answers None in its place (the list lines up with the completions)"),
    "vote_is_first": Mistake("pal_answer", "return majority_vote(answers) as the answer, not the first sample's "
                             "answer"),
    "none_run": Mistake("pal_answer", "a completion without a program (extract_program returned None) answers None: "
                        "do not run None (the sandbox cannot, and raises)"),
    # accuracy_report
    "exact_equality": Mistake("accuracy_report", "compare numbers with math.isclose(p, a, rel_tol=1e-6, abs_tol=1e-6): "
                              "float noise (0.1 + 0.2) is not a wrong answer"),
    "none_answered": Mistake("accuracy_report", "a None prediction is no answer: `answered` counts predictions that "
                             "are not None"),
    "accuracy_over_answered": Mistake("accuracy_report", "accuracy divides by all problems; correct over answered is "
                                      "accuracy_answered"),
    "strings_compared": Mistake("accuracy_report", "compare numbers as numbers: str(42.0) != str(42), and a string "
                                "prediction is never correct"),
    "numbers_as_strings": Mistake("accuracy_report", "compare numbers with math.isclose, not as strings: str(42) != "
                                  "str(42.0) and str(0.1 + 0.2) != '0.3', yet both are right"),
    "rounded_compare": Mistake("accuracy_report", "compare with math.isclose(p, a, rel_tol=1e-6, abs_tol=1e-6), not "
                               "after rounding: 28.6 is not the answer 29"),
}

# Programs are shown without their blank lines and trailing whitespace: they are compared so.
PROGRAM_CASES = {
    "program_fenced": "a fenced block followed by prose",
    "program_no_call": "a block that defines solution() without calling it",
    "program_tagged": "a completion with an ```output block before the Python one",
    "program_two_blocks": "a completion with two Python blocks",
    "program_bare": "a bare def solution(): followed by the next question",
    "program_bare_call": "a bare function with its call on the next line",
    "program_bare_print": "a bare function followed by a top-level print that calls it",
    "program_unclosed": "a completion whose fence is never closed, with a bare def inside",
    "program_unclosed_plain": "a completion whose only fence is never closed",
    "program_prose": "a completion without code",
    "program_via_variable": "a block that calls solution() through a variable",
    "program_untagged": "an untagged fence",
    "program_tag_case": "a ```Python block with an import above the def",
    "program_indented_fence": "an indented fence before a real one",
    "program_indented_def": "prose with an indented def solution():",
    "program_indented_block": "a block whose code is indented",
    "program_comment": "a block with a comment that mentions the solution above an uncalled def",
}
RUN_CASES = {  # the result the recording runner returns for the program whose first line is "# <name>"
    "ok": "an ok run that printed its working, then the answer",
    "ok_float": "an ok run that printed a number with float noise",
    "timeout": "a run stopped for time after printing a number",
    "memory": "a run that ran out of memory",
    "flood": "a run stopped for its output (one number printed many times)",
    "error": "a run that crashed after printing a number",
    "silent": "an ok run that printed only a blank line",
    "none": "an ok run that printed None",
    "refused": "a run refused (no sandbox on this machine)",
}

OBSERVATIONS = {
    "prompt_two": "the prompt with two worked examples",
    "prompt_none": "the prompt with no example",
    **{key: f"the program of {what} (blank lines and trailing spaces left out)" for key, what in PROGRAM_CASES.items()},
    "answers": "the parsed answers: (kind 0 None / 1 number / 2 string / 3 inf or NaN, value, checksum of the string) per stdout",
    "same_answer": "whether pairs of outputs that print the same number parse to the same answer (1) or not (0)",
    **{f"run_{key}": f"what run_program returned or raised for {what} (the answer's kind, value and checksum; "
                     f"1 ProgramError or 2 SandboxUnavailable; the error's status)" for key, what in RUN_CASES.items()},
    "run_limits": "the limits passed to the runner: timeout, memory and output bytes, for defaults and given values",
    "votes": "the voted answers (kind, value, checksum) of several lists",
    "pal_votes": "pal_answer's vote and its answers per completion",
    "pal_refused": "whether pal_answer let SandboxUnavailable through (1) or not (0)",
    "reports": "accuracy, answered and accuracy_answered of several prediction lists",
}


TEXT_OBSERVATIONS = {"prompt_two", "prompt_none", *PROGRAM_CASES}


# --- encodings: observations have one shape whatever the learner returns -----------------------------


def _text(x: str | None) -> torch.Tensor:
    """(1 + judge.TEXT_BYTES,): a string (or None) as the judge reads it back."""
    return torch.from_numpy(encode_text(x))


def _answer(name: str, x) -> list[float]:
    """(kind, value, checksum): None is (0, 0, 0), a number (1, x, 0), a string (2, 0, crc32)."""
    if x is None:
        return [0.0, 0.0, 0.0]
    if isinstance(x, bool) or not isinstance(x, (int, float, str)):
        raise CheckFailed(f"{name} should return a float, a str or None", got=f"{type(x).__name__}: {x!r}"[:200],
                          hint="return float(...) for numbers, the stripped line for other text, None for no answer")
    if isinstance(x, str):
        return [2.0, 0.0, float(zlib.crc32(x.encode("utf-8")))]
    if not math.isfinite(x):  # kind 3: inf or NaN, encoded so that the judge can compare it
        return [3.0, 0.0 if math.isnan(x) else math.copysign(1.0, x), 0.0]
    return [1.0, float(x), 0.0]


def _shift(ctx: Context, seed: int, low: int, high: int) -> int:
    """0 for the public inputs; a number in [low, high) drawn for a secret variant."""
    return 0 if ctx.variant == 0 else int(torch.randint(low, high, (1,), generator=seeded(seed)))


def _normalise(program) -> str | None:
    """The program's non-blank lines without their trailing whitespace: blank lines and trailing spaces change
    nothing when it runs (so "\\n" or "\\n\\n" before an appended call are the same program)."""
    if program is None:
        return None
    if not isinstance(program, str):
        raise CheckFailed("extract_program should return a str or None", got=type(program).__name__,
                          hint="return the program's text, or None when the completion holds none")
    return "\n".join(line.rstrip() for line in program.splitlines() if line.strip())


# --- build_prompt ---------------------------------------------------------------------------------


def check_build_prompt(ctx: Context) -> dict:
    from grader.pal_data import load_examples

    examples = load_examples()
    order = [1, 0, 2] if ctx.variant else [0, 1, 2]
    padded = [{"question": f"  {examples[i]['question']}\n", "program": f"\n{examples[i]['program']}\n\n"}
              for i in order[:2]]
    question = f" A box holds {12 + _shift(ctx, 201, 1, 9)} eggs. How many eggs are in 7 boxes? \n"
    out = {}
    for key, shots in (("prompt_two", padded), ("prompt_none", [])):
        prompt = ctx.call("build_prompt", question, [dict(e) for e in shots])
        _expect_prompt(ctx, prompt, question)
        out[key] = _text(prompt)
    return out


def _expect_prompt(ctx: Context, prompt, question: str) -> None:
    """What can be said in words about a prompt (the byte-wise comparison follows in the judge)."""
    if not isinstance(prompt, str):
        raise CheckFailed("build_prompt should return a str", got=type(prompt).__name__)
    preamble = ctx.ns.get("PREAMBLE")
    if isinstance(preamble, str) and not prompt.startswith(preamble):
        raise CheckFailed("build_prompt: the prompt does not start with PREAMBLE", got=repr(prompt[:120]),
                          hint=MISTAKES["no_preamble"].hint, mistake="no_preamble")
    if question.strip() not in prompt:
        raise CheckFailed("build_prompt: the new question is not in the prompt", got=repr(prompt[-200:]),
                          hint=MISTAKES["no_query"].hint, mistake="no_query")
    if prompt.rstrip().endswith("```"):
        raise CheckFailed("build_prompt: the prompt ends with a code block, not with the new question",
                          got=repr(prompt[-200:]), hint=MISTAKES["query_as_example"].hint, mistake="query_as_example")
    if any(stray in prompt for stray in ("Question:  ", " \n", "```python\n\n", "\n\n\n\nprint(solution())")):
        raise CheckFailed("build_prompt: a question or program keeps the whitespace around it",
                          got=repr(prompt[-200:]), hint=MISTAKES["not_stripped"].hint, mistake="not_stripped")
    if "\n\n\n" in prompt:
        where = prompt.index("\n\n\n")
        raise CheckFailed("build_prompt: two parts of the prompt are separated by more than one blank line",
                          got=repr(prompt[max(0, where - 60):where + 60]), hint=MISTAKES["extra_separator"].hint,
                          mistake="extra_separator")


# --- extract_program --------------------------------------------------------------------------------


def check_extract_program(ctx: Context) -> dict:
    k = 7 + _shift(ctx, 211, 1, 20)
    body = f"def solution():\n    eggs = {k} * 12\n    return eggs"
    cases = {
        "program_fenced": f"Let me write it.\n```python\n{body}\n\nprint(solution())\n```\nSo the answer is printed.",
        "program_no_call": f"```python\n{body}\n```",
        "program_tagged": f"```output\n{k * 12}\n```\n```python\n{body}\n```",
        "program_two_blocks": f"```python\n{body}\n```\n\nQuestion: next\n```python\nprint({k})\n```",
        "program_bare": f"{body}\n\nA new question: a shop sells {k} pens.",
        "program_bare_call": f"{body.replace('    return', chr(10) + '    return')}\nprint(solution())\nDone.",
        "program_bare_print": f"{body}\nprint('eggs:', solution())\nQuestion: next",
        "program_unclosed": f"```python\ndef solution():\n    return ({k}",
        "program_unclosed_plain": f"Here it is:\n```python\nprint({k} * 12)\n",
        "program_prose": f"The answer is {k * 12}.",
        "program_via_variable": f"```py\n{body}\n\nanswer = solution()\nprint(answer)\n```",
        "program_untagged": f"```\nprint({k} * 12)\n```",
        "program_tag_case": f"```Python\nimport math\n\ndef solution():\n    return math.floor({k} * 12.5)\n```",
        "program_indented_fence": f"Blocks look like this:\n  ```python\n  x = 1\n  ```\n```python\nprint({k})\n```",
        "program_indented_def": f"The idea:\n    def solution():\n        return {k} * 12\nThat is all.",
        "program_indented_block": f"```python\n    def solution():\n        return {k} * 12\n```",
        "program_comment": f"```python\n# the solution follows\n{body}\n```",
    }
    assert set(cases) == set(PROGRAM_CASES)
    return {key: _text(_normalise(ctx.call("extract_program", text))) for key, text in cases.items()}


# --- parse_answer -----------------------------------------------------------------------------------


def check_parse_answer(ctx: Context) -> dict:
    k = 42 + _shift(ctx, 221, 1, 50)
    outputs = [f"{k}\n", f"{k}.0", f"step 1: 40\nstep 2: 2\n{k}\n", "2,334\n", f"{k}.00000000000001\n", "None\n",
               "", "\n\n", "nan\n", "inf", "  seventeen  \n", f"{k}\n\n\n", "-0.5", "3/4", f"total: {k}\n1,250.5",
               f"{k}\nNone\n", f"0.0{k}3456789\n", "None \n", f"yes, {k} apples\n",
               f"{k} apples, {k + 1} pears"]
    answers = [_answer("parse_answer", ctx.call("parse_answer", s)) for s in outputs]
    pairs = [(f"{k}", f"{k}.0"), (f"{k}.00000000000001", f"{k}"), ("0.30000000000000004", "0.3"),
             ("1,000", "1000"), (f"{k}\n", f"working\n{k}"), (f"{k}\n\n", f"{k}"), (f"{k}.0000004", f"{k}"),
             ("0.1234567", "0.123457"), (f"0.0{k}1", f"0.0{k}")]
    same = [float(ctx.call("parse_answer", a) == ctx.call("parse_answer", b)) for a, b in pairs]
    return {"answers": torch.tensor(answers, dtype=torch.float64), "same_answer": torch.tensor(same, dtype=torch.float64)}


# --- run_program: a recording runner stands in for the sandbox ---------------------------------------


class NotAProgram(TypeError):
    """What the recording runner raises for a program that is not a str: the sandbox's run fails on it too."""


class RecordingRunner:
    """Returns the result stored for each program (by its first line) and records the limits it was given."""

    def __init__(self, results: dict[str, ProgramResult]):
        self.results, self.calls = results, []

    def __call__(self, program, limits=None):
        self.calls.append((program, limits))
        if not isinstance(program, str):
            raise NotAProgram(f"the runner was given {type(program).__name__}, not a program (a str)")
        return self.results.get(program.split("\n", 1)[0], ProgramResult("error", message="unknown program"))


def _results(k: int) -> dict[str, ProgramResult]:
    """The result for each of RUN_CASES, by the program's first line "# <name>"."""
    results = {
        "ok": ProgramResult("ok", f"working\n{k}\n"),
        "ok_float": ProgramResult("ok", f"{k}.50000000000001\n"),
        "timeout": ProgramResult("timeout", f"{k}\n", message="stopped after 2 s"),
        "memory": ProgramResult("memory", "", "MemoryError", message="ran out of its memory"),
        "flood": ProgramResult("output_limit", f"{k}\n" * 100, message="more than 65536 bytes"),
        "error": ProgramResult("error", f"{k + 1}\n", "ZeroDivisionError", message="exited with code 1"),
        "silent": ProgramResult("ok", "\n"),
        "none": ProgramResult("ok", "None\n"),
        "refused": ProgramResult("refused", message="model-written code is not run here: no bwrap"),
    }
    assert set(results) == set(RUN_CASES)
    return {f"# {name}": result for name, result in results.items()}


STATUS_CODES = {s: float(i) for i, s in enumerate(("ok", "error", "timeout", "memory", "output_limit", "refused",
                                                    "no_answer"))}


def _outcome(ctx: Context, program: str, runner, **kwargs) -> list[float]:
    """(kind, value, checksum, exception 0/1 ProgramError/2 SandboxUnavailable, status code)."""
    try:
        answer = ctx.call("run_program", program, runner=runner, **kwargs)
    except LearnerError as exc:
        cause = exc.__cause__
        if isinstance(cause, ProgramError):
            return [0.0, 0.0, 0.0, 1.0, STATUS_CODES.get(getattr(cause, "status", None), -1.0)]
        if isinstance(cause, SandboxUnavailable):
            return [0.0, 0.0, 0.0, 2.0, -1.0]
        raise
    return [*_answer("run_program", answer), 0.0, -1.0]


def _limits(name: str, limits) -> list[float]:
    if not isinstance(limits, ProgramLimits):
        raise CheckFailed(f"{name}: the runner was not given a ProgramLimits", got=type(limits).__name__,
                          hint="call runner(program, ProgramLimits(timeout_s=..., memory_bytes=..., output_bytes=...))")
    return [float(limits.timeout_s), float(limits.memory_bytes), float(limits.output_bytes)]


def check_run_program(ctx: Context) -> dict:
    k = 42 + _shift(ctx, 231, 1, 50)
    runner = RecordingRunner(_results(k))
    outcomes = {f"run_{first[2:]}": torch.tensor(_outcome(ctx, f"{first}\nprint(1)", runner), dtype=torch.float64)
                for first in runner.results}
    runner.calls.clear()
    _outcome(ctx, "# ok\nprint(1)", runner)
    _outcome(ctx, "# ok\nprint(1)", runner, timeout_s=0.5 + _shift(ctx, 232, 1, 4), memory_mb=64, output_kb=4)
    if len(runner.calls) != 2 or any(program != "# ok\nprint(1)" for program, _ in runner.calls):
        raise CheckFailed("run_program should call the runner once with the program as given",
                          got=repr([p for p, _ in runner.calls])[:200], hint="call runner(program, limits) once")
    limits = [_limits("run_program", lim) for _, lim in runner.calls]
    return {**outcomes, "run_limits": torch.tensor(limits, dtype=torch.float64)}


# --- majority_vote ----------------------------------------------------------------------------------


def check_majority_vote(ctx: Context) -> dict:
    k = 3.0 + _shift(ctx, 241, 1, 9)
    lists = [
        [k, 5.0, k, None, 5.0, k],  # a clear majority
        [9.0, k, 9.0, k],  # a tie: the first seen (9) wins
        [k + 4, k + 1, k + 4, k + 1],  # a tie the smaller value would win
        [1.0, 8.0, 1.0, 8.0],  # a tie the smaller value wins too
        [3.0, 2.0, 5.0, 2.0, 3.0, 5.0],  # a three-way tie: first 3, last 5, smallest and first in a set's order 2
        [None, None, None, 2.0, 2.0],  # Nones are no votes
        [None, None],  # no answer at all
        [5.0, "seven", "seven"],  # strings vote too
        [k, k + 1, k + 1],  # the first answer is not the majority
        [],
    ]
    votes = [_answer("majority_vote", ctx.call("majority_vote", list(x))) for x in lists]
    return {"votes": torch.tensor(votes, dtype=torch.float64)}


# --- pal_answer --------------------------------------------------------------------------------------


def _fenced(first_line: str) -> str:
    return f"```python\n{first_line}\nprint(1)\n```"


def check_pal_answer(ctx: Context) -> dict:
    k = 42 + _shift(ctx, 251, 1, 50)
    results = _results(k)
    samples = [
        [_fenced("# error"), _fenced("# ok"), "no code here", _fenced("# ok"), _fenced("# memory")],
        [_fenced("# timeout"), _fenced("# ok_float"), _fenced("# ok_float"), _fenced("# ok")],
        ["prose only", _fenced("# silent")],
    ]
    rows = []
    for completions in samples:
        vote, answers = _call_pal(ctx, completions, RecordingRunner(results))
        width = max(len(s) for s in samples)
        padded = [_answer("pal_answer", a) for a in answers] + [[-1.0, -1.0, -1.0]] * (width - len(answers))
        rows.append(_answer("pal_answer", vote) + [float(len(answers))] + [v for a in padded[:width] for v in a])
    try:
        _call_pal(ctx, [_fenced("# ok"), _fenced("# refused"), _fenced("# ok")], RecordingRunner(results))
        refused = 0.0
    except LearnerError as exc:
        if not isinstance(exc.__cause__, SandboxUnavailable):
            raise
        refused = 1.0
    return {"pal_votes": torch.tensor(rows, dtype=torch.float64), "pal_refused": torch.tensor([refused, refused])}


def _call_pal(ctx: Context, completions, runner):
    try:
        out = ctx.call("pal_answer", list(completions), runner=runner)
    except LearnerError as exc:
        if isinstance(exc.__cause__, NotAProgram):
            raise CheckFailed("pal_answer ran a completion that holds no program", got=str(exc.__cause__),
                              hint=MISTAKES["none_run"].hint, mistake="none_run") from None
        raise
    if not (isinstance(out, tuple) and len(out) == 2 and isinstance(out[1], list)):
        raise CheckFailed("pal_answer must return a tuple (vote, answers)", got=repr(out)[:200],
                          hint="return majority_vote(answers), answers")
    if len(out[1]) > len(completions):
        raise CheckFailed("pal_answer returned more answers than completions", got=repr(out[1])[:200])
    return out


# --- accuracy_report ---------------------------------------------------------------------------------


def check_accuracy_report(ctx: Context) -> dict:
    k = 10.0 + _shift(ctx, 261, 1, 9)
    gold = [k, 0.3, 2334.0, 5.0, 7.0, 42.0]
    cases = [
        [k, 0.1 + 0.2, 2334.0, None, 8.0, 42.0],  # float noise is right, None unanswered, 8 wrong
        [k, "0.3", None, None, 7.0, "42"],  # strings are never right
        [None] * 6,
        [k + 1e-9, 0.3, 2334.000001, 5.0, 7.0, 42.0],
        [float(int(k)), 0.30000001, None, 5.0, None, 42],  # an int prediction is a number
        [k - 0.4, 0.3, 2334.4, 5.0, 7.0, 41.6],  # off by less than a half is still wrong
    ]
    # A secret variant appends a few right answers everywhere: other accuracies, the same cases.
    extra = [float(n) for n in range(100, 100 + _shift(ctx, 262, 1, 4))]
    gold += extra
    rows = []
    for predictions in cases:
        report = ctx.call("accuracy_report", list(predictions) + extra, list(gold))
        if not isinstance(report, dict) or not {"accuracy", "answered", "accuracy_answered"} <= set(report):
            raise CheckFailed("accuracy_report must return a dict with accuracy, answered and accuracy_answered",
                              got=repr(report)[:200])
        values = [report[key] for key in ("accuracy", "answered", "accuracy_answered")]
        if not all(isinstance(v, float) for v in values):
            raise CheckFailed("accuracy_report's values should be Python floats", got=repr(values)[:200],
                              hint="divide with / (a float), not a tensor or numpy value")
        rows.append(values)
    return {"reports": torch.tensor(rows, dtype=torch.float64)}


CHECKS = (
    Check("build_prompt", ("build_prompt",), check_build_prompt,
          "preamble, stripped worked programs in order, the new question formatted with QUERY", points=1, timeout_s=10),
    Check("extract_program", ("extract_program",), check_extract_program, "the first closed Python fence, tags, a "
          "bare def solution():, the call appended only when missing, None without code", points=2, timeout_s=10),
    Check("parse_answer", ("parse_answer",), check_parse_answer, "the last non-blank line; commas, float noise, None, "
          "nan and inf, words", points=2, timeout_s=10,
          generic_hint="compare each printed output's answer with the exercise's rules: the last non-blank line, "
          "stripped; no line or None: None; commas removed only to read a number; a finite float rounded to 6 "
          "decimals; nan and inf: None; any other line as it stands"),
    Check("run_program", ("run_program",), check_run_program, "limits in binary units passed to the runner; every "
          "status mapped to an answer, ProgramError or SandboxUnavailable", points=2, timeout_s=10,
          calls=("parse_answer",),
          generic_hint="compare with the exercise's rules: the runner gets ProgramLimits(timeout_s=timeout_s, "
          "memory_bytes=memory_mb * 2**20, output_bytes=output_kb * 2**10); refused raises SandboxUnavailable; any "
          "other status but ok raises ProgramError(result.status, result.message) without reading stdout; ok "
          "returns parse_answer(stdout), or raises ProgramError('no_answer', ...) when that is None"),
    Check("majority_vote", ("majority_vote",), check_majority_vote, "the most frequent answer, Nones without a "
          "vote, ties to the earliest, no answer at all", points=1, timeout_s=10,
          generic_hint="compare with the exercise's rules: count the answers that are not None, the most frequent "
          "wins, a tie goes to the one that appears first, and no answer at all is None"),
    Check("pal_answer", ("pal_answer",), check_pal_answer, "one answer per completion, failures as None, the vote; "
          "a refused sandbox stops the run", points=1, timeout_s=10,
          calls=("extract_program", "run_program", "majority_vote"),
          generic_hint="compare with the exercise's rules: one answer per completion, in order (None for no program "
          "or a ProgramError), the runner passed on to run_program, and the vote is majority_vote over all answers"),
    Check("accuracy_report", ("accuracy_report",), check_accuracy_report, "isclose on numbers, strings never right, "
          "answered, accuracy over all and over answered", points=1, timeout_s=10,
          generic_hint="compare with the exercise's rules: a prediction is right only when it is a number (int or "
          "float, not a str, bool or None) with math.isclose(p, a, rel_tol=1e-6, abs_tol=1e-6); answered counts "
          "predictions that are not None; accuracy divides by all problems, accuracy_answered by the answered ones"),
)
