"""Accuracy of direct answers, PAL with one sample and PAL with a majority vote on the course's 24 word problems
(grader/data/pal/), made with the exercise's reference code (solutions/pal.py) and the course's sandbox.

Direct answers: the last number in the stored answer a model gave without a program. PAL: each problem's five
stored completions, each program extracted, run in the sandbox (grader.engine.programs, the exercise's default
limits: 2 s, 256 MB, 64 KB of output) and its printed answer parsed; "first sample" uses sample 0 alone, "vote of
k" the majority over samples 0..k-1 (ties to the earliest). Prints the lesson's numbers and the status of every
run that gave no answer, and writes pal_accuracy.png. Needs the sandbox (bubblewrap): without it the programs are
refused and the script says so.

Run:  python lessons/figures/pal_accuracy.py
"""
import re
import sys
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

import grader
from grader.engine import programs
from grader.learner import load_namespace
from grader.pal_data import load_completions, load_direct, load_problems

REF = load_namespace(Path(grader.__file__).resolve().parent.parent / "solutions" / "pal.py")
pal_answer, majority_vote, accuracy_report = REF["pal_answer"], REF["majority_vote"], REF["accuracy_report"]
NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?")

ok, how = programs.available()
if not ok:
    sys.exit(f"pal_accuracy: model-written programs are not run here ({how}); the figure needs the sandbox")

problems, completions, direct = load_problems(), load_completions(), load_direct()
gold = [p["answer"] for p in problems]
statuses: dict[str, str] = {}  # program -> the status of its run


def recording_runner(program, limits):
    result = programs.run(program, limits)
    statuses[program] = result.status
    return result


def solve(problem):
    return pal_answer([c["text"] for c in completions[problem["id"]]], runner=recording_runner)


with ThreadPoolExecutor(4) as pool:  # each run waits on its own sandboxed process
    results = list(pool.map(solve, problems))
answers = [a for _, a in results]


def direct_answer(text: str):
    numbers = NUMBER.findall(text)
    return float(numbers[-1].replace(",", "")) if numbers else None


rows = {"direct answer": [direct_answer(direct[p["id"]]) for p in problems],
        "PAL, first sample": [a[0] for a in answers]}
rows.update({f"PAL, vote of {k}": [majority_vote(a[:k]) for a in answers] for k in (3, 5)})
print(f"{len(problems)} problems, {sum(len(a) for a in answers)} stored completions\n")
print("| method | accuracy | answered | accuracy when answered |")
print("|---|---|---|---|")
reports = {name: accuracy_report(predictions, gold) for name, predictions in rows.items()}
for name, r in reports.items():
    print(f"| {name} | {r['accuracy']:.3f} | {r['answered']:.3f} | {r['accuracy_answered']:.3f} |")

extract = REF["extract_program"]
failed = Counter()
for p in problems:
    for c in completions[p["id"]]:
        program = extract(c["text"])
        status = "no program" if program is None else statuses[program]
        if c["kind"] in ("malformed", "hostile"):
            failed[(c["kind"], status)] += 1
print("\nmalformed and hostile samples, by how their run ended:",
      ", ".join(f"{kind} {status}: {n}" for (kind, status), n in sorted(failed.items())))
ties = sum(1 for a in answers if len(Counter(x for x in a if x is not None).most_common(2)) == 2
           and len({n for _, n in Counter(x for x in a if x is not None).most_common(2)}) == 1)
print(f"problems whose five-sample vote is a tie (decided by the earliest answer): {ties}")

ks = range(1, 6)
by_k = [accuracy_report([majority_vote(a[:k]) for a in answers], gold) for k in ks]
fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.8), gridspec_kw={"width_ratios": [1.15, 1]})
names = ["direct answer", "PAL, first sample", "PAL, vote of 5"]
colours = ["C7", "C0", "C2"]
bars = left.bar(range(len(names)), [reports[n]["accuracy"] for n in names], color=colours)
for bar, n in zip(bars, names):
    left.text(bar.get_x() + bar.get_width() / 2, bar.get_height() + 0.02, f"{reports[n]['accuracy']:.3f}",
              ha="center", fontsize=9)
left.set_xticks(range(len(names)))
left.set_xticklabels(["direct\nanswer", "PAL\n1 sample", "PAL\nvote of 5"])
left.set_ylim(0, 1.05)
left.set_ylabel("accuracy")
left.set_title(f"The course's {len(problems)} word problems")
right.plot(list(ks), [r["accuracy"] for r in by_k], marker="o", color="C2", label="accuracy")
right.plot(list(ks), [r["answered"] for r in by_k], marker="s", ls="--", color="C1", label="answered")
right.set_xticks(list(ks))
right.set_xlabel("samples in the vote (k)")
right.set_ylim(0, 1.05)
right.set_title("Self-consistency: majority over k programs")
right.legend(fontsize=8, loc="lower right")
fig.tight_layout()
fig.savefig(Path(__file__).with_suffix(".png"), dpi=110, bbox_inches="tight", metadata={"Software": None})
