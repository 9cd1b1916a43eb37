"""Time the capstone's acceptance command, `rlhf-course capstone run`, end to end, in a fresh process.

    python benchmarks/capstone.py            # as a learner runs it (the policy built if not yet cached)
    python benchmarks/capstone.py --cold     # with an empty model cache: the tiny models and the policy built too

Prints the wall time against the 3-minute budget, the machine's load average before and after (other work on
the machine slows it), and the report's gains and KLs.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BUDGET_S = 180


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--cold", action="store_true", help="build the tiny models and the policy in a fresh cache")
    p.add_argument("--device", default="cpu")
    args = p.parse_args()
    with tempfile.TemporaryDirectory(prefix="capstone-bench-") as tmp:
        env = {**os.environ, "HF_HUB_OFFLINE": "1"}
        if args.cold:
            env["RLHF_COURSE_CACHE"] = str(Path(tmp) / "cache")
        out = Path(tmp) / "run"
        load_before = os.getloadavg()
        start = time.perf_counter()
        r = subprocess.run([sys.executable, "-m", "grader.cli", "capstone", "run", "--out", str(out),
                            "--device", args.device], env=env, capture_output=True, text=True)
        seconds = time.perf_counter() - start
        load_after = os.getloadavg()
        if r.returncode != 0:
            print(r.stderr[-2000:], file=sys.stderr)
            return 1
        summary = json.loads((out / "summary.json").read_text())
    ev = summary["evaluation"]
    base = ev["SFT (reference)"]
    print(f"rlhf-course capstone run ({'cold cache' if args.cold else 'warm cache'}, {args.device}): "
          f"{seconds:.1f} s wall (budget {BUDGET_S} s, {seconds / BUDGET_S:.0%} of it)")
    print(f"load average (1 min) before {load_before[0]:.2f}, after {load_after[0]:.2f}; {os.cpu_count()} CPUs")
    for name in ("PPO", "DPO"):
        print(f"{name}: preference_score {base['preference_score']:+.3f} -> {ev[name]['preference_score']:+.3f}, "
              f"reward-model reward {base['reward']:+.3f} -> {ev[name]['reward']:+.3f}, KL {ev[name]['kl']:.2f} nats")
    print(f"reward model held-out accuracy {summary['reward_model']['held_out_accuracy']:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
