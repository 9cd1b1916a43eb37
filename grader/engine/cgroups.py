"""A control group around one sandbox, where the machine lets us make one: it caps the memory and the
number of processes of *everything* in the sandbox together. Per-process limits (``setrlimit``) cannot:
a learner process that forks ten children gets ten address-space budgets.

Both cgroup layouts are tried, under the grader's own cgroup: v2 (``memory.max``, ``pids.max``) and v1
(the ``memory`` and ``pids`` hierarchies). Where neither is writable (an unprivileged laptop without a
delegated cgroup, macOS) ``create`` returns None and the per-process limits stand alone. When the
memory cap is hit the kernel's OOM killer picks, inside the group, the learner process (the executor
marks it the first to go), which the supervisor reports as a death ("out of memory").
"""

from __future__ import annotations

import os
import time
from pathlib import Path

ROOT = Path("/sys/fs/cgroup")


def _own_paths() -> dict[str, str]:
    """Controller (or "" for v2) -> this process's cgroup path, from /proc/self/cgroup."""
    paths = {}
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return paths
    for line in lines:
        _, controllers, path = line.split(":", 2)
        for c in controllers.split(",") if controllers else [""]:
            paths[c] = path
    return paths


class SandboxCgroup:
    def __init__(self, folders: list[Path]):
        self.folders = folders

    @classmethod
    def create(cls, name: str, memory_bytes: int, processes: int) -> "SandboxCgroup | None":
        own = _own_paths()
        attempts = []
        if (ROOT / "cgroup.controllers").exists() and "" in own:  # v2
            attempts.append([(ROOT / own[""].lstrip("/") / name, {"memory.max": memory_bytes, "pids.max": processes})])
        if (ROOT / "memory").is_dir() and (ROOT / "pids").is_dir():  # v1
            attempts.append([
                (ROOT / "memory" / own.get("memory", "/").lstrip("/") / name,
                 {"memory.limit_in_bytes": memory_bytes, "memory.memsw.limit_in_bytes": None}),
                (ROOT / "pids" / own.get("pids", "/").lstrip("/") / name, {"pids.max": processes}),
            ])
        for layout in attempts:
            made: list[Path] = []
            try:
                for folder, settings in layout:
                    folder.mkdir()
                    made.append(folder)
                    for key, value in settings.items():
                        if value is None:  # swap accounting, where the kernel has it: no swapping past the cap
                            if (folder / key).exists():
                                _try_write(folder / key, memory_bytes)
                            continue
                        (folder / key).write_text(str(value))
                return cls(made)
            except OSError:
                cls(made).remove()
        return None

    def add_self(self) -> None:
        """Move the calling process into the group (called in the sandbox's first process, before exec)."""
        for folder in self.folders:
            (folder / "cgroup.procs").write_text(str(os.getpid()))

    def remove(self) -> None:
        for folder in reversed(self.folders):
            for _ in range(50):  # the sandbox's last processes may take a moment to be reaped
                try:
                    folder.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.02)


def _try_write(path: Path, value: int) -> None:
    try:
        path.write_text(str(value))
    except OSError:
        pass
