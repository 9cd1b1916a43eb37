"""The PAL grader against the reference, the stub, the catalogue of mistakes and alternatives; the shipped problems
and completions (each sample is what its kind says); and the lesson's accuracy table, from the figure script."""

import ast
import os
import shutil
import subprocess
import sys

import pytest

from grader.engine import programs
from grader.pal_data import load_completions, load_direct, load_examples, load_problems
from tests.grader_meta import make_meta_tests
from tests.reference import ROOT, solution

(test_reference_passes_every_check, test_stub_is_not_implemented, test_mistake_fails_with_its_hint,
 test_alternative_implementation_passes) = make_meta_tests("pal")

REF = solution("pal")


def test_problems_and_completions_are_well_formed():
    problems, completions, direct = load_problems(), load_completions(), load_direct()
    ids = [p["id"] for p in problems]
    assert len(set(ids)) == len(ids) and 20 <= len(ids) <= 30
    assert set(completions) == set(ids) == set(direct)
    assert all(len(completions[i]) >= 4 for i in ids)
    kinds = {c["kind"] for cs in completions.values() for c in cs}
    assert kinds == {"right", "wrong", "malformed", "hostile"}
    assert all(isinstance(p["answer"], (int, float)) for p in problems)
    assert len(load_examples()) >= 2


def test_every_sample_is_what_its_kind_says():
    """What extract_program finds: a program in each 'right' and 'wrong' sample; a malformed one holds no program,
    one that does not compile, or a solution() that never returns; a hostile one is a program."""
    for cs in load_completions().values():
        for c in cs:
            program = REF["extract_program"](c["text"])
            if c["kind"] != "malformed":
                assert program and "print(solution())" in program, c
                continue
            if program is None:
                continue
            try:
                tree = ast.parse(program)
            except SyntaxError:
                continue
            assert not any(isinstance(node, ast.Return) for node in ast.walk(tree)), c


@pytest.mark.slow
@pytest.mark.skipif(not programs.available()[0], reason=f"model-written programs cannot run here: "
                                                        f"{programs.available()[1]}")
def test_the_lesson_quotes_what_the_figure_script_measures(tmp_path):
    """The figure script, run in a scratch copy (so that the course's PNG stays as it is), prints the accuracy
    table and the breakdown of failed runs; the lesson quotes every row of the table."""
    shutil.copy(ROOT / "lessons" / "figures" / "pal_accuracy.py", tmp_path)
    done = subprocess.run([sys.executable, "pal_accuracy.py"], cwd=tmp_path, capture_output=True, text=True,
                          timeout=300, env={**os.environ, "MPLBACKEND": "Agg"})
    assert done.returncode == 0, done.stderr[-2000:]
    rows = [line for line in done.stdout.splitlines() if line.startswith("| ") and "method" not in line]
    lesson = (ROOT / "lessons" / "pal.md").read_text()
    assert len(rows) == 4 and all(row in lesson for row in rows), rows
    assert (tmp_path / "pal_accuracy.png").is_file()


@pytest.mark.slow
def test_a_causal_lm_loads_from_a_local_folder(tmp_path):
    """The notebook's optional live path: a model saved with save_pretrained loads from its folder, offline."""
    from grader import load_gpt2
    from grader.pal_data import load_lm

    model, tokenizer, _ = load_gpt2(device="cpu")
    model.save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    loaded, loaded_tokenizer = load_lm(str(tmp_path), device="cpu")
    assert not loaded.training and loaded_tokenizer("6 * 7")["input_ids"] == tokenizer("6 * 7")["input_ids"]
    assert loaded.config.n_layer == model.config.n_layer
