"""The executor: the only place learner code runs. It returns observations, never verdicts.

``python -m grader.engine.executor CONFIG`` starts a warm *zygote* (normally inside the sandbox, see
``grader.engine.sandbox``): it imports torch, transformers and the checks once, loads the tiny
models once, then serves the supervisor on stdin/stdout, one JSON line per request:

    {"op": "open", "exercise": "dpo", "file": "/submission/dpo.py", "timeout": 60}
        fork a fresh *learner process* that drops privileges, applies the limits and loads the file
    {"op": "check", "check": "dpo_loss", "timeout": 30}
        that process runs the check's code on the learner's functions and replies with observations
    {"op": "close"}
        kill the learner process and everything it started

and answers each with ``{"event": "reply", "reply": ...}``, ``{"event": "timeout"}``,
``{"event": "died", "code": N}``, ``{"event": "too_large"}`` or ``{"event": "closed"}``. The time
limits are enforced here, by the zygote, which runs no learner code; the supervisor also keeps a
margin of its own. Whatever a learner process does (patch the checks, walk frames, replay stored
outputs) changes only the observations it sends, and the judge, in another process, checks those.
"""

from __future__ import annotations

import ctypes
import io
import json
import os
import resource
import select
import signal
import socket
import sys
import time
from typing import Any, Mapping

class CappedSink(io.TextIOBase):
    """Keeps the first ``limit`` characters written to it and counts the rest."""

    def __init__(self, limit: int = 20_000):
        self.limit, self.kept, self.total = limit, [], 0

    def write(self, s: str) -> int:
        if self.total < self.limit:
            self.kept.append(s[: self.limit - self.total])
        self.total += len(s)
        return len(s)

    def writable(self) -> bool:
        return True


# --- observing one check (runs in the learner process, or in-process for trusted code) ------------


def to_numpy(x):
    import torch

    if not isinstance(x, torch.Tensor):
        x = torch.as_tensor(x)
    x = x.detach().cpu()
    if x.dtype in (torch.bfloat16, torch.float16):
        x = x.float()
    return x.contiguous().numpy()


def observe(exercise: str, check, ns: Mapping[str, Any], device, learner_files: tuple[str, ...] = (),
            variant: int = 0) -> dict:
    """Run one check's code on ``ns`` with the inputs of ``variant`` (``grader.checking.input_variant``):
    ``{"observed": {name: array}}`` or ``{"failed": {...}}``; the arrays are numpy (``grader.engine.wire``
    encodes them for the judge)."""
    from grader.checking import CheckFailed, Context, LearnerError, NotImplementedYet, input_variant, one_cpu_thread

    ctx = Context(exercise, check, ns, device, learner_files)
    start = time.perf_counter()
    try:
        with one_cpu_thread(device), input_variant(variant):
            observed = check.run(ctx)
        reply: dict = {"observed": {k: to_numpy(v) for k, v in observed.items()}}
    except NotImplementedYet as exc:
        reply = {"failed": {"status": "not_implemented",
                            "message": f"not implemented yet (`{exc}` raises NotImplementedError)"}}
    except CheckFailed as exc:
        status = "missing" if exc.message.startswith("no function or class named") else "fail"
        reply = {"failed": {"status": status, "message": exc.message, "expected": exc.expected, "got": exc.got,
                            "hint": exc.hint, "mistake": exc.mistake}}
    except LearnerError as exc:
        reply = {"failed": {"status": "error", "message": str(exc), "got": exc.where,
                            "hint": exc.hint or "your code raised an exception; the line above is where (in your file)"}}
    reply["seconds"] = round(time.perf_counter() - start, 3)
    return reply


def observe_for_judge(exercise: str, check, ns: Mapping[str, Any], device, learner_files: tuple[str, ...] = (),
                      variant: int = 0) -> dict:
    """``observe``, with the arrays encoded as the judge reads them (``grader.engine.wire``)."""
    from grader.engine import wire

    reply = observe(exercise, check, ns, device, learner_files, variant)
    if "observed" in reply:
        reply["observed"] = wire.encode_all(reply["observed"])
    return reply


# --- the learner process --------------------------------------------------------------------------


def _libc():
    return ctypes.CDLL(None, use_errno=True)


def _vm_bytes() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    return 0


def _confine(config: dict) -> None:
    """Drop to the sandbox's uid (when the zygote is root in the sandbox) and apply the limits."""
    limits = config["limits"]
    os.setsid()  # its own session: no terminal, and the zygote's signals are not its own
    _libc().prctl(38, 1, 0, 0, 0)  # PR_SET_NO_NEW_PRIVS: nothing it runs can gain privileges
    if config.get("drop_to_uid") is not None and os.geteuid() == 0:
        uid = int(config["drop_to_uid"])
        os.setgroups([])
        os.setgid(uid)
        os.setuid(uid)
    try:  # when the sandbox's cgroup runs out of memory, the kernel kills a learner process, not the zygote
        with open("/proc/self/oom_score_adj", "w") as f:
            f.write("1000")
    except OSError:
        pass
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # an over-large file is an OSError, not a silent death
    caps = [(resource.RLIMIT_NOFILE, limits["open_files"]), (resource.RLIMIT_FSIZE, limits["file_bytes"]),
            (resource.RLIMIT_CPU, limits["cpu_seconds"]), (resource.RLIMIT_CORE, 0)]
    if config.get("limit_processes"):
        caps.append((resource.RLIMIT_NPROC, limits["processes"]))
    if config.get("device_type") != "cuda":  # CUDA maps huge virtual ranges; an address-space cap breaks it
        caps.append((resource.RLIMIT_AS, _vm_bytes() + limits["memory_bytes"]))
    for which, value in caps:
        soft, hard = resource.getrlimit(which)
        value = value if hard == resource.RLIM_INFINITY else min(value, hard)
        resource.setrlimit(which, (value, value))


def _send(sock: socket.socket, obj: dict) -> None:
    sock.sendall(json.dumps(obj).encode() + b"\n")


def _learner_process(sock: socket.socket, config: dict, request: dict) -> None:
    """Load the submission, then run the checks the zygote asks for, one at a time; never returns."""
    code = 0
    try:
        _confine(config)
        import torch

        from grader.checking import checks_module
        from grader.learner import LoadError, load_namespace

        exercise, path = request["exercise"], request["file"]
        sys.path.insert(0, os.path.dirname(path))  # a helper module beside the submission is importable
        device = torch.device(config["device"])
        checks = {c.name: c for c in checks_module(exercise).CHECKS}
        try:
            ns = load_namespace(path)
            _send(sock, {"loaded": True})
        except LoadError as exc:
            _send(sock, {"load_error": str(exc)})
            ns = None
        reader = sock.makefile("rb")
        while ns is not None:
            line = reader.readline()
            if not line:
                break
            check = checks[json.loads(line)["check"]]
            _send(sock, observe_for_judge(exercise, check, ns, device, (path,), int(request.get("variant", 0))))
    except SystemExit as exc:  # the learner's sys.exit(): a death like any other
        code = exc.code if isinstance(exc.code, int) else 1
    except BaseException:  # noqa: BLE001 - e.g. a KeyboardInterrupt raised by learner code
        code = 1
    finally:
        os._exit(code)


# --- the zygote -----------------------------------------------------------------------------------


class Zygote:
    def __init__(self, config: dict, out):
        self.config, self.out = config, out
        self.pid: int | None = None
        self.sock: socket.socket | None = None
        self.buffer = b""

    def emit(self, **event) -> None:
        self.out.write(json.dumps(event) + "\n")
        self.out.flush()

    def open(self, request: dict) -> None:
        self.close()
        parent, child = socket.socketpair()
        pid = os.fork()
        if pid == 0:
            parent.close()
            os.closerange(0, child.fileno())  # the protocol pipes stay the zygote's; learner code never sees them
            os.closerange(child.fileno() + 1, 1 << 16)
            devnull = os.open(os.devnull, os.O_RDWR)
            for fd in (0, 1, 2):
                os.dup2(devnull, fd)
            _learner_process(child, self.config, request)
        child.close()
        self.pid, self.sock, self.buffer = pid, parent, b""
        self.wait(float(request["timeout"]))

    def check(self, request: dict) -> None:
        if self.sock is None:
            self.emit(event="died", code=None)
            return
        try:
            _send(self.sock, {"check": request["check"]})
        except OSError:
            pass  # it died; wait() reports how
        self.wait(float(request["timeout"]))

    def wait(self, timeout: float) -> None:
        """Forward the learner process's next reply, or say why there is none (and kill it)."""
        deadline, limit = time.monotonic() + timeout, self.config["limits"]["reply_bytes"]
        while b"\n" not in self.buffer:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self.sock], [], [], left)[0]:
                self.close()
                self.emit(event="timeout")
                return
            chunk = self.sock.recv(1 << 20)
            if not chunk:
                code = self._exit_code()
                self.close()
                self.emit(event="died", code=code)
                return
            self.buffer += chunk
            if len(self.buffer) > limit:
                self.close()
                self.emit(event="too_large")
                return
        line, self.buffer = self.buffer.split(b"\n", 1)
        try:
            reply = json.loads(line)
        except (ValueError, RecursionError):  # garbage, or nesting deep enough to exhaust the parser
            self.close()
            self.emit(event="died", code=None)
            return
        self.emit(event="reply", reply=reply)

    def _exit_code(self) -> int | None:
        try:
            pid, status = os.waitpid(self.pid, 0)
        except ChildProcessError:
            return None
        self.pid = None
        return os.waitstatus_to_exitcode(status)

    def close(self) -> None:
        """Kill the learner process and every process it started (orphans come back to us: subreaper)."""
        if self.sock is not None:
            self.sock.close()
            self.sock = None
        self.pid = None
        kill_descendants()
        if self.config.get("sandboxed"):  # the next submission starts from an empty /tmp, not this one's files
            for scratch in ("/tmp", "/dev/shm"):
                _empty(scratch)


def _empty(folder: str) -> None:
    import shutil

    for entry in os.scandir(folder):
        if entry.is_dir(follow_symlinks=False):
            shutil.rmtree(entry.path, ignore_errors=True)
        else:
            try:
                os.unlink(entry.path)
            except OSError:
                pass


def _children_of(me: int) -> list[int]:
    """Pids whose parent chain leads to ``me``, from /proc (zombies included)."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat", "rb") as f:
                    stat = f.read()
            except OSError:
                continue
            parents[int(entry)] = int(stat.rsplit(b")", 1)[1].split()[1])
    found, frontier = set(), {me}
    while frontier:
        frontier = {p for p, pp in parents.items() if pp in frontier and p not in found}
        found |= frontier
    return sorted(found)


def kill_descendants() -> None:
    me = os.getpid()
    for _ in range(200):  # a fork bomb forks while it is being killed: go round until none is left
        pids = _children_of(me)
        if not pids:
            return
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        time.sleep(0.005)
        while True:
            try:
                pid, _ = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                break


def _warm_up() -> None:
    """What every learner process would otherwise import or read again: torch, transformers' model code,
    the checks, the tiny models' files. On the CPU only (a forked process cannot use CUDA its parent
    initialised; learner processes initialise it themselves)."""
    import torch

    torch.set_num_threads(1)  # before any op: OpenMP worker threads would not survive the fork
    from grader.checking import checks_module
    from grader.exercises import EXERCISES
    from grader.tiny_models import load_bert, load_gpt2

    for e in EXERCISES:
        checks_module(e.id)
    load_gpt2(device="cpu")
    load_bert(device="cpu")


def main(argv: list[str]) -> int:
    config = json.loads(argv[0])
    out = os.fdopen(os.dup(1), "w", buffering=1, encoding="utf-8")
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)
    sys.stdout = sys.stderr = CappedSink()
    zygote = Zygote(config, out)
    try:
        from grader.devices import pick_device, prepare

        try:
            choice = pick_device(config.get("device"))
        except ValueError as exc:
            zygote.emit(event="bad_request", message=str(exc))
            return 2
        device = prepare(choice.device)
        config["device"], config["device_type"] = str(device), device.type
        _warm_up()
        _libc().prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER: a detached grandchild still comes back to us
        zygote.emit(event="ready", device=str(device), reason=choice.reason)
    except Exception:  # noqa: BLE001 - a grader bug: report it rather than dying silently
        import traceback

        zygote.emit(event="fatal", traceback=traceback.format_exc())
        return 1
    for line in sys.stdin.buffer:
        request = json.loads(line)
        op = request.get("op")
        if op == "open":
            zygote.open(request)
        elif op == "check":
            zygote.check(request)
        elif op == "close":
            zygote.close()
            zygote.emit(event="closed")
    zygote.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
