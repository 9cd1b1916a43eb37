"""Regenerate the lessons' figures. Each ``lessons/figures/<name>.py`` is a plain script that writes
``<name>.png`` beside itself, deterministically; this runs them, each in its own Python process and
several at once, and says what changed.

    rlhf-course figures                     run every script, rewrite the PNGs
    rlhf-course figures dpo_losses ppo_clip_objective
    rlhf-course figures --check             run them in a scratch copy; exit 1 if a PNG is stale

A script that fails keeps its old PNG and is reported with the end of its error output.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

TIMEOUT_S = 600
# Statuses: when writing (created, updated, unchanged) and when checking (fresh, stale, missing).
PROBLEMS = {"failed", "stale", "missing"}


class FigureError(Exception):
    """Bad request (an unknown script name); the message lists the known ones."""


@dataclass
class Result:
    script: Path  # the script in the course, even when it ran in a scratch copy
    status: str  # created | updated | unchanged | fresh | stale | missing | failed
    seconds: float
    detail: str = ""


def find_scripts(folder: Path, names: list[str] | tuple[str, ...] = ()) -> list[Path]:
    """The figure scripts in ``folder``, or those named (``dpo_losses``, ``dpo_losses.py`` or
    ``dpo_losses.png`` all name the same one)."""
    scripts = {p.stem: p for p in sorted(folder.glob("*.py"))}
    unknown = [n for n in names if Path(n).stem not in scripts]
    if unknown:
        raise FigureError(f"no figure script {', '.join(unknown)} in {folder}; "
                          f"choose from {', '.join(scripts) or '(none)'}")
    return [scripts[Path(n).stem] for n in names] if names else list(scripts.values())


def _run(script: Path) -> tuple[bool, float, str]:
    start = time.perf_counter()
    try:
        r = subprocess.run([sys.executable, script.name], cwd=script.parent, capture_output=True, text=True,
                           timeout=TIMEOUT_S, env={**os.environ, "MPLBACKEND": "Agg"})
    except subprocess.TimeoutExpired:
        return False, time.perf_counter() - start, f"still running after {TIMEOUT_S} s"
    tail = "\n".join(r.stderr.strip().splitlines()[-6:])
    return r.returncode == 0, time.perf_counter() - start, tail or f"exit code {r.returncode}"


def _one(script: Path, runs_at: Path, check: bool) -> Result:
    png, made = script.with_suffix(".png"), runs_at.with_suffix(".png")
    before = png.read_bytes() if png.is_file() else None
    stamp = made.stat().st_mtime_ns if made.is_file() else None
    ok, seconds, detail = _run(runs_at)
    if not ok:
        return Result(script, "failed", seconds, detail)
    if not made.is_file() or made.stat().st_mtime_ns == stamp:
        return Result(script, "failed", seconds, f"ran, but did not write {png.name} beside itself")
    after = made.read_bytes()
    if check:
        status = "missing" if before is None else "fresh" if after == before else "stale"
    else:
        status = "created" if before is None else "unchanged" if after == before else "updated"
    return Result(script, status, seconds)


def regenerate(folder: Path, names=(), check: bool = False, jobs: int | None = None) -> list[Result]:
    """Run the figure scripts in ``folder`` (all, or those named), in parallel.

    With ``check``, the scripts run in a scratch copy of ``folder`` and nothing in it changes; the
    results say whether each committed PNG equals what its script makes now.
    """
    scripts = find_scripts(folder, names)
    jobs = max(1, min(jobs or os.cpu_count() or 1, len(scripts) or 1))
    with tempfile.TemporaryDirectory(prefix="rlhf-course-figures-") as scratch:
        if check:  # scripts may import their neighbours: copy everything but the PNGs
            shutil.copytree(folder, scratch, dirs_exist_ok=True, ignore=shutil.ignore_patterns("*.png"))
        places = [Path(scratch) / s.name if check else s for s in scripts]
        with ThreadPoolExecutor(jobs) as pool:
            return list(pool.map(lambda sp: _one(sp[0], sp[1], check), zip(scripts, places)))


def main(folder: Path, names=(), check: bool = False, jobs: int | None = None, prog: str = "rlhf-course") -> int:
    """Print one line per figure; exit code 1 if any script failed (or, with ``check``, any PNG is
    stale or missing), 2 for an unknown name."""
    try:
        results = regenerate(folder, names, check, jobs)
    except FigureError as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return 2
    for r in results:
        print(f"  {r.status:<10}{r.script.with_suffix('.png').name:<44}{r.seconds:6.1f} s")
        if r.detail:
            print("            " + r.detail.replace("\n", "\n            "))
    bad = [r for r in results if r.status in PROBLEMS]
    if bad and check:
        print(f"\n{len(bad)} figure(s) differ from what their scripts make: run `{prog} figures`.")
    elif bad:
        print(f"\n{len(bad)} figure script(s) failed; their old PNGs are kept.")
    return 1 if bad else 0
