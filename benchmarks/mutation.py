"""Mutation testing of every grader (grader/course/mutation.py): prints, per exercise, the mutants killed, the survivors
judged equivalent (tests/mutants/<id>.txt) and the others, and the kill rate of the non-equivalent ones.

    python benchmarks/mutation.py                 # every exercise
    python benchmarks/mutation.py dpo --list      # one, listing every survivor
    python benchmarks/mutation.py dpo --hints     # and every catalogued hint a mutant got, for review

Asserts nothing; the goal is a kill rate of at least 98 % for every exercise.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from grader.engine.supervisor import Executor  # noqa: E402
from grader.exercises import EXERCISES  # noqa: E402
from grader.course.mutation import equivalents, misleading, mutants, run  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("exercises", nargs="*", help="exercise ids (default: all)")
    p.add_argument("--list", action="store_true", help="print every surviving mutant")
    p.add_argument("--hints", action="store_true", help="print every catalogued mistake a mutant's hints name")
    args = p.parse_args()
    with Executor() as executor:
        for e in [x for x in EXERCISES if not args.exercises or x.id in args.exercises]:
            start = time.perf_counter()
            found = mutants(e.id)
            known = equivalents(e.id)
            results = run(e.id, found, executor)
            killed = sum(r.killed for r in results)
            survivors = [r for r in results if not r.killed]
            equivalent = [r for r in survivors if r.mutant.id in known]
            live = [r for r in survivors if r.mutant.id not in known]
            stale = sorted(set(known) - {m.id for m in found})
            rate = killed / max(len(found) - len(equivalent), 1)
            print(f"{e.id}: {len(found)} mutants, {killed} killed, {len(equivalent)} equivalent, {len(live)} survived"
                  f"  -> {100 * rate:.1f} % of non-equivalent mutants killed  ({time.perf_counter() - start:.0f} s)")
            wrong_place = [(r, misleading(e.id, r)) for r in results]
            wrong_place = [(r, bad) for r, bad in wrong_place if bad]
            named = sum(bool(r.named) for r in results)
            print(f"  hints: {named} mutants named a catalogued mistake, {len(wrong_place)} of them one in another "
                  f"function (misleading)")
            if args.list:
                for r in live:
                    print(f"  SURVIVED {r.mutant.id}  {r.mutant.description}")
            for r, bad in wrong_place:
                print(f"  MISLEADING {r.mutant.id}  {r.mutant.description}: {'; '.join(bad)}")
            if args.hints:
                for r in results:
                    for check, mistake in r.named:
                        print(f"  HINT {r.mutant.id}  {r.mutant.description}  ->  {check}: {mistake}")
            for mutant_id in stale:
                print(f"  (tests/mutants/{e.id}.txt lists {mutant_id}, which no longer exists)")


if __name__ == "__main__":
    main()
