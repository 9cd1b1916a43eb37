"""Realistic wrong implementations for the PAL exercise, keyed by catalogue id: each is the reference with one
slip, standing in for the learner function its catalogue entry names."""

import math
import re
from collections import Counter

from grader.engine.programs import ProgramError, ProgramLimits
from grader.engine.sandbox import SandboxUnavailable
from tests.reference import solution

REF = solution("pal")
PREAMBLE, EXAMPLE, QUERY = REF["PREAMBLE"], REF["EXAMPLE"], REF["QUERY"]
extract_program, run_program, majority_vote = REF["extract_program"], REF["run_program"], REF["majority_vote"]
parse_answer = REF["parse_answer"]


# --- build_prompt ----------------------------------------------------------------------------

def _shots(examples, strip=True):
    s = (lambda t: t.strip()) if strip else (lambda t: t)
    return "".join(EXAMPLE.format(question=s(e["question"]), program=s(e["program"])) for e in examples)


def no_query(question, examples):
    return PREAMBLE + _shots(examples)


def query_as_example(question, examples):
    return PREAMBLE + _shots(examples) + EXAMPLE.format(question=question.strip(), program="")


def no_preamble(question, examples):
    return _shots(examples) + QUERY.format(question=question.strip())


def not_stripped(question, examples):
    return PREAMBLE + _shots(examples, strip=False) + QUERY.format(question=question)


def extra_separator(question, examples):
    shots = [EXAMPLE.format(question=e["question"].strip(), program=e["program"].strip()) for e in examples]
    return "\n".join([PREAMBLE, *shots, QUERY.format(question=question.strip())])


# --- extract_program -------------------------------------------------------------------------

PY_TAGS = ("", "python", "py", "python3")


def _bare(completion, to_end=False, anywhere=False):
    lines = completion.splitlines()
    starts = (lambda line: "def solution(" in line) if anywhere else (lambda line: line.startswith("def solution("))
    start = next((i for i, line in enumerate(lines) if starts(line)), None)
    if start is None:
        return None
    end = start + 1
    while end < len(lines) and (to_end or not lines[end].strip() or lines[end][0] in " \t"):
        end += 1
    return "\n".join(lines[start:end])


def _with_call(program, mode="missing", strip=str.rstrip):
    if program is None:
        return None
    program = strip(program)
    defines = re.search(r"^def solution\(", program, flags=re.MULTILINE)
    if mode == "never" or not defines:
        return program
    if mode == "always":
        return program + "\n\nprint(solution())"
    if mode == "print_only":
        called = "print(solution())" in program
    elif mode == "mention":
        called = any("solution" in line for line in program.splitlines() if not line.startswith("def solution("))
    else:
        called = any("solution()" in line for line in program.splitlines() if not line.startswith("def solution("))
    return program if called else program + "\n\nprint(solution())"


def _extract(completion, pattern=r"^```([^\n`]*)\n(.*?)^```", pick=0, check_tag=True, bare=True, to_end=False,
             mode="missing", any_case=True, flags=re.DOTALL | re.MULTILINE, def_anywhere=False, strip=str.rstrip):
    tags = (lambda tag: tag.strip().lower()) if any_case else str.strip
    blocks = [code for tag, code in re.findall(pattern, completion, flags=flags)
              if not check_tag or tags(tag) in PY_TAGS]
    program = blocks[pick] if blocks else (_bare(completion, to_end, def_anywhere) if bare else None)
    return _with_call(program, mode, strip)


def greedy_fence(completion):
    return _extract(completion, pattern=r"^```([^\n`]*)\n(.*)^```")


def last_block(completion):
    return _extract(completion, pick=-1)


def tag_ignored(completion):
    return _extract(completion, check_tag=False)


def never_appends(completion):
    return _extract(completion, mode="never")


def always_appends(completion):
    return _extract(completion, mode="always")


def bare_to_end(completion):
    return _extract(completion, to_end=True)


def no_bare(completion):
    return _extract(completion, bare=False)


def print_call_only(completion):
    return _extract(completion, mode="print_only")


def mention_is_call(completion):
    return _extract(completion, mode="mention")


def unclosed_accepted(completion):
    return _extract(completion, pattern=r"^```([^\n`]*)\n(.*?)(?:^```|\Z)")


def tag_case(completion):
    return _extract(completion, any_case=False)


def fence_anywhere(completion):
    return _extract(completion, pattern=r"```([^\n`]*)\n(.*?)```", flags=re.DOTALL)


def def_anywhere(completion):
    return _extract(completion, def_anywhere=True)


def leading_stripped(completion):
    return _extract(completion, strip=str.strip)


# --- parse_answer ----------------------------------------------------------------------------

def _parse(stdout, last=True, rounding=True, commas=True, finite=True, none=True, skip_blank=True, number=float,
           digits=6, strip_first=True, text_commas=True):
    raw = [line for line in stdout.splitlines() if line.strip() or not skip_blank]
    if not raw:
        return None
    text = raw[-1 if last else 0]
    if not text.strip() or (none and (text.strip() if strip_first else text) == "None"):
        return None
    text = text.strip()
    try:
        value = number(text.replace(",", "") if commas else text)
    except ValueError:
        return text if text_commas else text.replace(",", "")
    if finite and not math.isfinite(value):
        return None
    return float(round(value, digits) if rounding else value)


def first_line(stdout):
    return _parse(stdout, last=False)


def no_rounding(stdout):
    return _parse(stdout, rounding=False)


def commas_kept(stdout):
    return _parse(stdout, commas=False)


def nonfinite_accepted(stdout):
    return _parse(stdout, finite=False)


def none_string(stdout):
    return _parse(stdout, none=False)


def blank_last_line(stdout):
    return _parse(stdout, skip_blank=False)


def int_only(stdout):
    return _parse(stdout, number=int)


def rounded_to_integer(stdout):
    return _parse(stdout, digits=None)


def two_decimals(stdout):
    return _parse(stdout, digits=2)


def none_unstripped(stdout):
    return _parse(stdout, strip_first=False)


def text_commas_removed(stdout):
    return _parse(stdout, text_commas=False)


# --- run_program -----------------------------------------------------------------------------

def _run(program, timeout_s=2.0, memory_mb=256, output_kb=64, runner=None, check_status=True, refused=True,
         pass_limits=True, mb=2**20, kb=2**10, none_raises=True):
    limits = ProgramLimits(timeout_s=timeout_s, memory_bytes=memory_mb * mb, output_bytes=output_kb * kb)
    result = runner(program, limits) if pass_limits else runner(program, ProgramLimits())
    if result.status == "refused":
        raise SandboxUnavailable(result.message) if refused else ProgramError(result.status, result.message)
    if check_status and result.status != "ok":
        raise ProgramError(result.status, result.message)
    answer = parse_answer(result.stdout)
    if answer is None and none_raises:
        raise ProgramError("no_answer", "the program printed no answer")
    return answer


def status_ignored(program, timeout_s=2.0, memory_mb=256, output_kb=64, runner=None):
    return _run(program, timeout_s, memory_mb, output_kb, runner, check_status=False)


def refused_as_error(program, timeout_s=2.0, memory_mb=256, output_kb=64, runner=None):
    return _run(program, timeout_s, memory_mb, output_kb, runner, refused=False)


def limits_ignored(program, timeout_s=2.0, memory_mb=256, output_kb=64, runner=None):
    return _run(program, timeout_s, memory_mb, output_kb, runner, pass_limits=False)


def decimal_units(program, timeout_s=2.0, memory_mb=256, output_kb=64, runner=None):
    return _run(program, timeout_s, memory_mb, output_kb, runner, mb=1000**2, kb=1000)


def decimal_mb(program, timeout_s=2.0, memory_mb=256, output_kb=64, runner=None):
    return _run(program, timeout_s, memory_mb, output_kb, runner, mb=10**6)


def decimal_kb(program, timeout_s=2.0, memory_mb=256, output_kb=64, runner=None):
    return _run(program, timeout_s, memory_mb, output_kb, runner, kb=1000)


def none_returned(program, timeout_s=2.0, memory_mb=256, output_kb=64, runner=None):
    return _run(program, timeout_s, memory_mb, output_kb, runner, none_raises=False)


# --- majority_vote ---------------------------------------------------------------------------

def none_counted(answers):
    return Counter(answers).most_common(1)[0][0] if answers else None


def ties_last(answers):
    counts = Counter(a for a in reversed(answers) if a is not None)
    return counts.most_common(1)[0][0] if counts else None


def ties_smallest(answers):
    counts = Counter(a for a in answers if a is not None)
    if not counts:
        return None
    top = max(counts.values())
    return min((a for a, n in counts.items() if n == top), key=lambda a: (isinstance(a, str), a))


def first_answer(answers):
    return next((a for a in answers if a is not None), None)


def set_order(answers):
    votes = [a for a in answers if a is not None]
    return max(set(votes), key=votes.count) if votes else None


# --- pal_answer ------------------------------------------------------------------------------

def _pal(completions, runner=None, catch=ProgramError, keep_failed=True, first_only=False, keep_none=True,
         vote=majority_vote, run_none=False):
    answers = []
    for completion in completions[:1] if first_only else completions:
        program = extract_program(completion)
        try:
            answers.append(None if program is None and not run_none else run_program(program, runner=runner))
        except catch:
            if keep_failed:
                answers.append(None)
    if not keep_none:
        answers = [a for a in answers if a is not None]
    return vote(answers), answers


def refused_swallowed(completions, runner=None):
    return _pal(completions, runner, catch=Exception)


def failed_dropped(completions, runner=None):
    return _pal(completions, runner, keep_failed=False)


def first_sample_only(completions, runner=None):
    return _pal(completions, runner, first_only=True)


def nones_dropped(completions, runner=None):
    return _pal(completions, runner, keep_none=False)


def vote_is_first(completions, runner=None):
    return _pal(completions, runner, vote=lambda answers: answers[0])


def none_run(completions, runner=None):
    return _pal(completions, runner, run_none=True)


# --- accuracy_report -------------------------------------------------------------------------

def _report(predictions, answers, same=None, answered_if=lambda p: p is not None, over_answered=False):
    same = same or (lambda p, a: isinstance(p, (int, float)) and not isinstance(p, bool)
                    and math.isclose(p, a, rel_tol=1e-6, abs_tol=1e-6))
    correct = sum(same(p, a) for p, a in zip(predictions, answers))
    n, m = len(predictions), sum(answered_if(p) for p in predictions)
    accuracy = correct / m if over_answered and m else (0.0 if over_answered else correct / n)
    return {"accuracy": accuracy, "answered": m / n, "accuracy_answered": correct / m if m else 0.0}


def exact_equality(predictions, answers):
    return _report(predictions, answers, same=lambda p, a: p == a)


def none_answered(predictions, answers):
    return _report(predictions, answers, answered_if=lambda p: True)


def accuracy_over_answered(predictions, answers):
    return _report(predictions, answers, over_answered=True)


def strings_compared(predictions, answers):
    return _report(predictions, answers, same=lambda p, a: str(p) == str(a))


def _number(p):
    return isinstance(p, (int, float)) and not isinstance(p, bool)


def numbers_as_strings(predictions, answers):
    return _report(predictions, answers, same=lambda p, a: _number(p) and str(p) == str(a))


def rounded_compare(predictions, answers):
    return _report(predictions, answers, same=lambda p, a: _number(p) and round(p) == round(a))
