"""``rlhf-course``: the course's command line.

    rlhf-course                  overview: every exercise and how far you are (the main job)
    rlhf-course check dpo        grade one exercise (or several, or all with no name); --watch: on every save
    rlhf-course lab dpo          open the exercise as a notebook in JupyterLab
    rlhf-course models           build/show the tiny models and where they are cached
    rlhf-course device           which device the course uses, and why
    rlhf-course quiz             the course quiz in the terminal, explained; --answers FILE grades a sheet
    rlhf-course capstone ...     the whole RLHF loop on the tiny GPT-2: feedback, reward model, PPO, DPO
    rlhf-course figures          re-run lessons/figures/*.py to regenerate the figures (maintainers)
    rlhf-course nbgrader COURSE  write an nbgrader course from solutions/ (instructors)

This module imports torch only inside the commands that need it, so ``--help`` is instant and
grading runs learner code in a sandboxed executor and judges in this process (see ``grader.engine``);
``grader.grading`` streams the results and keeps the overview's memory (``grader.progress``).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from grader import __version__, display
from grader import exercises as registry

PROG = "rlhf-course"


class Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, exit code 2
        self.exit(2, f"{self.prog}: error: {message} (see `{self.prog} --help`)\n")


def usage_error(message: str):
    """A wrong argument: one line on stderr and exit code 2, as argparse does for its own errors."""
    print(f"{PROG}: error: {message}", file=sys.stderr)
    raise SystemExit(2)


# --- grading ---------------------------------------------------------------------------------


def _exercise_ids(ids: list[str]) -> list[str]:
    """The ids asked for, in the order given, or every exercise in course order; a one-line error otherwise."""
    import difflib

    for i in ids:
        if i not in registry.BY_ID:
            close = difflib.get_close_matches(i, registry.BY_ID, n=1, cutoff=0.5)
            guess = f"did you mean {close[0]!r}? " if close else ""
            usage_error(f"unknown exercise {i!r}; {guess}choose from {', '.join(registry.BY_ID)}")
    return ids or list(registry.BY_ID)


def _resolve_jobs(ids: list[str], file: str | None) -> list[tuple[str, str]]:
    if file and len(ids) != 1:
        usage_error("--file needs exactly one exercise name, e.g. `check dpo --file my.ipynb`")
    chosen = [registry.get(i) for i in _exercise_ids(ids)]
    if file:
        if not Path(file).exists():
            usage_error(f"{file} does not exist")
        if Path(file).is_dir():
            usage_error(f"{file} is a folder; give the .py or .ipynb file to grade")
        _refuse_another_exercises_file(chosen[0].id, file)
        return [(chosen[0].id, str(Path(file).resolve()))]
    root = registry.course_root()
    if root is None:
        usage_error("no exercises/ folder found here or above; run inside your clone of the course, or pass --file")
    return [(e.id, str(root / e.stub)) for e in chosen]


def _graded_functions(exercise: str) -> list[str]:
    from grader.engine.judge import load

    try:
        return list(dict.fromkeys(c.functions[0] for c in load(exercise).checks))
    except FileNotFoundError:  # an exercise whose references are not written yet (a maintainer's clone)
        return []


def _refuse_another_exercises_file(exercise: str, file: str) -> None:
    """A file that defines none of this exercise's functions but some of another's was meant for that one."""
    from grader.learner import defined_names

    names = defined_names(file)
    if not names or names & set(_graded_functions(exercise)):
        return
    for other in registry.BY_ID:
        theirs = [f for f in _graded_functions(other) if f in names]
        if other != exercise and theirs:
            shown = ", ".join(theirs[:3]) + (", ..." if len(theirs) > 3 else "")
            usage_error(f"{file} defines none of {exercise}'s functions ({', '.join(_graded_functions(exercise))}) "
                        f"but {other}'s ({shown}): did you mean `{PROG} check {other} --file {file}`?")


def positive_float(text: str) -> float:
    import math

    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (value > 0 and math.isfinite(value)):
        raise argparse.ArgumentTypeError(f"must be a positive number, e.g. 2 for twice as long (got {text!r})")
    return value


def _terminals(args):
    """(out, notes): results go to stdout; with --json, notices and progress go to stderr instead."""
    from grader.terminal import Terminal

    out = Terminal(sys.stdout)
    return out, (Terminal(sys.stderr) if args.json else out)


def cmd_check(args) -> int:
    from grader import grading

    jobs = _resolve_jobs(args.exercises, args.file)
    if args.watch:
        if args.json:
            usage_error("--watch prints for a person; it cannot be combined with --json")
        from grader.watch import watch

        try:
            return watch(jobs, args.device, args.timeout_scale, PROG)
        except grading.WrongRequest as exc:
            usage_error(str(exc))
    out, notes = _terminals(args)
    with grading.Session(args.device, notes) as session:
        try:
            session.start()
            grading.sandbox_notice(session.executor)
            if not args.json:  # the header first, then each check's line as its outcome arrives
                out.line(grading.header(session.executor))
            graded = session.grade(jobs, args.timeout_scale, None if args.json else grading.Printer(out, jobs))
        except grading.WrongRequest as exc:
            usage_error(str(exc))
        except grading.StartFailed as exc:
            print(f"{PROG}: the grader could not start: {exc}", file=sys.stderr)
            if args.json:
                print(grading.json_report(grading.Graded(), display.summarise([], jobs), str(exc)))
            return 1
    grading.remember(graded, jobs, args.device)
    summary = display.summarise(graded.results, jobs)
    ok = grading.all_passed(summary)
    if args.json:
        print(grading.json_report(graded, summary))
        return 0 if ok else 1
    out.line()
    for line in display.table_lines(summary, out.paint):
        out.line(line)
    return 0 if ok else 1


def cmd_status(args) -> int:
    """The overview: each exercise's file graded only if it changed since its last grading."""
    from grader import grading
    from grader import progress as cache

    jobs = _resolve_jobs([], None)
    out, notes = _terminals(args)
    book = cache.Progress()
    keys = {e: cache.key(e, f, args.device) for e, f in jobs}
    stored = {e: book.lookup(e, f, keys[e]) for e, f in jobs}
    todo = [(e, f) for e, f in jobs if stored[e] is None]
    graded = grading.Graded()
    if todo:
        if not args.json:
            out.line(f"Checking {', '.join(e for e, _ in todo)} (new or changed since the last check) ...")
        with grading.Session(args.device, notes) as session:
            try:
                graded = session.grade(todo)
            except grading.WrongRequest as exc:
                usage_error(str(exc))
            except grading.StartFailed as exc:
                print(f"{PROG}: the grader could not start: {exc}", file=sys.stderr)
                return 1
        grading.sandbox_notice(graded)
        grading.remember(graded, todo, args.device, book)
    cached = [e for e, _ in jobs if stored[e] is not None]
    results = [r for e, _ in jobs for r in (stored[e]["results"] if stored[e] else
                                            [r for r in graded.results if r["exercise"] == e])]
    if not graded.device and cached:
        first = stored[cached[0]]
        graded.device, graded.device_reason, graded.sandboxed = first["device"], first["device_reason"], first["sandboxed"]
    summary = display.summarise(results, jobs)
    for e in summary:
        e["cached"] = e["id"] in cached
    if args.json:
        print(grading.json_report(graded, summary))
        return 0
    if todo:
        out.line(grading.header(graded))
    if cached:
        out.line(out.paint(f"{', '.join(cached)}: unchanged since {'its' if len(cached) == 1 else 'their'} last check "
                           f"on {graded.device}, not graded again", "dim"))
    for line in display.table_lines(summary, out.paint):
        out.line(line)
    nxt = next((e for e in summary if display.status_word(e) != "done"), None)
    if nxt:
        out.line(f"\nNext: read {registry.get(nxt['id']).lesson}, implement {nxt['file']}, "
                 f"then run `{PROG} check {nxt['id']}`.")
    else:
        out.line("\nEvery exercise passes. Well done.")
    return 0  # an overview reports progress; unfinished exercises are not an error


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


def cmd_lab(args) -> int:
    from grader import lab

    ids = _exercise_ids(args.exercises) if args.exercises else []
    root = registry.course_root()
    if root is None:
        usage_error("no exercises/ folder found here or above; run inside your clone of the course")
    if not lab.available():
        usage_error("JupyterLab is not installed here: `pip install jupyterlab` (the course's set-up installs it)")
    return lab.launch(root, [registry.get(i).stub for i in ids])


def cmd_quiz(args) -> int:
    """Ask the quiz (or grade an answer sheet) and explain every option; exit 0 iff every answer is right."""
    import json

    from grader import quiz
    from grader.terminal import Terminal

    try:
        chosen = quiz.select(args.lesson)
    except quiz.AnswerError as exc:
        usage_error(str(exc))
    if args.json and args.answers is None:
        usage_error("--json grades an answer sheet: give it with --answers FILE (or --answers - for standard input)")
    out = Terminal(sys.stdout)
    if args.answers is None:
        graded = quiz.ask(chosen, out)
    else:
        try:
            text = sys.stdin.read() if args.answers == "-" else Path(args.answers).read_text(encoding="utf-8")
            graded = quiz.grade(chosen, quiz.parse_sheet(text, chosen))
        except OSError as exc:
            usage_error(f"cannot read the answer sheet {args.answers}: {exc.strerror or exc}")
        except UnicodeDecodeError:
            usage_error(f"{args.answers} is not a text file")
        except quiz.AnswerError as exc:
            usage_error(f"{'standard input' if args.answers == '-' else args.answers}: {exc}")
        if args.json:
            print(json.dumps({"right": sum(g.right for g in graded), "total": len(graded),
                              "questions": [g.to_dict() for g in graded]}, indent=1, ensure_ascii=False))
            return 0 if all(g.right for g in graded) else 1
        for n, g in enumerate(graded, 1):
            out.line()
            for line in [*quiz.question_lines(g.question, n, len(graded)), *quiz.explanation_lines(g, out.paint)]:
                out.line(line)
    out.line()
    out.line(quiz.score_line(graded))
    return 0 if all(g.right for g in graded) else 1


# --- maintainer commands (need a clone of the course) -------------------------------------------


def _clone_root() -> Path:
    root = registry.PACKAGE_DIR.parent
    if not (root / "solutions").is_dir():
        usage_error("this command needs a clone of the course (solutions/ not found)")
    return root


def _needs(module: str, extra: str) -> None:
    """A command that needs an extra the learner's install leaves out: one line that says which."""
    import importlib.util

    if importlib.util.find_spec(module) is None:
        usage_error(f"this command needs {module}, which the learner's install leaves out: "
                    f"pip install -e \".[{extra}]\"")


def cmd_stubs(args) -> int:
    _needs("nbgrader", "instructor")
    from grader.course.stubs import write_stubs

    for path in write_stubs(_clone_root(), _exercise_ids(args.exercises)):
        print(f"wrote {path}")
    return 0


def cmd_refs(args) -> int:
    _clone_root()
    from grader.course.refs import write

    for exercise in _exercise_ids(args.exercises):
        print(f"wrote {write(exercise)}")
    return 0


def cmd_figures(args) -> int:
    from grader.course.figures import main as figures

    return figures(_clone_root() / "lessons" / "figures", args.figures, check=args.check, jobs=args.jobs, prog=PROG)


def _assignment_ids(ids: list[str]) -> list[str]:
    """nbgrader assignments: exercise ids and the quiz, as asked, or every exercise and then the quiz."""
    from grader.quiz import ASSIGNMENT

    if not ids:
        return [*registry.BY_ID, ASSIGNMENT]
    _exercise_ids([i for i in ids if i != ASSIGNMENT])  # an unknown id: a one-line error
    return list(dict.fromkeys(ids))


def cmd_nbgrader(args) -> int:
    _needs("nbgrader", "instructor")
    from grader.course.nbgrader_course import CourseError, points_table, write_course

    if args.points:  # every positional is an exercise id
        args.exercises = [args.course_dir, *args.exercises] if args.course_dir else args.exercises
        print(points_table(_assignment_ids(args.exercises)))
        return 0
    if not args.course_dir:
        args.parser.error("give the COURSE_DIR to write, e.g. `nbgrader my-course` (or --points)")
    ids = _assignment_ids(args.exercises)
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

    text = "overview of the exercises and your progress (the default)"
    s = sub.add_parser("status", help=text, parents=[on_device],
                       description=text + "; an exercise whose file is unchanged since its last check is not "
                       "graded again (its results are remembered). Always exits 0.")
    s.add_argument("--json", action="store_true", help="print a machine-readable report")
    s.set_defaults(func=cmd_status)

    c = sub.add_parser("check", help="grade exercises: `check dpo`, or all with no name", parents=[on_device],
                       description="Grade one exercise, several, or all: each check's line as it finishes. "
                       "Exit code 0 iff every check passes.")
    c.add_argument("exercises", nargs="*", metavar="EXERCISE", help=f"exercise ids: {', '.join(registry.BY_ID)}")
    c.add_argument("--file", help="grade this .py or .ipynb instead of exercises/<id>.py")
    c.add_argument("--json", action="store_true", help="print a machine-readable report")
    c.add_argument("--timeout-scale", type=positive_float, default=1.0, metavar="X",
                   help="multiply every check's time limit by X > 0 (e.g. 3 on a slow machine)")
    c.add_argument("--watch", action="store_true",
                   help="grade again each time the file is saved (one warm grader; Ctrl-C stops)")
    c.set_defaults(func=cmd_check)

    text = "build (if needed) and describe the tiny models and their cache"
    m = sub.add_parser("models", help=text, description=text + ".", parents=[on_device])
    m.add_argument("--seed", type=int, default=0, help="the models' seed (default 0, what the graders use)")
    m.set_defaults(func=cmd_models)

    text = "which device the course uses, and why"
    d = sub.add_parser("device", help=text, description=text + ", and the grading tolerance there.",
                       parents=[on_device])
    d.set_defaults(func=cmd_device)

    text = "open JupyterLab with the exercises as notebooks (each exercises/<id>.py opens as one)"
    j = sub.add_parser("lab", help=text, description=text + ", with the course's Python kernel.")
    j.add_argument("exercises", nargs="*", metavar="EXERCISE", help="open these exercises' notebooks")
    j.set_defaults(func=cmd_lab)

    for name, func, text in (("stubs", cmd_stubs, "regenerate exercises/ from solutions/ (maintainers)"),
                             ("refs", cmd_refs, "regenerate the graders' stored reference outputs (maintainers)")):
        t = sub.add_parser(name, help=text, description=text)
        t.add_argument("exercises", nargs="*", metavar="EXERCISE", help="only these exercises (default: all)")
        t.set_defaults(func=func)

    text = "the course quiz: questions from every lesson, each option explained"
    q = sub.add_parser("quiz", help=text, description=text + ". Asks in the terminal, or grades an answer sheet "
                       "(one '<question id> <letters>' per line, or a JSON object). Exit code 0 iff every answer is right.")
    q.add_argument("--lesson", metavar="ID", help="only this lesson's questions, e.g. ppo")
    q.add_argument("--answers", metavar="FILE", help="grade this answer sheet instead of asking ('-': standard input)")
    q.add_argument("--json", action="store_true", help="print a machine-readable report (with --answers)")
    q.set_defaults(func=cmd_quiz)

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
    n.add_argument("exercises", nargs="*", metavar="ASSIGNMENT",
                   help="exercise ids, or quiz for the course quiz (default: every exercise and the quiz)")
    n.add_argument("--hidden-tests", action="store_true",
                   help="hide each grade cell's grade call from learners (nbgrader hidden tests)")
    n.add_argument("--course-id", default="rlhf-course", help="nbgrader's course id (default: rlhf-course)")
    n.add_argument("--points", action="store_true",
                   help="only print each grade cell's points (positional arguments are then exercise ids)")
    n.set_defaults(func=cmd_nbgrader, parser=n)

    from grader.capstone.cli import add_parser as add_capstone  # torch-free, like this module

    add_capstone(sub, parents=[on_device])
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:  # the overview is the default; top-level options stay before it
        args = parser.parse_args([*(sys.argv[1:] if argv is None else argv), "status"])
    try:
        return args.func(args)
    except BrokenPipeError:  # `rlhf-course status --json | head`: the reader left; so do we, quietly
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1
    except KeyboardInterrupt:
        print(f"\n{PROG}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
