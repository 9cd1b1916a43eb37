"""How grading results read in a terminal: one line per check (with expected / got / hint under a failure),
an exercise heading, the progress table. Pure formatting: ``paint`` is ``Terminal.paint`` or plain text."""

from __future__ import annotations

from typing import Callable

from grader import exercises as registry

Paint = Callable[[str, str], str]

MARK = {"pass": "PASS", "fail": "FAIL", "not_implemented": "TODO", "missing": "MISSING",
        "error": "ERROR", "timeout": "TIMEOUT"}
STYLE = {"pass": "pass", "fail": "fail", "not_implemented": "todo", "missing": "fail", "error": "error",
         "timeout": "error"}
DETAILED = ("fail", "error", "timeout", "missing")  # statuses shown with their expected / got / hint lines
NAME_WIDTH, MARK_WIDTH = 22, 8
INDENT = " " * (2 + MARK_WIDTH + NAME_WIDTH)


def plain(text: str, style: str) -> str:
    return text


def heading(exercise: str, file: str, paint: Paint = plain) -> str:
    return f"\n{paint(exercise, 'bold')}: {registry.get(exercise).title}  ({file})"


def same_failure(a: dict, b: dict | None) -> bool:
    """Two outcomes that would print the same lines (a file that does not load fails every check alike)."""
    keys = ("status", "message", "expected", "got", "hint")
    return b is not None and a["status"] in DETAILED and all(a.get(k) == b.get(k) for k in keys)


def check_lines(c: dict, previous: dict | None = None, paint: Paint = plain) -> list[str]:
    """A check's line, and under a failure its expected / got / hint; a failure identical to the one just
    above (``previous``) is not repeated."""
    mark = paint(f"{MARK.get(c['status'], c['status'].upper()):<{MARK_WIDTH}}", STYLE.get(c["status"], "error"))
    name = f"{c['check']:<{NAME_WIDTH}}"
    if same_failure(c, previous):
        return [f"  {mark}{name}{paint('the same as above', 'dim')}"]
    text = "passed" if c["status"] == "pass" else str(c.get("message", ""))
    seconds = c.get("seconds") or 0
    if seconds >= 1:
        text += paint(f"  ({seconds:.1f} s)", "dim")
    lines = [f"  {mark}{name}" + text.replace("\n", "\n" + INDENT)]
    if c["status"] in DETAILED:
        for label in ("expected", "got", "hint"):
            if c.get(label):
                value = str(c[label]).replace("\n", "\n" + " " * 20)
                tag = f"{label}:"
                lines.append(" " * 10 + paint(f"{tag:<10}", "dim") + value)
    return lines


def summarise(results: list[dict], jobs: list[tuple[str, str]]) -> list[dict]:
    """Per exercise: its checks' outcomes, how many passed, the points."""
    out = []
    for exercise, file in jobs:
        mine = [r for r in results if r["exercise"] == exercise]
        out.append({
            "id": exercise, "title": registry.get(exercise).title, "file": file,
            "passed": sum(r["status"] == "pass" for r in mine), "total": len(mine),
            "points": sum(r.get("points", 0) for r in mine),
            "max_points": sum(r.get("max_points", 1) for r in mine),
            "checks": mine,
        })
    return out


def status_word(ex: dict) -> str:
    statuses = {c["status"] for c in ex["checks"]}
    if ex["total"] and ex["passed"] == ex["total"]:
        return "done"
    if statuses <= {"not_implemented", "missing"}:
        return "not started"
    return "in progress"


def table_lines(summary: list[dict], paint: Paint = plain) -> list[str]:
    width = max(len("exercise"), *(len(e["id"]) for e in summary)) + 2
    lines = [f"  {'exercise':<{width}}{'checks passed':<16}status"]
    style = {"done": "pass", "in progress": "todo", "not started": "dim"}
    for e in summary:
        word = status_word(e)
        lines.append(f"  {e['id']:<{width}}{str(e['passed']) + '/' + str(e['total']):<16}{paint(word, style[word])}")
    return lines
