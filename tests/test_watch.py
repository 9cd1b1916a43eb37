"""`rlhf-course check --watch` through a pseudo-terminal, as a learner sees it: the header, then each check's
line as it finishes while a progress line names the check still running, colour; a save is graded again
by the same warm grader (a syntax error said once); Ctrl-C ends it cleanly."""

import os
import re
import sys
from pathlib import Path

import pytest

from grader.watch import signature, wait_for_change

pexpect = pytest.importorskip("pexpect")

ROOT = Path(__file__).resolve().parent.parent
SOLUTION = (ROOT / "solutions" / "dpo.py").read_text()
RESULT = r"(?:\x1b\[32m)?PASS\S*\s+(?:\x1b\[0m)?{}\s"  # a check's result line (its mark painted green)


def held_until(signal: Path) -> str:
    """The reference, with dpo_step (the last check) waiting until `signal` exists: it stays running until the
    test says so. Needs the unsandboxed executor, the only way the file is visible to learner code."""
    start = SOLUTION.index("def dpo_step(")
    begin = SOLUTION.index("    ### BEGIN SOLUTION", start)
    wait = f"    import os, time\n    while not os.path.exists({str(signal)!r}):\n        time.sleep(0.02)\n"
    return SOLUTION[:begin] + wait + SOLUTION[begin:]


def test_watch_streams_results_and_grades_again_on_save(tmp_path):
    signal, file = tmp_path / "go", tmp_path / "dpo.py"
    file.write_text(held_until(signal))
    env = {**os.environ, "RLHF_COURSE_NO_SANDBOX": "1", "TERM": "xterm", "RLHF_COURSE_PROGRESS": str(tmp_path / "p")}
    env.pop("NO_COLOR", None)
    child = pexpect.spawn(sys.executable, ["-m", "grader.cli", "check", "dpo", "--file", str(file), "--watch"],
                          cwd=str(ROOT), env=env, encoding="utf-8", timeout=120, dimensions=(50, 220))
    try:
        child.expect("Grading on cpu")
        child.expect(RESULT.format("sequence_logps"))
        assert "\x1b[32mPASS" in child.after  # colour on a terminal
        child.expect(r"running dpo\.dpo_step \(")  # the progress line while the last check runs
        seen = child.before + child.after
        assert re.search(RESULT.format("dpo_loss_variants"), seen) and not re.search(RESULT.format("dpo_step"), seen)
        signal.touch()  # now dpo_step can finish
        child.expect(RESULT.format("dpo_step"))
        child.expect("Watching")

        file.write_text("def sequence_logps(:\n")  # saved with a syntax error
        child.expect("changed: checking again")
        child.expect("Watching")
        report = child.before
        assert report.count("syntax error") == 1 and report.count("the same as above") == 3, report

        file.write_text(SOLUTION)  # fixed
        child.expect("changed: checking again")
        child.expect(r"4/4")
        child.expect("Watching")

        child.sendintr()  # Ctrl-C
        child.expect("Stopped watching")
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)
    assert child.exitstatus == 0 and "Traceback" not in (child.before or "")


def test_a_save_is_seen_once_it_settles_and_a_missing_file_is_waited_for(tmp_path):
    file, other = tmp_path / "a.py", tmp_path / "b.py"
    file.write_text("1")
    other.write_text("2")
    last = {str(file): signature(str(file)), str(other): signature(str(other))}
    steps = iter([lambda: file.unlink(), lambda: None, lambda: file.write_text("1 + 1"), lambda: None])

    def sleep(_):  # each poll of the watcher advances the scenario by one step
        next(steps, lambda: None)()

    assert wait_for_change(last, sleep=sleep, poll_s=0) == [str(file)]
    assert last[str(file)] == signature(str(file)) and last[str(other)] == signature(str(other))
