"""Benchmarks for the foundation and the graders; prints times and ratios, asserts nothing.

    python benchmarks/bench.py            # everything
    python benchmarks/bench.py dpo        # one exercise's check only

The floor is a fresh interpreter running `import torch, transformers`: every cold check pays it once
(the sandboxed executor imports them), so a check's cost is reported as its wall time over the floor
and as the time above it. A *warm* check reuses a started executor (what a watch loop or an nbgrader
batch does): it costs the check itself, a fresh learner process forked from the warm one.
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


def wall(cmd: list[str], env: dict | None = None, repeat: int = 3) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run(cmd, cwd=ROOT, env={**os.environ, **(env or {})}, capture_output=True, check=False)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def py(code: str, env: dict | None = None) -> str:
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, env={**os.environ, **(env or {})},
                          capture_output=True, text=True, check=True).stdout.strip()


def main(ids: list[str]) -> None:
    from grader.exercises import EXERCISES

    floor = wall([sys.executable, "-c", "import torch, transformers"])
    print(f"import floor (import torch, transformers): {floor:.2f} s")
    # transformers imports its model code lazily; the first model class costs more than the floor itself.
    model_floor = wall([sys.executable, "-c", "import torch, transformers; "
                        "from transformers import GPT2LMHeadModel, BertModel"])
    print(f"model floor (+ GPT2LMHeadModel, BertModel): {model_floor:.2f} s   ({model_floor / floor:.2f} x floor)")
    if not ids:
        with tempfile.TemporaryDirectory() as cache:
            env = {"RLHF_COURSE_CACHE": cache, "HF_HUB_OFFLINE": "1"}
            build = float(py("import time, torch, transformers\n"
                             "from grader.tiny_models import tiny_model_dir\n"
                             "t = time.perf_counter(); tiny_model_dir('gpt2'); tiny_model_dir('bert')\n"
                             "print(time.perf_counter() - t)", env))
            warm = float(py("import time, statistics\n"
                            "from grader import load_gpt2, load_bert\n"
                            "load_gpt2(); load_bert()\n"
                            "ts = []\n"
                            "for _ in range(5):\n"
                            "    t = time.perf_counter(); load_gpt2(); load_bert(); ts.append(time.perf_counter() - t)\n"
                            "print(statistics.median(ts) / 2)", env))
        print(f"tiny models, first build (GPT-2 + BERT): {build:.2f} s   ({build / floor:.2f} x floor)")
        print(f"tiny model, warm load (per model):      {warm * 1000:.1f} ms  ({warm / floor:.3f} x floor)")
    for e in EXERCISES:
        if ids and e.id not in ids:
            continue
        cmd = [sys.executable, "-m", "grader.cli", "check", e.id, "--file", str(ROOT / e.solution)]
        t = wall(cmd, {"HF_HUB_OFFLINE": "1"})
        print(f"rlhf-course check {e.id} (reference): {t:.2f} s   = floor + {t - floor:.2f} s   ({t / floor:.2f} x floor;"
              f" model floor + {t - model_floor:.2f} s)")
        warm = float(py(WARM.format(exercise=e.id, file=str(ROOT / e.solution)), {"HF_HUB_OFFLINE": "1"}))
        print(f"  warm check {e.id} (executor already started): {warm:.2f} s   ({warm / floor:.2f} x floor)")


WARM = """
import statistics, time
from grader.engine.supervisor import Executor, grade
with Executor() as ex:
    grade([("{exercise}", "{file}")], executor=ex)
    times = []
    for _ in range(3):
        t = time.perf_counter()
        report = grade([("{exercise}", "{file}")], executor=ex)
        times.append(time.perf_counter() - t)
    assert all(r["status"] == "pass" for r in report.results), report.results
print(statistics.median(times))
"""


if __name__ == "__main__":
    main(sys.argv[1:])
