"""Learner code that loops, kills the interpreter, floods stdout, or does not parse: each gets a clear
outcome, and the other checks still run. Graded as `rlhf-course check` grades (the same supervisor, here
with one warm executor for the module; the command line itself is tested in test_cli.py)."""

from pathlib import Path

import pytest

from grader.engine.supervisor import Executor, grade

ROOT = Path(__file__).resolve().parent.parent
SOLUTION = (ROOT / "solutions" / "dpo.py").read_text()
EXECUTOR = None


@pytest.fixture(scope="module", autouse=True)
def warm_executor():
    global EXECUTOR
    with Executor() as EXECUTOR:
        yield


def check_json(path, *extra):
    """(exit code as `check` would give it, {check: outcome})."""
    scale = float(extra[extra.index("--timeout-scale") + 1]) if "--timeout-scale" in extra else 1.0
    results = {r["check"]: r for r in grade([("dpo", str(path))], executor=EXECUTOR, timeout_scale=scale).results}
    return (0 if all(r["status"] == "pass" for r in results.values()) else 1), results


def with_body(tmp_path, function, body):
    """The reference with `function`'s body replaced by `body` (indented code)."""
    start = SOLUTION.index(f"def {function}(")
    begin = SOLUTION.index("### BEGIN SOLUTION", start)
    end = SOLUTION.index("### END SOLUTION", begin) + len("### END SOLUTION")
    path = tmp_path / "submission.py"
    path.write_text(SOLUTION[:begin] + body.strip() + "\n" + SOLUTION[end:])
    return path


def test_infinite_loop_times_out_and_the_rest_is_graded(tmp_path):
    path = with_body(tmp_path, "sequence_logps", "while True:\n        pass")
    code, checks = check_json(path, "--timeout-scale", "0.05")
    assert code == 1
    assert checks["sequence_logps"]["status"] == "timeout" and "infinite loop" in checks["sequence_logps"]["hint"]
    assert checks["dpo_loss"]["status"] == "pass" and checks["dpo_loss_variants"]["status"] == "pass"


def test_interpreter_exit_is_reported_and_the_rest_is_graded(tmp_path):
    path = with_body(tmp_path, "dpo_loss", "import os\n    os._exit(3)")
    code, checks = check_json(path)
    assert checks["dpo_loss"]["status"] == "error" and "died" in checks["dpo_loss"]["message"]
    assert checks["sequence_logps"]["status"] == "pass"
    assert checks["dpo_step"]["status"] in ("error", "fail")  # it calls dpo_loss, which exits


def test_megabytes_of_output_do_not_flood_the_report(tmp_path):
    body = 'print("x" * 5_000_000)\n    ' + SOLUTION.split("### BEGIN SOLUTION", 2)[1].split("### END SOLUTION")[0].strip()
    path = with_body(tmp_path, "sequence_logps", body)
    code, checks = check_json(path)
    assert code == 0 and checks["sequence_logps"]["status"] == "pass"


def test_learner_exception_shows_the_learners_line(tmp_path):
    path = with_body(tmp_path, "sequence_logps", "return logits.sum(-1).sum(-1) @ input_ids")
    code, checks = check_json(path)
    c = checks["sequence_logps"]
    assert c["status"] == "error" and str(path) in c["got"] and "@ input_ids" in c["got"]
    assert "grader/checking.py" not in c["got"]


def test_syntax_error_is_one_clear_message(tmp_path):
    path = tmp_path / "broken.py"
    path.write_text(SOLUTION.replace("def dpo_loss(", "def dpo_loss(((", 1))
    code, checks = check_json(path)
    assert code == 1 and all(c["status"] == "error" for c in checks.values())
    assert "syntax error" in checks["dpo_loss"]["message"]


def test_a_notebook_that_is_not_json(tmp_path):
    path = tmp_path / "broken.ipynb"
    path.write_text("{ this is not json")
    code, checks = check_json(path)
    assert code == 1 and "not a readable notebook" in checks["dpo_step"]["message"]


def test_nan_and_wrong_shapes_are_named(tmp_path):
    path = with_body(tmp_path, "sequence_logps", "return logits.sum(-1)")
    _, checks = check_json(path)
    assert checks["sequence_logps"]["status"] == "fail" and "shape" in checks["sequence_logps"]["message"]
    path = with_body(tmp_path, "sequence_logps", "return logits[:, 0, 0] * float('nan')")
    _, checks = check_json(path)
    assert "NaN" in checks["sequence_logps"]["message"]


def test_a_changed_signature_is_named_not_blamed_on_the_grader(tmp_path):
    path = tmp_path / "submission.py"
    path.write_text(SOLUTION.replace("    policy_chosen_logps: torch.Tensor,\n",
                                     "    policy_chosen_logps: torch.Tensor,\n    extra_arg,\n", 1))
    _, checks = check_json(path)
    c = checks["dpo_loss"]
    assert c["status"] == "fail" and "cannot be called as the exercise specifies" in c["message"]
    assert "extra_arg" in c["got"] and "signature" not in c["got"] and "checking.py" not in c["got"]


def test_a_name_set_by_a_skipped_statement_gets_an_explanation(tmp_path):
    path = with_body(tmp_path, "dpo_loss", "return SHIFT + 1")
    path.write_text(path.read_text() + "\nSHIFT = torch.zeros(1)\n")
    _, checks = check_json(path)
    c = checks["dpo_loss"]
    assert c["status"] == "error" and "NameError" in c["message"]
    assert "SHIFT" in c["hint"] and "only imports, functions, classes and constant assignments" in c["hint"]
