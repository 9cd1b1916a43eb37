"""The learner's loop, timed: prints seconds and ratios of the import floor, asserts nothing.

    python benchmarks/learner_loop.py

- import floor: a fresh interpreter running `import torch, transformers` (what any cold check pays);
- cold check: `rlhf-course check dpo` on the reference, start to finish;
- watch re-check: `check dpo --watch`, from a save to the end of the printed report (polling included), and
  the grading alone (the "checked in" line);
- in-notebook check: `check("dpo")` in a live kernel, the first call (the grading service warming up since
  the import) and a re-check;
- overview: `rlhf-course` with an empty progress file, then again with nothing changed (from its cache).
"""

from __future__ import annotations

import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
ENV = {**os.environ, "HF_HUB_OFFLINE": "1"}
REPEAT = 5


def wall(cmd: list[str], env: dict | None = None, repeat: int = 3) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run(cmd, cwd=ROOT, env=env or ENV, capture_output=True, check=False)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def line(label: str, seconds: float, floor: float) -> None:
    print(f"{label:<46}{seconds:7.3f} s   {seconds / floor:6.3f} x floor")


def watch_times(file: Path) -> tuple[float, float]:
    """(save -> report printed, grading alone), medians over REPEAT saves."""
    proc = subprocess.Popen([sys.executable, "-m", "grader.cli", "check", "dpo", "--file", str(file), "--watch"],
                            cwd=ROOT, env=ENV, stdout=subprocess.PIPE, text=True, bufsize=1)

    def until_watching() -> float:
        graded = 0.0
        for text in proc.stdout:
            if m := re.search(r"checked in ([\d.]+) s", text):
                graded = float(m.group(1))
            if "Watching" in text:
                return graded
        raise RuntimeError("watch mode ended early")

    try:
        until_watching()
        saves, gradings = [], []
        for i in range(REPEAT):
            time.sleep(0.3)
            start = time.perf_counter()
            with open(file, "a") as f:
                f.write(f"\n# save {i}\n")
            gradings.append(until_watching())
            saves.append(time.perf_counter() - start)
    finally:
        proc.terminate()
        proc.wait()
    return statistics.median(saves), statistics.median(gradings)


def notebook_times() -> tuple[float, float]:
    """(first check("dpo") after the imports cell, a re-check) in a live kernel."""
    import jupytext
    import nbformat
    from nbclient import NotebookClient

    nb = jupytext.read(ROOT / "solutions" / "dpo.py")
    code = [c.source for c in nb.cells if c.cell_type == "code" and (
        c.metadata.get("nbgrader", {}).get("solution") or "import" in c.source.split("\n")[0])]
    cells = [nbformat.v4.new_code_cell(s) for s in ["from grader import check", *code, 'check("dpo")', 'check("dpo")']]
    nb.cells = cells
    client = NotebookClient(nb, kernel_name="python3", timeout=300, resources={"metadata": {"path": str(ROOT)}})
    times = []
    with client.setup_kernel():
        for i, cell in enumerate(cells):
            start = time.perf_counter()
            client.execute_cell(cell, i)
            times.append(time.perf_counter() - start)
    return times[-2], times[-1]


def main() -> None:
    floor = wall([sys.executable, "-c", "import torch, transformers"])
    print(f"import floor (import torch, transformers): {floor:.2f} s\n")
    cold = wall([sys.executable, "-m", "grader.cli", "check", "dpo", "--file", str(ROOT / "solutions" / "dpo.py")])
    line("cold check dpo (reference)", cold, floor)
    with tempfile.TemporaryDirectory() as tmp:
        file = Path(tmp) / "dpo.py"
        shutil.copy(ROOT / "solutions" / "dpo.py", file)
        save, graded = watch_times(file)
        line("watch: save -> report (polling included)", save, floor)
        line("watch: re-check, grading alone", graded, floor)
        print(f"{'':46}cold / re-check: {cold / graded:.0f} x faster")
        first, again = notebook_times()
        line('notebook: first check("dpo") after the import', first, floor)
        line('notebook: re-check check("dpo")', again, floor)
        env = {**ENV, "RLHF_COURSE_PROGRESS": str(Path(tmp) / "progress.json")}
        overview = [sys.executable, "-m", "grader.cli"]
        start = time.perf_counter()
        subprocess.run(overview, cwd=ROOT, env=env, capture_output=True, check=False)
        line("overview, nothing remembered (grades all)", time.perf_counter() - start, floor)
        line("overview, nothing changed (from its cache)", wall(overview, env), floor)


if __name__ == "__main__":
    main()
