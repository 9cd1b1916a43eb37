"""Benchmark of the website build; prints times and ratios, asserts nothing.

    python benchmarks/site_build.py          # median of 3 strict builds into a scratch folder

The floor is a fresh interpreter starting MkDocs (`python -m mkdocs --version`); the budget is the
10 s the build is allowed.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BUDGET_S = 10.0
REPEAT = 3


def wall(cmd: list[str]) -> float:
    times = []
    for _ in range(REPEAT):
        start = time.perf_counter()
        r = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})
        times.append(time.perf_counter() - start)
        if r.returncode:
            sys.exit(f"failed: {' '.join(cmd)}\n{r.stdout}{r.stderr}")
    return statistics.median(times)


def main() -> None:
    floor = wall([sys.executable, "-m", "mkdocs", "--version"])
    print(f"floor (python -m mkdocs --version): {floor:.2f} s")
    with tempfile.TemporaryDirectory() as out:
        build = wall([sys.executable, "-m", "mkdocs", "build", "--strict", "-q", "-f", "site/mkdocs.yml", "-d", out])
        pages = sum(1 for p in Path(out).rglob("*.html") if "assets" not in p.parts)
        size = sum(p.stat().st_size for p in Path(out).rglob("*") if p.is_file()) / 2**20
    print(f"mkdocs build --strict: {build:.2f} s for {pages} pages, {size:.1f} MiB   "
          f"({build / floor:.1f} x floor, {build / BUDGET_S:.2f} x the {BUDGET_S:.0f} s budget)")


if __name__ == "__main__":
    main()
