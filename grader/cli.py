"""``rlhf-course``: the course's command line.

    rlhf-course                  overview: every exercise and how far you are (the main job)
    rlhf-course check dpo        grade one exercise (or several, or all with no name)
    rlhf-course models           build/show the tiny models and where they are cached
    rlhf-course device           which device the course uses, and why
    rlhf-course figures          re-run lessons/figures/*.py to regenerate the figures (maintainers)
    rlhf-course nbgrader COURSE  write an nbgrader course from solutions/ (instructors)

This module imports torch only inside the commands that need it, so ``--help`` is instant and
grading runs learner code in a sandboxed executor and judges in this process (see ``grader.engine``).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from grader import __version__
from grader import exercises as registry

PROG = "rlhf-course"


class Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, exit code 2
        self.exit(2, f"{self.prog}: error: {message} (see `{self.prog} --help`)\n")


def usage_error(message: str):
    """A wrong argument: one line on stderr and exit code 2, as argparse does for its own errors."""
    print(f"{PROG}: error: {message}", file=sys.stderr)
    raise SystemExit(2)


# --- grading --------------------------------------------------------------------------------


def _exercise_ids(ids: list[str]) -> list[str]:
    """The ids asked for, in the order given, or every exercise in course order; a one-line error otherwise."""
    for i in ids:
        if i not in registry.BY_ID:
            usage_error(f"unknown exercise {i!r}; choose from {', '.join(registry.BY_ID)}")
    return ids or list(registry.BY_ID)


def _resolve_jobs(ids: list[str], file: str | None) -> list[tuple[str, str]]:
    if file and len(ids) != 1:
        usage_error("--file needs exactly one exercise name, e.g. `check dpo --file my.ipynb`")
    chosen = [registry.get(i) for i in _exercise_ids(ids)]
    if file:
        if not Path(file).exists():
            usage_error(f"{file} does not exist")
        return [(chosen[0].id, str(Path(file).resolve()))]
    root = registry.course_root()
    if root is None:
        usage_error("no exercises/ folder found here or above; run inside your clone of the course, or pass --file")
    return [(e.id, str(root / e.stub)) for e in chosen]


def _summarise(report, jobs) -> list[dict]:
    out = []
    for exercise, file in jobs:
        results = [r for r in report.results if r["exercise"] == exercise]
        out.append({
            "id": exercise, "title": registry.get(exercise).title, "file": file,
            "passed": sum(r["status"] == "pass" for r in results), "total": len(results),
            "points": sum(r.get("points", 0) for r in results),
            "max_points": sum(r.get("max_points", 1) for r in results),
            "checks": results,
        })
    return out


def _status_word(ex: dict) -> str:
    statuses = {c["status"] for c in ex["checks"]}
    if ex["total"] and ex["passed"] == ex["total"]:
        return "done"
    if statuses <= {"not_implemented"}:
        return "not started"
    return "in progress"


def _print_table(summary: list[dict]) -> None:
    width = max(len("exercise"), *(len(e["id"]) for e in summary)) + 2
    print(f"  {'exercise':<{width}}{'checks passed':<16}status")
    for e in summary:
        print(f"  {e['id']:<{width}}{str(e['passed']) + '/' + str(e['total']):<16}{_status_word(e)}")


MARK = {"pass": "PASS", "fail": "FAIL", "not_implemented": "TODO", "missing": "MISSING",
        "error": "ERROR", "timeout": "TIMEOUT"}


def _print_details(e: dict) -> None:
    print(f"\n{e['id']}: {e['title']}  ({e['file']})")
    for c in e["checks"]:
        print(f"  {MARK.get(c['status'], c['status'].upper()):<8}{c['check']:<22}"
              f"{'passed' if c['status'] == 'pass' else c['message']}")
        if c["status"] in ("fail", "error", "timeout", "missing"):
            for label in ("expected", "got", "hint"):
                if c.get(label):
                    text = str(c[label]).replace("\n", "\n" + " " * 20)
                    print(f"{'':10}{label + ':':<10}{text}")


def cmd_check(args, table_only: bool = False) -> int:
    from grader.engine.sandbox import SandboxUnavailable
    from grader.engine.supervisor import NO_SANDBOX_NOTICE, BadRequest, grade

    jobs = _resolve_jobs(args.exercises, args.file)
    try:
        report = grade(jobs, device=args.device, timeout_scale=args.timeout_scale)
    except BadRequest as exc:
        usage_error(str(exc))
    except SandboxUnavailable as exc:
        usage_error(str(exc))
    if not report.sandboxed and report.sandbox_note:
        print(NO_SANDBOX_NOTICE.format(why=report.sandbox_note), file=sys.stderr)
    summary = _summarise(report, jobs)
    ok = all(e["total"] and e["passed"] == e["total"] for e in summary) and not any(
        r["check"] == "(startup)" for r in report.results)
    if args.json:
        json.dump({"version": __version__, "device": report.device, "sandboxed": report.sandboxed,
                   "passed": ok, "exercises": summary},
                  sys.stdout, indent=2)
        print()
        return 0 if ok else 1
    for r in report.results:
        if r["check"] == "(startup)":
            print(f"{PROG}: the grader could not start: {r['message']}", file=sys.stderr)
    print(f"Grading on {report.device} ({report.device_reason})")
    if not table_only:
        for e in summary:
            _print_details(e)
        print()
    _print_table(summary)
    if table_only:
        nxt = next((e for e in summary if _status_word(e) != "done"), None)
        if nxt:
            print(f"\nNext: read {registry.get(nxt['id']).lesson}, implement {nxt['file']}, "
                  f"then run `{PROG} check {nxt['id']}`.")
        else:
            print("\nEvery exercise passes. Well done.")
        return 0  # an overview reports progress; unfinished exercises are not an error
    return 0 if ok else 1


# --- models and devices ---------------------------------------------------------------------


def cmd_models(args) -> int:
    from grader.tiny_models import cache_dir, load_bert, load_gpt2

    print(f"cache: {cache_dir()}  (set RLHF_COURSE_CACHE to move it)")
    for name, loader in (("gpt2", load_gpt2), ("bert", load_bert)):
        model, tokenizer, device = loader(device=args.device, seed=args.seed)
        n = sum(p.numel() for p in model.parameters())
        c = model.config
        print(f"tiny {name}: {type(model).__name__}, {n:,} parameters, {c.num_hidden_layers} layers, "
              f"hidden {c.hidden_size}, vocab {len(tokenizer)}, on {device}")
        print(f"  {model.name_or_path}")
    return 0


def cmd_device(args) -> int:
    from grader.devices import pick_device, tolerance

    try:
        choice = pick_device(args.device)
    except ValueError as exc:
        usage_error(str(exc))
    import torch

    print(f"device: {choice.device}  ({choice.reason})")
    rtol, atol = tolerance(choice.device, torch.float32)
    print(f"grading tolerance (float32): rtol={rtol:g} atol={atol:g}")
    print("override with --device cpu|cuda|mps or the RLHF_COURSE_DEVICE environment variable")
    return 0


# --- maintainer commands (need a clone of the course) -------------------------------------------


def _clone_root() -> Path:
    root = registry.PACKAGE_DIR.parent
    if not (root / "solutions").is_dir():
        usage_error("this command needs a clone of the course (solutions/ not found)")
    return root


def cmd_stubs(args) -> int:
    from grader.stubs import write_stubs

    for path in write_stubs(_clone_root(), _exercise_ids(args.exercises)):
        print(f"wrote {path}")
    return 0


def cmd_refs(args) -> int:
    _clone_root()
    from grader.refs import write

    for exercise in _exercise_ids(args.exercises):
        print(f"wrote {write(exercise)}")
    return 0


def cmd_figures(args) -> int:
    from grader.figures import main as figures

    return figures(_clone_root() / "lessons" / "figures", args.figures, check=args.check, jobs=args.jobs, prog=PROG)


def cmd_nbgrader(args) -> int:
    from grader.nbgrader_course import CourseError, points_table, write_course

    if args.points:  # every positional is an exercise id
        args.exercises = [args.course_dir, *args.exercises] if args.course_dir else args.exercises
        print(points_table(_exercise_ids(args.exercises)))
        return 0
    if not args.course_dir:
        args.parser.error("give the COURSE_DIR to write, e.g. `nbgrader my-course` (or --points)")
    ids = _exercise_ids(args.exercises)
    try:
        written = write_course(Path(args.course_dir), ids, _clone_root(), args.course_id, args.hidden_tests)
    except CourseError as exc:
        usage_error(str(exc))
    for path in written:
        print(f"wrote {path}")
    print(f"\n{points_table(ids)}\n\nNext, in {args.course_dir}: `nbgrader generate_assignment {ids[0]}`, collect "
          f"submissions into submitted/<student>/{ids[0]}/, then `nbgrader autograde {ids[0]}` "
          f"(see guides/instructors.md).")
    return 0


# --- the parser -----------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    p = Parser(prog=PROG, description="The RLHF course companion: lessons, exercises and graders that run "
               "offline on tiny models. With no command: an overview of the exercises and your progress.")
    p.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    device_help = "cpu, cuda or mps (default: $RLHF_COURSE_DEVICE, else the best available)"
    p.add_argument("--device", help=device_help)
    # Also accepted after the command (`check dpo --device cuda`); SUPPRESS keeps the top-level value otherwise.
    on_device = argparse.ArgumentParser(add_help=False)
    on_device.add_argument("--device", default=argparse.SUPPRESS, help=device_help)
    sub = p.add_subparsers(dest="command", parser_class=Parser, metavar="COMMAND")

    s = sub.add_parser("status", help="overview of the exercises and your progress (the default)",
                       parents=[on_device])
    s.add_argument("--json", action="store_true", help="machine-readable report")
    s.set_defaults(func=lambda a: cmd_check(a, table_only=True), exercises=[], file=None, timeout_scale=1.0)

    c = sub.add_parser("check", help="grade exercises: `check dpo`, or all with no name", parents=[on_device],
                       description="Grade one exercise, several, or all. Exit code 0 iff every check passes.")
    c.add_argument("exercises", nargs="*", metavar="EXERCISE", help=f"exercise ids: {', '.join(registry.BY_ID)}")
    c.add_argument("--file", help="grade this .py or .ipynb instead of exercises/<id>.py")
    c.add_argument("--json", action="store_true", help="print a machine-readable report")
    c.add_argument("--timeout-scale", type=float, default=1.0, help="multiply every check's time limit")
    c.set_defaults(func=cmd_check)

    m = sub.add_parser("models", help="build (if needed) and describe the tiny models and their cache",
                       parents=[on_device])
    m.add_argument("--seed", type=int, default=0)
    m.set_defaults(func=cmd_models)

    d = sub.add_parser("device", help="which device the course uses, and why", parents=[on_device])
    d.set_defaults(func=cmd_device)

    for name, func, text in (("stubs", cmd_stubs, "regenerate exercises/ from solutions/ (maintainers)"),
                             ("refs", cmd_refs, "regenerate the graders' stored reference outputs (maintainers)")):
        t = sub.add_parser(name, help=text, description=text)
        t.add_argument("exercises", nargs="*", metavar="EXERCISE")
        t.set_defaults(func=func)

    text = "re-run lessons/figures/*.py to regenerate the lessons' PNGs (maintainers)"
    f = sub.add_parser("figures", help=text, description=text + "; each script writes <name>.png beside itself.")
    f.add_argument("figures", nargs="*", metavar="NAME", help="only these scripts, e.g. dpo_losses")
    f.add_argument("--check", action="store_true", help="run in a scratch copy; exit 1 if a committed PNG is stale")
    f.add_argument("--jobs", type=int, default=None, help="scripts run at once (default: one per CPU)")
    f.set_defaults(func=cmd_figures)

    text = "write an nbgrader course (config and source notebooks) from solutions/ (instructors)"
    n = sub.add_parser("nbgrader", help=text, description=text + "; then run the stock nbgrader commands, "
                       "see guides/instructors.md. Rewrites nbgrader_config.py and source/<id>/<id>.ipynb only.")
    n.add_argument("course_dir", nargs="?", metavar="COURSE_DIR", help="the nbgrader course directory")
    n.add_argument("exercises", nargs="*", metavar="EXERCISE", help="exercise ids (default: all)")
    n.add_argument("--hidden-tests", action="store_true",
                   help="hide each grade cell's grade call from learners (nbgrader hidden tests)")
    n.add_argument("--course-id", default="rlhf-course", help="nbgrader's course id (default: rlhf-course)")
    n.add_argument("--points", action="store_true",
                   help="only print each grade cell's points (positional arguments are then exercise ids)")
    n.set_defaults(func=cmd_nbgrader, parser=n)
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:  # the overview is the default; top-level options stay before it
        args = parser.parse_args([*(sys.argv[1:] if argv is None else argv), "status"])
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
