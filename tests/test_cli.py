"""The `rlhf-course` command: overview, check, models, device, version, and bad input."""

import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from grader.cli import build_parser, main

ROOT = Path(__file__).resolve().parent.parent
PROGRESS = os.path.join(tempfile.mkdtemp(prefix="rlhf-course-test-progress-"), "results.json")  # not the user's


def cli(*args, cwd=ROOT, env=None):
    return subprocess.run([sys.executable, "-m", "grader.cli", *args], cwd=cwd, capture_output=True, text=True,
                          env={**os.environ, "RLHF_COURSE_PROGRESS": PROGRESS, **(env or {})}, timeout=600)


def one_line_error(capsys, *argv) -> str:
    """Run the command in this process; it must exit 2 with one line on stderr, which is returned."""
    with pytest.raises(SystemExit) as exit_:
        main(list(argv))
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and len(err.strip().splitlines()) == 1, err
    return err


def test_version_and_help():
    from grader import __version__

    assert cli("--version").stdout.strip() == f"rlhf-course {__version__}"
    out = cli("--help").stdout
    for command in ("status", "check", "models", "device"):
        assert command in out


@pytest.mark.parametrize("args", [["no-such-command"], ["check", "--no-such-flag"], ["models", "--seed", "x"]])
def test_wrong_arguments_give_one_line_and_exit_2(args):
    r = cli(*args)
    assert r.returncode == 2
    assert len(r.stderr.strip().splitlines()) == 1 and "error" in r.stderr


def test_unknown_exercise_and_missing_file():
    r = cli("check", "no_such_exercise")
    assert r.returncode == 2 and "unknown exercise" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    r = cli("check", "dpo", "--file", "does/not/exist.py")
    assert r.returncode == 2 and "does not exist" in r.stderr


def test_device_command_says_why():
    r = cli("device")
    assert r.returncode == 0 and "device: cpu" in r.stdout and "no CUDA or MPS" in r.stdout
    r = cli("--device", "cuda", "device")
    assert r.returncode == 2 and "not available" in r.stderr
    r = cli("--device", "cuda", "check", "dpo")
    assert r.returncode == 2 and "not available" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    r = cli("device", "--device", "cpu")  # after the command too
    assert r.returncode == 0 and "asked for with --device" in r.stdout


def test_models_command_shows_cache_and_models():
    r = cli("models")
    assert r.returncode == 0, r.stderr
    assert "cache:" in r.stdout and "tiny gpt2: GPT2LMHeadModel" in r.stdout and "tiny bert: BertModel" in r.stdout


def test_overview_grades_what_changed_and_remembers_the_rest(tmp_path):
    from grader.engine.judge import load
    from grader.exercises import EXERCISES
    from grader.progress import Progress, key

    (tmp_path / "lessons").mkdir()
    shutil.copytree(ROOT / "exercises", tmp_path / "exercises")
    env = {"RLHF_COURSE_ROOT": str(tmp_path), "RLHF_COURSE_PROGRESS": str(tmp_path / "progress.json")}
    others = [e.id for e in EXERCISES if e.id != "dpo"]
    book = Progress(tmp_path / "progress.json")  # remembered as done: only the cache can say so of a stub
    for e in others:
        file = str(tmp_path / "exercises" / f"{e}.py")
        passed = [{"exercise": e, "check": c.name, "status": "pass", "points": c.points, "max_points": c.points}
                  for c in load(e).checks]
        book.store(e, file, key(e, file, None), passed, "cpu", "no CUDA or MPS GPU found", True)
    book.save()
    first = cli(env=env)
    assert first.returncode == 0, first.stderr
    assert "Checking dpo (new or changed" in first.stdout and "Grading on cpu" in first.stdout
    assert f"{', '.join(others)}: unchanged since their last check" in first.stdout
    table = first.stdout.split("status\n", 1)[1]
    assert all(f"{e} " in table and "done" in table.split(e, 1)[1].splitlines()[0] for e in others)
    assert "not started" in table.split("dpo", 1)[1].splitlines()[0] and "Next:" in first.stdout
    assert "\x1b[" not in first.stdout  # piped: no colour
    again = cli(env=env)  # nothing changed: nothing graded, the same table
    assert again.returncode == 0 and "Checking" not in again.stdout and "Grading on" not in again.stdout
    assert again.stdout.split("status\n", 1)[1] == table
    # A reader that stops early (`status --json | head`) gets no traceback.
    reader = subprocess.Popen([sys.executable, "-m", "grader.cli", "status", "--json"], cwd=ROOT, text=True,
                              env={**os.environ, **env}, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    reader.stdout.close()
    assert reader.wait(timeout=120) == 1 and reader.stderr.read() == ""
    with open(tmp_path / "exercises" / "dpo.py", "a") as f:
        f.write("\n# an edit\n")
    edited = json.loads(cli("status", "--json", env=env).stdout)
    assert {e["id"]: e["cached"] for e in edited["exercises"]} == {e.id: e.id != "dpo" for e in EXERCISES}
    (dpo,) = [e for e in edited["exercises"] if e["id"] == "dpo"]
    assert dpo["total"] > 0 and {c["status"] for c in dpo["checks"]} == {"not_implemented"}


def test_a_progress_file_that_is_corrupt_is_an_empty_cache(tmp_path):
    from grader.progress import Progress, key

    path = tmp_path / "results.json"
    path.write_text("{not json")
    book = Progress(path)
    assert book.entries == {}
    file = tmp_path / "dpo.py"
    file.write_text("x = 1\n")
    digest = key("dpo", str(file), None)
    ok = [{"exercise": "dpo", "check": "dpo_loss", "status": "fail", "hint": "h"}]
    book.store("dpo", str(file), digest, ok, "cpu", "why", True)
    book.store("dpo", "/elsewhere/dpo.py", "k", [{**ok[0], "status": "timeout"}], "cpu", "why", True)  # never kept
    book.save()
    again = Progress(path)
    assert again.lookup("dpo", str(file), digest)["results"] == ok
    assert again.lookup("dpo", "/elsewhere/dpo.py", "k") is None
    file.write_text("x = 2\n")
    assert again.lookup("dpo", str(file), key("dpo", str(file), None)) is None  # the file changed
    helper = tmp_path / "helper.py"  # a helper module the file imports is part of its key
    file.write_text("import helper\n")
    helper.write_text("a = 1\n")
    before = key("dpo", str(file), None)
    helper.write_text("a = 2\n")
    assert key("dpo", str(file), None) != before


def test_check_stub_reference_and_json():
    r = cli("check", "dpo")
    assert r.returncode == 1 and "not implemented yet" in r.stdout and "Traceback" not in r.stdout
    assert r.stdout.startswith("Grading on cpu") and "\x1b[" not in r.stdout  # piped: no colour
    r = cli("check", "dpo", "--file", "solutions/dpo.py", "--json")
    assert r.returncode == 0, r.stdout
    report = json.loads(r.stdout)
    assert report["passed"] and report["exercises"][0]["passed"] == report["exercises"][0]["total"] > 0


def test_check_finds_exercises_from_a_subfolder():
    r = cli("check", "dpo", cwd=ROOT / "lessons")
    assert "exercises/dpo.py" in r.stdout


def test_check_accepts_a_notebook(tmp_path):
    import jupytext

    nb = jupytext.read(ROOT / "solutions" / "dpo.py")
    jupytext.write(nb, tmp_path / "student.ipynb")
    r = cli("check", "dpo", "--file", str(tmp_path / "student.ipynb"), "--json")
    assert r.returncode == 0 and json.loads(r.stdout)["passed"]


# --- small defects: each wrong argument is one line and exit code 2 --------------------------------


@pytest.mark.parametrize("scale", ["-1", "0", "nan", "inf", "fast"])
def test_timeout_scale_must_be_a_positive_number(capsys, scale):
    assert "positive number" in one_line_error(capsys, "check", "dpo", "--timeout-scale", scale)


def test_unknown_exercise_suggests_the_closest(capsys):
    assert "did you mean 'dpo'?" in one_line_error(capsys, "check", "dop")
    assert "did you mean" not in one_line_error(capsys, "check", "zzzzzz")


def test_another_exercises_file_is_refused_with_the_command_meant(capsys):
    err = one_line_error(capsys, "check", "dpo", "--file", str(ROOT / "solutions" / "ppo.py"))
    assert "none of dpo's functions" in err and f"check ppo --file {ROOT / 'solutions' / 'ppo.py'}" in err


def test_every_command_and_option_has_a_help_line():
    parser = build_parser()
    (sub,) = [a for a in parser._actions if a.dest == "command"]
    listed = {a.dest: a.help for a in sub._choices_actions}
    for name, command in sub.choices.items():
        assert listed.get(name) and command.description, name
        for action in command._actions:
            assert action.help, f"{name} {action.option_strings or action.dest}"


def test_the_first_run_says_it_builds_the_tiny_models(monkeypatch):
    from grader import grading, model_cache
    from grader.engine import supervisor
    from grader.terminal import Terminal

    class Started:
        def __init__(self, device=None):
            self.device, self.device_reason, self.proc = "cpu", "a test", object()

        def start(self):
            pass

    monkeypatch.setattr(supervisor, "Executor", Started)
    for built, expected in ((False, True), (True, False)):
        monkeypatch.setattr(model_cache, "built", lambda: built)
        out = io.StringIO()
        grading.Session(None, Terminal(out)).start()
        assert ("Building the tiny GPT-2 and BERT models" in out.getvalue()) is expected


def test_colour_only_on_a_terminal_and_never_with_no_color(monkeypatch):
    from grader.terminal import colour_enabled

    class Tty(io.StringIO):
        def isatty(self):
            return True

    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("TERM", "xterm")
    assert colour_enabled(Tty()) and not colour_enabled(io.StringIO())
    monkeypatch.setenv("NO_COLOR", "1")
    assert not colour_enabled(Tty())
    monkeypatch.delenv("NO_COLOR")
    monkeypatch.setenv("TERM", "dumb")
    assert not colour_enabled(Tty())


def test_a_failure_repeated_check_after_check_is_printed_once():
    from grader.display import check_lines

    load_error = {"exercise": "dpo", "status": "error", "message": "syntax error in dpo.py, line 3: invalid syntax",
                  "hint": "fix the file so that it runs, then check again"}
    first = check_lines({**load_error, "check": "sequence_logps"})
    second = check_lines({**load_error, "check": "dpo_loss"}, previous={**load_error, "check": "sequence_logps"})
    assert any("syntax error" in line for line in first) and any("fix the file" in line for line in first)
    assert len(second) == 1 and "the same as above" in second[0] and "syntax error" not in second[0]
