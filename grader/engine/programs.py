"""Run one untrusted program: Python written by a model (the PAL exercise), contained.

    result = run("print(6 * 7)", ProgramLimits(timeout_s=2))
    result.status, result.stdout      # ("ok", "42\\n")

The program runs in its own bubblewrap sandbox, built from the same pieces as the executor's
(``grader.engine.sandbox``): no network, a read-only view of the system and of the Python installation
only (not the course repository, not ``$HOME``), a private scratch ``/tmp`` in memory and capped, a
fresh PID namespace so that every process it starts dies with it, a wall-clock timeout, and per-process
limits (address space, processes, file size, open files, CPU time) set by a small boot script before the
program's first line. Output is read while it is written and capped: a program that prints 100 MB is
stopped at the cap, not buffered. Python starts with ``-I -S``: no environment variables, no
site-packages (the standard library only).

Where the caller already runs in the course's sandbox (a learner function called by the grader), the
program gets a sandbox of its own nested in it (an unprivileged user namespace; the outer sandbox's
``/proc`` cannot be mounted again there, so the program sees none). Where even that cannot run, the
outer sandbox already hides the machine's files and network, and the program runs as a child process
with the same limits, its own session and scratch folder, its process tree killed at the end (a process that
detached and outlived it belongs to the outer sandbox, which kills it when it closes).

Anywhere else without bubblewrap the program is **refused** (``status == "refused"``, with the reason):
model-written code never runs unsandboxed.

Statuses: ``ok`` (exit 0), ``error`` (it raised, or exited non-zero), ``timeout``, ``memory``,
``output_limit``, ``refused``. This module imports nothing heavy.
"""

from __future__ import annotations

import functools
import json
import os
import selectors
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass

from grader.engine import sandbox

STATUSES = ("ok", "error", "timeout", "memory", "output_limit", "refused")
STDERR_TAIL = 4000  # characters of stderr kept in a result
MAX_SOURCE_BYTES = 1 << 20
HOSTNAME = "program"

# The program's first process: drop to the sandbox uid (when bwrap ran as root), forbid gaining privileges,
# apply the limits, read the source from stdin, run it as __main__.
BOOT = r"""
import ctypes, json, os, resource, signal, sys
cfg = json.loads(sys.argv[1])
if os.geteuid() == 0 and cfg["uid"] is not None:
    os.setgroups([]); os.setgid(cfg["uid"]); os.setuid(cfg["uid"])
ctypes.CDLL(None).prctl(38, 1, 0, 0, 0)
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
for name, value in cfg["rlimits"]:
    which = getattr(resource, name)
    soft, hard = resource.getrlimit(which)
    value = value if hard == resource.RLIM_INFINITY else min(value, hard)
    resource.setrlimit(which, (value, value))
source = sys.stdin.read()
os.dup2(os.open(os.devnull, os.O_RDONLY), 0)
sys.stdin = open(os.devnull)
del cfg, ctypes, json, resource, signal, name, value, which, soft, hard
exec(compile(source, "<program>", "exec"), {"__name__": "__main__", "__builtins__": __builtins__})
"""


class ProgramError(Exception):
    """A program did not give an answer; ``status`` says why (one of ``STATUSES``, or ``no_answer``)."""

    def __init__(self, status: str, message: str):
        super().__init__(f"{status}: {message}")
        self.status, self.message = status, message


@dataclass(frozen=True)
class ProgramLimits:
    """What one program may use."""

    timeout_s: float = 2.0  # wall clock, from start to the last process's end
    memory_bytes: int = 256 << 20  # address space of each of its processes
    output_bytes: int = 64 << 10  # stdout (and, separately, stderr) beyond this stops the program
    processes: int = 8  # processes and threads it may have at once
    file_bytes: int = 1 << 20  # the largest file it may write (in its scratch /tmp)
    scratch_bytes: int = 8 << 20  # the scratch /tmp itself


@dataclass(frozen=True)
class ProgramResult:
    status: str  # one of STATUSES
    stdout: str = ""
    stderr: str = ""  # its last STDERR_TAIL characters
    message: str = ""  # one line: what happened
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.status == "ok"


# --- how a program is contained here ---------------------------------------------------------------


def _config(limits: ProgramLimits, uid: int | None, processes: int) -> str:
    cpu = int(limits.timeout_s) + 2  # a backstop: the wall clock is the limit that counts
    rlimits = [("RLIMIT_AS", limits.memory_bytes), ("RLIMIT_NPROC", processes), ("RLIMIT_FSIZE", limits.file_bytes),
               ("RLIMIT_NOFILE", 64), ("RLIMIT_CPU", cpu), ("RLIMIT_CORE", 0)]
    return json.dumps({"uid": uid, "rlimits": rlimits})


def _tasks_of(uid: int) -> int:
    """Processes and threads of ``uid`` visible here: RLIMIT_NPROC counts them all, not just the program's."""
    count = 0
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/status") as f:
                    fields = dict(line.split(":", 1) for line in f if ":" in line)
            except (OSError, ValueError):
                continue
            if int(fields.get("Uid", "-1").split()[0]) == uid:
                count += int(fields.get("Threads", "1"))
    return count


def _python() -> list[str]:
    return [sys.executable, "-I", "-S", "-c", BOOT]


def _env() -> dict[str, str]:
    return {"PATH": "/usr/bin:/bin", "HOME": "/tmp", "TMPDIR": "/tmp", "LANG": "C.UTF-8",
            "PYTHONDONTWRITEBYTECODE": "1", "PYTHONUNBUFFERED": "1"}


def _bwrap_argv(limits: ProgramLimits, mount_proc: bool) -> list[str]:
    privileged = sandbox.privileged()
    args = [sandbox.bwrap_path(), "--die-with-parent", "--new-session", "--unshare-pid", "--unshare-net",
            "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try", "--hostname", HOSTNAME]
    if privileged:  # root: no user namespace; the boot script drops to a fresh uid with these two capabilities
        args += ["--cap-drop", "ALL", "--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"]
    else:
        args += ["--unshare-user"]
    args += sandbox._system_binds()
    args += ["--proc", "/proc"] if mount_proc else []
    args += ["--dev", "/dev", "--perms", "1777", "--size", str(limits.scratch_bytes), "--tmpfs", "/tmp"]
    roots = sandbox._python_roots()
    args += sandbox.readable_parents(roots)
    for root in roots:
        args += ["--ro-bind", root, root]
    args += ["--chdir", "/tmp", "--clearenv"]
    for key, value in _env().items():
        args += ["--setenv", key, value]
    # Root's programs run as a uid of their own (RLIMIT_NPROC counts per uid); a user namespace of its own
    # likewise counts only the program's processes.
    uid = sandbox.fresh_uid() if privileged else None
    return [*args, "--", *_python(), _config(limits, uid, limits.processes)]


def _plain_argv(limits: ProgramLimits) -> list[str]:
    """Inside the course's sandbox, where bwrap cannot nest: a child process with the limits (the outer sandbox
    hides the machine's files and network)."""
    return [*_python(), _config(limits, None, _tasks_of(os.getuid()) + limits.processes)]


@functools.lru_cache(maxsize=None)
def containment() -> tuple[str | None, str]:
    """How programs are contained here, tried once per process: ("bwrap", ...), ("bwrap-noproc", ...) or
    ("plain", ...) with a description, or (None, why not)."""
    if os.environ.get(sandbox.DISABLE_ENV) == "1":
        return None, f"{sandbox.DISABLE_ENV}=1 is set, and model-written programs never run unsandboxed"
    why = "bubblewrap (bwrap) is not available on this system" if sys.platform.startswith("linux") \
        else f"no sandbox on {sys.platform} (bubblewrap needs Linux)"
    if sandbox.bwrap_path() is not None:
        for mode, mount_proc in (("bwrap", True), ("bwrap-noproc", False)):
            result = _execute("print(6 * 7)", ProgramLimits(timeout_s=30), mode, mount_proc)
            if result.status == "ok" and result.stdout.strip() == "42":
                return mode, "a bubblewrap sandbox of its own" + (
                    ", nested in the course's sandbox" if sandbox.inside() else "")
            why = f"bwrap cannot start a sandbox here: {result.message}"
    if sandbox.inside():
        return "plain", "a child process with limits, inside the course's sandbox"
    return None, why


def available() -> tuple[bool, str]:
    """Whether model-written programs can run here, and how (or why not)."""
    mode, how = containment()
    return mode is not None, how


def run(source: str, limits: ProgramLimits = ProgramLimits()) -> ProgramResult:
    """Run ``source`` contained (module docstring); never raises for anything the program does."""
    mode, how = containment()
    if mode is None:
        return ProgramResult("refused", message=f"model-written code is not run here: {how}")
    if len(source.encode("utf-8", "replace")) > MAX_SOURCE_BYTES:
        return ProgramResult("error", message=f"the program is longer than {MAX_SOURCE_BYTES} bytes")
    return _execute(source, limits, mode, mode == "bwrap")


# --- one run -----------------------------------------------------------------------------------------


def _execute(source: str, limits: ProgramLimits, mode: str, mount_proc: bool) -> ProgramResult:
    scratch = None
    if mode == "plain":
        scratch = tempfile.mkdtemp(prefix="program-")
        argv, cwd, env = _plain_argv(limits), scratch, {**_env(), "HOME": scratch, "TMPDIR": scratch}
    else:
        argv, cwd, env = _bwrap_argv(limits, mount_proc), "/", None
    start = time.monotonic()
    try:
        proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                cwd=cwd, env=env, start_new_session=True)
    except OSError as exc:
        return ProgramResult("error", message=f"the sandbox could not start: {exc}")
    try:
        status, out, err = _collect(proc, source.encode("utf-8", "replace"), limits, start)
    finally:
        _kill(proc, mode)
        if scratch:
            import shutil

            shutil.rmtree(scratch, ignore_errors=True)
    stdout = out.decode("utf-8", "replace")
    stderr = err.decode("utf-8", "replace")[-STDERR_TAIL:]
    seconds = round(time.monotonic() - start, 3)
    if status is None:
        status = _exit_status(proc.returncode, stderr)
    return ProgramResult(status, stdout, stderr, _message(status, proc.returncode, stderr, limits), seconds)


def _collect(proc: subprocess.Popen, source: bytes, limits: ProgramLimits, start: float):
    """Feed the source, read stdout and stderr as they come, stop at a cap or the deadline:
    (status or None when it ended by itself, stdout bytes, stderr tail bytes)."""
    try:
        proc.stdin.write(source)
        proc.stdin.close()
    except OSError:
        pass  # it died at once; its exit status says why
    out, err, err_total = bytearray(), bytearray(), 0
    deadline = start + limits.timeout_s
    with selectors.DefaultSelector() as sel:
        sel.register(proc.stdout, selectors.EVENT_READ)
        sel.register(proc.stderr, selectors.EVENT_READ)
        while sel.get_map():
            left = deadline - time.monotonic()
            if left <= 0:
                return "timeout", out, err
            for key, _ in sel.select(left):
                chunk = os.read(key.fd, 1 << 16)
                if not chunk:
                    sel.unregister(key.fileobj)
                elif key.fileobj is proc.stdout:
                    out += chunk
                    if len(out) > limits.output_bytes:
                        return "output_limit", out[:limits.output_bytes], err
                else:
                    err_total += len(chunk)
                    err = (err + chunk)[-STDERR_TAIL * 4:]
                    if err_total > limits.output_bytes:
                        return "output_limit", out, err
    try:
        proc.wait(max(0.0, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        return "timeout", out, err
    return None, out, err


def _signal(pids, sig: int) -> None:
    for pid in pids:
        try:
            os.kill(pid, sig)
        except (ProcessLookupError, PermissionError):
            pass


def _kill_tree(root: int) -> None:
    """A plain child and its descendants, even those that left its session: stopped first, so that none forks
    or dies (which would hand its children to another parent) while the tree is collected, then killed. Only
    this program's processes: other programs the caller runs at the same time are not its descendants."""
    from grader.engine.executor import _children_of

    found = {root}
    _signal(found, signal.SIGSTOP)
    while True:
        new = set(_children_of(root)) - found
        if not new:
            break
        _signal(new, signal.SIGSTOP)
        found |= new
    _signal(found, signal.SIGKILL)


def _kill(proc: subprocess.Popen, mode: str) -> None:
    """Kill the program and everything it started. Under bwrap the PID namespace dies with its first
    process; a plain child's tree is killed (``_kill_tree``)."""
    if mode == "plain" and proc.poll() is None:
        _kill_tree(proc.pid)
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    proc.wait()
    for stream in (proc.stdin, proc.stdout, proc.stderr):
        stream.close()


def _exit_status(code: int, stderr: str) -> str:
    if code == 0:
        return "ok"
    if "MemoryError" in stderr or "Cannot allocate memory" in stderr or code in (-signal.SIGKILL, 128 + signal.SIGKILL):
        return "memory"
    return "error"


def _message(status: str, code: int | None, stderr: str, limits: ProgramLimits) -> str:
    last = next((line.strip() for line in reversed(stderr.splitlines()) if line.strip()), "")
    return {
        "ok": "exited normally",
        "timeout": f"stopped after {limits.timeout_s:g} s (an endless loop, or too much work)",
        "memory": f"ran out of its {limits.memory_bytes >> 20} MB of memory" + (f" ({last})" if last else ""),
        "output_limit": f"stopped: it wrote more than {limits.output_bytes} bytes of output",
    }.get(status, f"exited with code {code}" + (f": {last}" if last else ""))
