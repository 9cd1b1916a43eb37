"""Alternative correct PAL implementations: a line-by-line fence scanner instead of a regex, the ast module to
find a call of solution(), a regex with strict closing fences and the call appended without a blank line, explicit
nan and inf tests, a dict vote with an explicit first-seen order, a report built from counts."""

import ast
import math
import re

from grader.engine.programs import ProgramError, ProgramLimits, run
from grader.engine.sandbox import SandboxUnavailable
from tests.reference import solution

REF = solution("pal")


def build_prompt_join(question, examples):
    parts = [REF["PREAMBLE"]]
    parts += [REF["EXAMPLE"].format(question=e["question"].strip(), program=e["program"].strip()) for e in examples]
    parts.append(REF["QUERY"].format(question=question.strip()))
    return "".join(parts)


def _calls_solution(program):
    """Any line but the def line that calls solution(); a program that does not parse is judged by its text."""
    try:
        tree = ast.parse(program)
    except SyntaxError:
        return any("solution()" in line for line in program.splitlines() if not line.startswith("def solution("))
    return any(isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id == "solution" and not n.args
               for n in ast.walk(tree))


def extract_program_scanner(completion):
    lines, program, i = completion.splitlines(), None, 0
    while i < len(lines) and program is None:
        if lines[i].startswith("```"):
            tag, j = lines[i][3:], i + 1
            while j < len(lines) and not lines[j].startswith("```"):
                j += 1
            if j == len(lines):
                break  # never closed: no block from here on
            if "`" not in tag and tag.strip().lower() in ("", "python", "py", "python3"):
                program = "\n".join(lines[i + 1:j])
            i = j + 1
        else:
            i += 1
    if program is None:
        starts = [i for i, line in enumerate(lines) if line.startswith("def solution(")]
        if not starts:
            return None
        body = [lines[starts[0]]]
        for line in lines[starts[0] + 1:]:
            if line.strip() and not line.startswith((" ", "\t")):
                break
            body.append(line)
        program = "\n".join(body)
    program = program.rstrip()
    if any(line.startswith("def solution(") for line in program.splitlines()) and not _calls_solution(program):
        program = program + "\n\nprint(solution())"
    return program


def extract_program_call_directly(completion):
    """A closing fence must be exactly three backticks, and the call follows the program without a blank line."""
    fence = re.compile(r"^```[ \t]*([A-Za-z0-9_+-]*)[ \t]*\n(.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)
    program = next((m[2] for m in fence.finditer(completion) if m[1].lower() in ("", "python", "py", "python3")),
                   None)
    if program is None:
        bare = re.search(r"^def solution\(.*(?:\n(?:[ \t].*|[ \t]*))*", completion, re.MULTILINE)
        if bare is None:
            return None
        program = bare[0]
    lines = program.rstrip().splitlines()
    if any(line.startswith("def solution(") for line in lines) and not any(
            "solution()" in line for line in lines if not line.startswith("def solution(")):
        lines.append("print(solution())")
    return "\n".join(lines)


def parse_answer_decimal(stdout):
    lines = [line.strip() for line in stdout.splitlines()]
    lines = [line for line in lines if line]
    if not lines or lines[-1] == "None":
        return None
    try:
        value = float(lines[-1].replace(",", ""))
    except ValueError:
        return lines[-1]
    if math.isnan(value) or math.isinf(value):
        return None
    return round(value, 6)


def run_program_explicit(program, timeout_s=2.0, memory_mb=256, output_kb=64, runner=None):
    limits = ProgramLimits(timeout_s=timeout_s, memory_bytes=memory_mb << 20, output_bytes=output_kb << 10)
    result = (runner if runner is not None else run)(program, limits)
    if result.ok:
        answer = REF["parse_answer"](result.stdout)
        if answer is not None:
            return answer
        raise ProgramError("no_answer", "nothing printed")
    if result.status == "refused":
        raise SandboxUnavailable(result.message)
    raise ProgramError(result.status, result.message)


def majority_vote_dict(answers):
    counts, first = {}, {}
    for i, a in enumerate(answers):
        if a is not None:
            counts[a] = counts.get(a, 0) + 1
            first.setdefault(a, i)
    if not counts:
        return None
    return min(counts, key=lambda a: (-counts[a], first[a]))


def pal_answer_comprehension(completions, runner=None):
    def one(completion):
        program = REF["extract_program"](completion)
        if program is None:
            return None
        try:
            return REF["run_program"](program, runner=runner)
        except ProgramError:
            return None

    answers = [one(c) for c in completions]
    return REF["majority_vote"](answers), answers


def accuracy_report_counts(predictions, answers):
    n = len(predictions)
    answered = sum(1 for p in predictions if p is not None)
    correct = 0
    for p, a in zip(predictions, answers):
        if type(p) in (int, float) and abs(p - a) <= max(1e-6 * max(abs(p), abs(a)), 1e-6):
            correct += 1
    return {"accuracy": correct / n, "answered": answered / n,
            "accuracy_answered": correct / answered if answered else 0.0}


ALTERNATIVES = {
    "build_prompt": [build_prompt_join],
    "extract_program": [extract_program_scanner, extract_program_call_directly],
    "parse_answer": [parse_answer_decimal],
    "run_program": [run_program_explicit],
    "majority_vote": [majority_vote_dict],
    "pal_answer": [pal_answer_comprehension],
    "accuracy_report": [accuracy_report_counts],
}
