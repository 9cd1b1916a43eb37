"""How long nbgrader's autograde takes per submission; prints times and ratios, asserts nothing.

    python benchmarks/autograde.py              # DPO, 4 reference submissions
    python benchmarks/autograde.py dpo -n 8     # another exercise or batch size

Writes a temporary course with `rlhf-course nbgrader`, releases it, submits N copies of the reference
notebook and times one `nbgrader autograde` over all of them. A single-submission run is timed too:
the difference between the two is the cost of each further submission, free of nbgrader's own start.
The floor is a fresh interpreter running `import torch, transformers` (as in benchmarks/bench.py).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench import wall  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def nbgrader(course: Path, *args: str) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=course, capture_output=True, check=True,
                   env={**os.environ, "HF_HUB_OFFLINE": "1"})
    return time.perf_counter() - start


def autograde_seconds(exercise: str, n: int) -> float:
    """Wall time of one `nbgrader autograde` over ``n`` copies of the reference notebook."""
    with tempfile.TemporaryDirectory() as tmp:
        course = Path(tmp)
        subprocess.run([sys.executable, "-m", "grader.cli", "nbgrader", str(course), exercise], cwd=ROOT,
                       capture_output=True, check=True)
        nbgrader(course, "generate_assignment", exercise)
        for i in range(n):
            folder = course / "submitted" / f"student{i:03d}" / exercise
            folder.mkdir(parents=True)
            shutil.copy(course / "source" / exercise / f"{exercise}.ipynb", folder)
        return nbgrader(course, "autograde", exercise)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("exercise", nargs="?", default="dpo")
    p.add_argument("-n", type=int, default=4, help="submissions in the batch (default 4)")
    args = p.parse_args()

    floor = wall([sys.executable, "-c", "import torch, transformers"])
    print(f"import floor (import torch, transformers): {floor:.2f} s")
    one = autograde_seconds(args.exercise, 1)
    batch = autograde_seconds(args.exercise, args.n)
    per = (batch - one) / (args.n - 1)
    print(f"autograde {args.exercise}, 1 submission: {one:.2f} s (nbgrader's start included)")
    print(f"autograde {args.exercise}, {args.n} submissions: {batch:.2f} s = {batch / args.n:.2f} s per submission")
    print(f"each further submission: {per:.2f} s   ({per / floor:.2f} x floor; goal <= 2 s)")


if __name__ == "__main__":
    main()
