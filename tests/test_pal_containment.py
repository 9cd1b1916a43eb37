"""The course's runner for model-written programs (grader.engine.programs) contains them.

Each hostile program (an endless loop, an 8 GB allocation, a 100 MB print, a fork bomb, a socket, reading
../solutions or $HOME, writing outside its scratch folder, a process that outlives it) ends with a clear status,
the caller goes on, and nothing outside is touched: a canary in a temporary $HOME and the repository's files are
unchanged, no process survives. The same runner works when the caller is itself in the course's sandbox (a
learner function called by the grader), nested or, where bwrap cannot nest, as a limited child process. Where no
sandbox can run, the runner refuses. Limits are small so that each case ends in about a second.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from grader.engine import programs, sandbox
from grader.engine.programs import ProgramLimits, run

ROOT = Path(__file__).resolve().parent.parent
OK, HOW = programs.available()
needs_sandbox = pytest.mark.skipif(not OK, reason=f"model-written programs cannot run here: {HOW}")
LIMITS = ProgramLimits(timeout_s=1.0, memory_bytes=256 << 20, output_bytes=64 << 10)
MARK = f"pal-containment-{uuid.uuid4().hex[:8]}"  # names what the hostile programs leave behind, if anything

HOSTILE = {  # name: (program, the statuses that contain it)
    "loop_forever": ("while True:\n    pass", {"timeout"}),
    "allocate_8gb": ("block = bytearray(8 << 30)\nprint(len(block))", {"memory"}),
    "print_100mb": ("import sys\nfor _ in range(1000):\n    sys.stdout.write('x' * 100_000)", {"output_limit"}),
    "flood_stderr": ("import sys\nwhile True:\n    sys.stderr.write('y' * 100_000)", {"output_limit"}),
    "fork_bomb": ("import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass",
                  {"timeout", "error"}),
    "open_socket": ("import socket\nsocket.create_connection(('1.1.1.1', 53), timeout=0.5)\nprint('connected')",
                    {"error"}),
    "read_solutions": (f"print(open({str(ROOT / 'solutions' / 'pal.py')!r}).read()[:80])", {"error"}),
    "read_solutions_relative": ("print(open('../solutions/pal.py').read()[:80])", {"error"}),
    "write_outside": (f"open({str(ROOT / MARK)!r}, 'w').write('x')", {"error"}),
    "huge_file": ("open('/tmp/big', 'wb').write(b'x' * (4 << 20))", {"error"}),
}


def canary_home(tmp_path: Path) -> Path:
    home = tmp_path / "home"
    home.mkdir()
    (home / "canary.txt").write_text("secret")
    return home


def survivors() -> list[str]:
    """Processes whose command line carries MARK (a program that outlived its run would)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit() and int(entry) != os.getpid():
            try:
                cmd = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if MARK in cmd:
                found.append(f"{entry}: {cmd}")
    return found


@needs_sandbox
@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_a_hostile_program_ends_with_a_clear_status(name):
    program, statuses = HOSTILE[name]
    result = run(program, LIMITS)
    assert result.status in statuses, (result.status, result.message, result.stderr[-300:])
    assert result.message and "\n" not in result.message
    assert "connected" not in result.stdout and "BEGIN SOLUTION" not in result.stdout
    assert len(result.stdout) <= LIMITS.output_bytes and len(result.stderr) <= programs.STDERR_TAIL
    assert not (ROOT / MARK).exists()
    assert run("print(6 * 7)", LIMITS).stdout == "42\n"  # the caller goes on


@needs_sandbox
def test_home_is_not_visible_and_nothing_outside_is_touched(tmp_path, monkeypatch):
    home = canary_home(tmp_path)
    monkeypatch.setenv("HOME", str(home))
    before = {p: p.stat().st_mtime_ns for p in (ROOT / "solutions").iterdir()}
    for program in ("import os\nprint(open(os.path.expanduser('~/canary.txt')).read())",
                    f"print(open({str(home / 'canary.txt')!r}).read())",
                    f"open({str(home / 'canary.txt')!r}, 'w').write('overwritten')",
                    f"import os\nos.remove({str(ROOT / 'solutions' / 'pal.py')!r})"):
        result = run(program, LIMITS)
        assert result.status == "error" and "secret" not in result.stdout, (program, result)
    assert (home / "canary.txt").read_text() == "secret"
    assert {p: p.stat().st_mtime_ns for p in (ROOT / "solutions").iterdir()} == before
    # The program's own scratch folder is writable, and empty at the next run.
    assert run("open('/tmp/note', 'w').write('hi')\nprint(open('/tmp/note').read())", LIMITS).stdout == "hi\n"
    assert run("import os\nprint(os.path.exists('/tmp/note'))", LIMITS).stdout == "False\n"


@needs_sandbox
def test_a_process_that_outlives_the_program_is_killed():
    program = ("import subprocess, sys\n"
               f"subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(30)', '{MARK}'], start_new_session=True)\n"
               f"subprocess.Popen(['/bin/sh', '-c', 'sleep 30; : {MARK}'])\n"
               "print('spawned')")
    result = run(program, LIMITS)
    assert result.status == "ok" and result.stdout == "spawned\n"
    assert survivors() == []


@needs_sandbox
def test_a_program_that_never_sets_its_answer_prints_none():
    result = run("def solution():\n    answer = 6 * 7\n\nprint(solution())", LIMITS)
    assert (result.status, result.stdout) == ("ok", "None\n")


def test_no_sandbox_means_refused(monkeypatch):
    monkeypatch.setenv(sandbox.DISABLE_ENV, "1")
    programs.containment.cache_clear()
    try:
        result = run("print('ran')", LIMITS)
    finally:
        monkeypatch.delenv(sandbox.DISABLE_ENV)
        programs.containment.cache_clear()
    assert result.status == "refused" and "never run unsandboxed" in result.message and result.stdout == ""


# --- inside the course's sandbox, as the grader runs a learner's function ------------------------------

INNER = r"""
import json, os, sys
if os.geteuid() == 0:  # as the executor's learner processes: the sandbox uid, no new privileges
    import ctypes
    os.setgroups([]); os.setgid(64999); os.setuid(64999)
    ctypes.CDLL(None).prctl(38, 1, 0, 0, 0)
from grader.engine import programs
from grader.engine.programs import ProgramLimits, run, _execute
limits = ProgramLimits(timeout_s=1.0)
out = {"mode": programs.containment()[0]}
cases = json.loads(sys.argv[1])
for mode in (out["mode"], "plain"):
    out[mode] = {name: _execute(src, limits, mode, mode == "bwrap").status for name, src in cases.items()}
    out[mode]["after"] = _execute("print(6 * 7)", limits, mode, mode == "bwrap").stdout
print(json.dumps(out))
"""


@pytest.mark.skipif(not sandbox.available()[0], reason=f"no course sandbox here: {sandbox.available()[1]}")
def test_the_runner_contains_programs_inside_the_course_sandbox(tmp_path):
    """Nested bwrap (or, where it cannot nest, a limited child process) inside the executor's sandbox."""
    from grader.model_cache import cache_dir

    (tmp_path / "inner.py").write_text(INNER)
    cases = {name: HOSTILE[name][0] for name in ("loop_forever", "allocate_8gb", "print_100mb", "open_socket",
                                                  "fork_bomb")}
    cases["read_solutions"] = HOSTILE["read_solutions"][0]
    env = {"PATH": "/usr/bin:/bin", "HOME": "/tmp", "PYTHONPATH": str(ROOT), "PYTHONDONTWRITEBYTECODE": "1"}
    argv = sandbox.command([sys.executable, "-s", f"{sandbox.SUBMISSION_DIR}/inner.py", json.dumps(cases)],
                           str(tmp_path), str(ROOT / "grader"), str(cache_dir()), env)
    done = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["mode"] in ("bwrap", "bwrap-noproc", "plain")
    for mode in {out["mode"], "plain"}:
        got = out[mode]
        assert got["loop_forever"] == "timeout" and got["allocate_8gb"] == "memory", (mode, got)
        assert got["print_100mb"] == "output_limit" and got["open_socket"] == "error", (mode, got)
        assert got["read_solutions"] == "error" and got["fork_bomb"] in ("timeout", "error"), (mode, got)
        assert got["after"] == "42\n", (mode, got)
