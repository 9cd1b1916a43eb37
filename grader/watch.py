"""``rlhf-course check dpo --watch``: grade again every time the learner saves, through one warm executor.

The executor (torch, transformers, the tiny models) starts once; each re-check forks a fresh learner
process from it, so it costs the checks' own time, not torch's import. Files are polled (their
modification time and size, a few times a second): no file-watching dependency, and it works the same
on every system and on network drives. A save is graded once it has settled (editors write in steps;
some replace the file, which is briefly missing). Ctrl-C stops, quietly.
"""

from __future__ import annotations

import os
import sys
import time
from typing import Callable

from grader import display
from grader.grading import Printer, Session, StartFailed, header, remember, sandbox_notice
from grader.terminal import Terminal

POLL_S = 0.25
SETTLE_S = 0.1


def signature(path: str) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_mtime_ns, st.st_size


def wait_for_change(last: dict[str, tuple | None], sleep: Callable[[float], None] = time.sleep,
                    poll_s: float = POLL_S) -> list[str]:
    """Block until a file in ``last`` (path -> its signature when last graded) is saved; update ``last`` and
    return the files that changed. A missing file is waited for: it counts when it is back, changed."""
    while True:
        sleep(poll_s)
        now = {f: signature(f) for f in last}
        changed = [f for f in last if now[f] is not None and now[f] != last[f]]
        if not changed:
            continue
        sleep(SETTLE_S)
        if {f: signature(f) for f in changed} == {f: now[f] for f in changed}:
            last.update({f: now[f] for f in changed})
            return changed


def _names(files: list[str]) -> str:
    return ", ".join(_short(f) for f in files)


def _short(file: str) -> str:
    try:
        rel = os.path.relpath(file)
    except ValueError:  # another drive (Windows)
        return file
    return file if rel.startswith("..") else rel


def watch(jobs: list[tuple[str, str]], device: str | None, timeout_scale: float, prog: str) -> int:
    out = Terminal(sys.stdout)
    last = {file: signature(file) for _, file in jobs}  # before the first grading: a save during it counts

    def run(todo: list[tuple[str, str]]) -> None:
        start = time.perf_counter()
        graded = session.grade(todo, timeout_scale, Printer(out, todo))
        summary = display.summarise(graded.results, todo)
        out.line()
        for line in display.table_lines(summary, out.paint):
            out.line(line)
        remember(graded, todo, device)
        out.line(out.paint(f"checked in {time.perf_counter() - start:.2f} s", "dim"))

    with Session(device, out) as session:
        try:
            try:
                session.start()
            except StartFailed as exc:
                print(f"{prog}: the grader could not start: {exc}", file=sys.stderr)
                return 1
            sandbox_notice(session.executor)
            out.line(header(session.executor))
            todo = jobs
            while True:
                try:
                    run(todo)
                except StartFailed as exc:  # the executor was lost and did not come back: try again on the next save
                    out.line(out.paint(f"the grader stopped ({exc}); it starts again on your next save", "error"))
                out.line(out.paint(f"\nWatching {_names(list(last))}: save to check again, Ctrl-C to stop.", "dim"))
                changed = wait_for_change(last)
                out.line(out.paint(f"\n--- {time.strftime('%H:%M:%S')}  {_names(changed)} changed: checking again ---",
                                   "bold"))
                todo = [(e, f) for e, f in jobs if f in changed]
        except KeyboardInterrupt:
            out.line("\nStopped watching.")
            return 0

