"""The `rlhf-course` command: overview, check, models, device, version, and bad input."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def cli(*args, cwd=ROOT, env=None):
    return subprocess.run([sys.executable, "-m", "grader.cli", *args], cwd=cwd, capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=600)


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


def test_overview_lists_every_exercise_and_exits_0():
    from grader.exercises import EXERCISES

    r = cli()
    assert r.returncode == 0, r.stderr
    for e in EXERCISES:
        assert e.id in r.stdout
    assert "Next:" in r.stdout


def test_check_stub_reference_and_json():
    r = cli("check", "dpo")
    assert r.returncode == 1 and "not implemented yet" in r.stdout and "Traceback" not in r.stdout
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
