"""Learner code runs only in the sandboxed executor; the judge decides in another process.

Cheats (frame walking, patching the grading code at import or in a class body, a helper module beside
the submission, replaying the stored reference observations, reading solutions/) pass no check; the
containment cases (a fork bomb, a 4 GB allocation, a 100 MB print, a socket, writes outside the
scratch folder, a detached child, reading $HOME) each get a clear outcome while the other checks run.
"""

from __future__ import annotations

import builtins
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from grader.engine import sandbox
from grader.engine.supervisor import Executor, grade

ROOT = Path(__file__).resolve().parent.parent
SOLUTION = (ROOT / "solutions" / "dpo.py").read_text()
STUB = (ROOT / "exercises" / "dpo.py").read_text()
SANDBOXED, WHY = sandbox.available()
needs_sandbox = pytest.mark.skipif(not SANDBOXED, reason=f"no sandbox here: {WHY}")


def with_body(text: str, function: str, body: str) -> str:
    """``text`` (the reference or the stub) with ``function``'s body replaced by ``body``."""
    start = text.index(f"def {function}(")
    begin = text.index("### BEGIN SOLUTION", start) if "### BEGIN SOLUTION" in text[start:] else \
        text.index("raise NotImplementedError()", start)
    end_marker = "### END SOLUTION" if "### BEGIN SOLUTION" in text[start:] else "raise NotImplementedError()"
    end = text.index(end_marker, begin) + len(end_marker)
    return text[:begin] + body.strip() + "\n" + text[end:]


@pytest.fixture(scope="module")
def executor():
    with Executor() as ex:
        yield ex


def outcomes(executor, path: Path, scale: float = 1.0) -> dict[str, dict]:
    report = grade([("dpo", str(path))], executor=executor, timeout_scale=scale)
    return {r["check"]: r for r in report.results}


def write(tmp_path: Path, text: str, name: str = "submission.py") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


# --- cheats: a stub (nothing implemented) plus a trick must pass nothing ------------------------------

FAKE = "return torch.zeros(policy_chosen_logps.shape[0]), torch.zeros(4), torch.zeros(4)"

CHEATS = {
    "frame_walking": with_body(STUB, "dpo_loss", """
    import sys
    frame = sys._getframe()
    while frame is not None:  # look for expected values or the comparison up the stack, and disarm it
        for name, value in list(frame.f_globals.items()) + list(frame.f_locals.items()):
            if name in ("close", "compare", "verdict", "allclose"):
                frame.f_globals[name] = lambda *a, **k: True
            if name in ("expected", "ref", "reference") and isinstance(value, dict):
                return tuple(value.get(k) for k in ("losses", "chosen_rewards", "rejected_rewards"))
        frame = frame.f_back
    """ + FAKE),
    "patch_in_class_body": STUB.replace("torch.manual_seed(0)\n", """torch.manual_seed(0)


class _Patch:
    import grader.checking as checking
    import grader.engine.judge as judge
    import numpy
    judge.close = lambda *a, **k: True
    judge.verdict = lambda exercise, check, reply, device: judge.Outcome(exercise, check, "pass", points=9)
    checking.expect_tensor = lambda name, x, shape, what="output": x
    numpy.allclose = lambda *a, **k: True
""", 1),
    "replay_stored_reference": with_body(STUB.replace("import copy\n", f"import copy\nREPO = {str(ROOT)!r}\n", 1), "dpo_loss", """
    import os, numpy, torch, grader
    from grader.checks.dpo import WEIGHTS
    stored = os.path.join(grader.__path__[0], "reference", "dpo.npz")
    for path in (stored, "/proc/1/root" + stored, "/proc/self/root" + stored, REPO + "/grader/reference/dpo.npz"):
        if not os.path.exists(path):
            continue
        data = numpy.load(path)
        def obs(key):
            return torch.tensor(data[f"checks/dpo_loss/{key}"]).to(policy_chosen_logps.dtype)
        w = WEIGHTS[: policy_chosen_logps.shape[0]]  # the check differentiates sum(w * losses): graft w-scaled grads
        graft = sum((x - x.detach()) * obs(g) / w for x, g in ((policy_chosen_logps, "grad_policy_chosen"),
                    (policy_rejected_logps, "grad_policy_rejected"), (ref_chosen_logps, "grad_ref_chosen")))
        extreme = bool(policy_chosen_logps.abs().max() > 500)
        return (obs("losses_extreme" if extreme else "losses") + graft, obs("chosen_rewards"), obs("rejected_rewards"))
    """ + FAKE),
    "read_solutions": with_body(STUB, "dpo_loss", """
    import os, grader
    from pathlib import Path
    for root in (Path(grader.__file__).parent.parent, Path.cwd(), Path(os.environ.get("RLHF_COURSE_ROOT", "/nowhere"))):
        source = root / "solutions" / "dpo.py"
        if source.exists():
            ns = {}
            exec(source.read_text(), ns)
            return ns["dpo_loss"](policy_chosen_logps, policy_rejected_logps, ref_chosen_logps,
                                  ref_rejected_logps, beta, label_smoothing, loss_type)
    """ + FAKE),
}


def _assert_nothing_passes(results: dict[str, dict]) -> None:
    assert results and not any(r["status"] == "pass" for r in results.values()), results
    assert sum(r["points"] for r in results.values()) == 0


@pytest.mark.parametrize("cheat", sorted(CHEATS))
def test_a_cheat_passes_no_check(executor, tmp_path, cheat):
    _assert_nothing_passes(outcomes(executor, write(tmp_path, CHEATS[cheat])))


def test_a_helper_module_beside_the_submission_changes_nothing(executor, tmp_path):
    (tmp_path / "helper.py").write_text(
        "import grader.engine.judge as judge, grader.checking as checking\n"
        "judge.close = lambda *a, **k: True\n"
        "checking.expect_tensor = lambda name, x, shape, what='output': x\n")
    path = write(tmp_path, STUB.replace("import copy\n", "import copy\nimport helper\n", 1))
    results = outcomes(executor, path)
    _assert_nothing_passes(results)
    assert results["dpo_loss"]["status"] == "not_implemented"  # helper imported fine: the stub is just empty


def test_cheats_pass_nothing_through_the_cli_and_pytest(tmp_path):
    path = write(tmp_path, CHEATS["patch_in_class_body"])
    r = subprocess.run([sys.executable, "-m", "grader.cli", "check", "dpo", "--file", str(path), "--json"],
                       capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert r.returncode == 1
    _assert_nothing_passes({c["check"]: c for c in json.loads(r.stdout)["exercises"][0]["checks"]})
    r = subprocess.run([sys.executable, "-m", "pytest", "--pyargs", "grader.learner_checks", "-q", "-p",
                        "no:cacheprovider", "-m", "dpo", "--exercise-file", str(path)],
                       capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert r.returncode == 1 and "4 failed" in r.stdout and "passed" not in r.stdout.splitlines()[-1]


@pytest.mark.parametrize("unsandboxed", [False, True], ids=["sandboxed", "unsandboxed"])
def test_the_judges_process_never_runs_learner_code(tmp_path, monkeypatch, unsandboxed):
    """Even without a sandbox, the learner's code runs in another process: its side effects never show here."""
    if unsandboxed:
        monkeypatch.setenv(sandbox.DISABLE_ENV, "1")
        sandbox.available.cache_clear()
    marker = tmp_path / "ran-in-the-judge"
    path = write(tmp_path, SOLUTION.replace("torch.manual_seed(0)\n", f"""torch.manual_seed(0)


class _SideEffect:
    import builtins, os
    builtins.__graded_by_me__ = os.getpid()
    os.environ["RLHF_COURSE_SIDE_EFFECT"] = "1"
    open({str(marker)!r}, "w").write(str(os.getpid())) if {unsandboxed!r} else None
""", 1))
    try:
        report = grade([("dpo", str(path))])
    finally:
        sandbox.available.cache_clear()
    assert report.sandboxed is not unsandboxed
    assert all(r["status"] == "pass" for r in report.results), report.results  # the side effect itself is harmless
    assert not hasattr(builtins, "__graded_by_me__") and "RLHF_COURSE_SIDE_EFFECT" not in os.environ
    if unsandboxed:  # it did run, elsewhere
        assert marker.exists() and int(marker.read_text()) != os.getpid()


# --- containment: each misbehaviour is one check's clear outcome; the others still pass -------------


def _others_pass(results: dict[str, dict], bad: str) -> None:
    assert all(r["status"] == "pass" for name, r in results.items() if name not in (bad, "dpo_step")), results


@needs_sandbox
def test_a_fork_bomb_is_contained(executor, tmp_path):
    body = """
    import os
    while True:
        try:
            os.fork()
        except OSError:
            pass
    """
    results = outcomes(executor, write(tmp_path, with_body(SOLUTION, "sequence_logps", body)), scale=0.05)
    assert results["sequence_logps"]["status"] in ("timeout", "error")
    _others_pass(results, "sequence_logps")
    assert not _sandbox_processes(executor)


@needs_sandbox
def test_a_4gb_allocation_is_refused(executor, tmp_path):
    body = "big = torch.ones(1 << 30)  # 4 GiB of float32\n    return big[:3]"
    results = outcomes(executor, write(tmp_path, with_body(SOLUTION, "sequence_logps", body)))
    r = results["sequence_logps"]
    assert r["status"] == "error" and ("memory" in r["message"].lower() or "alloc" in r["message"].lower()), r
    _others_pass(results, "sequence_logps")


def test_a_100mb_print_does_not_flood_anything(executor, tmp_path):
    body = 'print("x" * 100_000_000)\n    ' + SOLUTION.split("### BEGIN SOLUTION", 2)[1].split("### END SOLUTION")[0].strip()
    results = outcomes(executor, write(tmp_path, with_body(SOLUTION, "sequence_logps", body)))
    assert results["sequence_logps"]["status"] == "pass"
    assert all(len(json.dumps(r)) < 10_000 for r in results.values())


@needs_sandbox
def test_no_network_not_even_loopback(executor, tmp_path):
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    server.settimeout(0.2)
    port = server.getsockname()[1]
    body = f"import socket\n    socket.create_connection(('127.0.0.1', {port}), timeout=2)\n    return logits[:, 0, 0]"
    try:
        results = outcomes(executor, write(tmp_path, with_body(SOLUTION, "sequence_logps", body)))
        with pytest.raises(socket.timeout):
            server.accept()
    finally:
        server.close()
    r = results["sequence_logps"]
    assert r["status"] == "error" and ("Errno" in r["message"] or "unreachable" in r["message"].lower()), r
    _others_pass(results, "sequence_logps")


@needs_sandbox
def test_writes_outside_the_scratch_folder_fail(executor, tmp_path):
    targets = [tmp_path / "escaped.txt", ROOT / "exercises" / "escaped.txt", Path(sandbox.__file__).parent / "x.py"]
    body = "\n    ".join(["import os", "written = []", f"for t in {[str(t) for t in targets]!r}:",
                        "    try:", "        open(t, 'w').write('x'); written.append(t)", "    except OSError:",
                        "        pass", "open('/tmp/scratch-is-fine.txt', 'w').write('ok')",
                        "assert not written, written", "raise PermissionError('no write outside /tmp')"])
    results = outcomes(executor, write(tmp_path, with_body(SOLUTION, "sequence_logps", body)))
    assert results["sequence_logps"]["status"] == "error"
    assert "no write outside /tmp" in results["sequence_logps"]["message"], results["sequence_logps"]
    assert not any(t.exists() for t in targets)
    _others_pass(results, "sequence_logps")


@needs_sandbox
def test_a_detached_child_dies_with_its_submission(executor, tmp_path):
    body = """
    import os, time
    if os.fork() == 0:
        os.setsid()
        if os.fork() == 0:
            while True:
                time.sleep(0.1)
        os._exit(0)
    """ + SOLUTION.split("### BEGIN SOLUTION", 2)[1].split("### END SOLUTION")[0].strip()
    results = outcomes(executor, write(tmp_path, with_body(SOLUTION, "sequence_logps", body)))
    assert results["sequence_logps"]["status"] == "pass"
    assert not _sandbox_processes(executor)  # killed when the submission closed, while the executor lives on


@needs_sandbox
def test_home_and_the_course_are_not_readable(executor, tmp_path):
    secret = Path.home() / ".rlhf-course-test-secret"
    secret.write_text("the host's secret")
    try:
        paths = [str(secret), str(ROOT / "solutions" / "dpo.py"), str(ROOT / "tests" / "mistakes" / "dpo.py")]
        body = "\n    ".join(["found = []", f"for p in {paths!r}:", "    try:", "        found.append(open(p).read()[:20])",
                            "    except OSError:", "        pass", "raise RuntimeError(f'read {len(found)} files')"])
        results = outcomes(executor, write(tmp_path, with_body(SOLUTION, "sequence_logps", body)))
    finally:
        secret.unlink()
    assert "read 0 files" in results["sequence_logps"]["message"], results["sequence_logps"]
    _others_pass(results, "sequence_logps")


def test_an_infinite_loop_times_out_and_the_executor_stays_warm(executor, tmp_path):
    results = outcomes(executor, write(tmp_path, with_body(SOLUTION, "dpo_loss", "while True:\n        pass")), 0.05)
    assert results["dpo_loss"]["status"] == "timeout" and results["sequence_logps"]["status"] == "pass"
    results = outcomes(executor, write(tmp_path, SOLUTION, "next.py"))
    assert all(r["status"] == "pass" for r in results.values()), results


def test_a_learners_traceback_shows_their_own_path(executor, tmp_path):
    path = write(tmp_path, with_body(SOLUTION, "sequence_logps", "return logits.sum(-1).sum(-1) @ input_ids"))
    r = outcomes(executor, path)["sequence_logps"]
    assert r["status"] == "error" and str(path) in r["got"] and "/submission/" not in r["got"]


def test_require_sandbox_refuses_to_run_without_one(monkeypatch):
    monkeypatch.setenv(sandbox.DISABLE_ENV, "1")
    sandbox.available.cache_clear()
    try:
        with pytest.raises(sandbox.SandboxUnavailable):
            Executor(require_sandbox=True).start()
    finally:
        sandbox.available.cache_clear()


def _sandbox_processes(executor) -> list[str]:
    """Host processes owned by the sandbox's uid (learner processes and anything they started); the uid is this
    sandbox's own, so other sandboxes running at the same time do not count."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if os.stat(f"/proc/{entry}").st_uid == executor.uid:
                    found.append(entry)
            except OSError:
                pass
    return found if sandbox.privileged() else []


def test_observations_survive_the_wire_with_their_shape_and_dtype():
    import numpy as np

    from grader.engine import wire

    for a in (np.array(0.4), np.arange(6, dtype=np.int64).reshape(2, 3), np.ones((3, 1), np.float32).T,
              np.array([True, False]), np.zeros((0, 4))):
        b = wire.decode(json.loads(json.dumps(wire.encode(a))))
        assert b.shape == a.shape and b.dtype == a.dtype and np.array_equal(a, b)
    for bad in ({"dtype": "object", "shape": [1], "data": ""}, {"dtype": "float32", "shape": [2], "data": "AAAA"},
                {"dtype": "float32", "shape": [-1], "data": ""}, [1, 2]):
        with pytest.raises(wire.BadObservation):
            wire.decode(bad)


def test_the_replay_cheat_is_real_and_only_the_sandbox_stops_it(tmp_path, monkeypatch):
    """Without the sandbox's view the stored observations are readable and the replay passes dpo_loss:
    so the cheat above is a real one, and what defeats it is the sandbox (the guide says as much)."""
    monkeypatch.setenv(sandbox.DISABLE_ENV, "1")
    sandbox.available.cache_clear()
    try:
        report = grade([("dpo", str(write(tmp_path, CHEATS["replay_stored_reference"])))])
    finally:
        sandbox.available.cache_clear()
    results = {r["check"]: r for r in report.results}
    assert not report.sandboxed and results["dpo_loss"]["status"] == "pass", results["dpo_loss"]


# --- found by an independent red team: each was a break before it was fixed --------------------------


def test_a_symlink_beside_the_submission_is_not_followed(executor, tmp_path):
    (tmp_path / "answers.py").symlink_to(ROOT / "solutions" / "dpo.py")
    path = write(tmp_path, STUB.replace("import copy\n", "import copy\nfrom answers import dpo_loss as _ref\n", 1)
                 .replace("def dpo_loss(", "def _unused(", 1).replace("_ref", "dpo_loss"))
    results = outcomes(executor, path)
    _assert_nothing_passes(results)
    assert "No module named 'answers'" in results["dpo_loss"]["message"]


HOSTILE_REPLIES = [
    {"failed": {"status": ["pass"], "message": ["x"], "mistake": ["no_shift"], "hint": {"a": 1}}},
    {"failed": {"status": "pass", "mistake": {"x": 1}}, "seconds": 1e308},
    {"observed": {"losses": {"dtype": "object", "shape": [1], "data": ""}}},
    {"observed": [1, 2, 3], "seconds": "soon"},
    {"failed": {}, "seconds": 10 ** 400},
    {"observed": {"losses": {"dtype": "float32", "shape": [4], "data": "\u00e9"}}},
    "not even a dict",
]


@pytest.mark.parametrize("reply", HOSTILE_REPLIES, ids=range(len(HOSTILE_REPLIES)))
def test_a_hostile_reply_is_a_failed_check_not_a_judge_crash(reply):
    from grader.engine import judge

    outcome = judge.verdict("dpo", "dpo_loss", reply, "cpu")
    assert outcome.status != "pass" and outcome.points == 0
    assert outcome.mistake is None and 0 <= outcome.seconds < 1e6


HIJACK = '''

class _Hijack:
    import os
    for fd in range(3, 64):  # the learner process's end of the socket to the zygote, whatever its number
        try:
            os.write(fd, b"[" * 200000 + b"\\n")
        except OSError:
            pass
'''


def test_garbage_on_the_executors_socket_costs_only_that_submission(executor, tmp_path):
    results = outcomes(executor, write(tmp_path, SOLUTION + HIJACK))
    assert not any(r["status"] == "pass" for r in results.values())
    results = outcomes(executor, write(tmp_path, SOLUTION, "next.py"))  # the same warm executor, still sound
    assert all(r["status"] == "pass" for r in results.values()), results


@needs_sandbox
def test_one_submissions_scratch_files_are_gone_for_the_next(executor, tmp_path):
    leave = with_body(SOLUTION, "sequence_logps", "open('/tmp/left-behind', 'w').write('x')\n    " +
                      SOLUTION.split("### BEGIN SOLUTION", 2)[1].split("### END SOLUTION")[0].strip())
    assert outcomes(executor, write(tmp_path, leave))["sequence_logps"]["status"] == "pass"
    look = with_body(SOLUTION, "sequence_logps", "import os\n    assert not os.path.exists('/tmp/left-behind')\n    " +
                     SOLUTION.split("### BEGIN SOLUTION", 2)[1].split("### END SOLUTION")[0].strip())
    assert outcomes(executor, write(tmp_path, look, "next.py"))["sequence_logps"]["status"] == "pass"


def test_memory_is_capped_for_the_whole_sandbox_not_per_process(tmp_path):
    """Three children of 1.25 GiB each fit every per-process limit (here 1.5 GiB beyond the executor's own memory,
    and a whole-sandbox cap of 1.5 + 2 GiB); the sandbox's cgroup lets some, not all, live at once."""
    body = """
    import os, time
    pids = []
    for _ in range(3):
        pid = os.fork()
        if pid == 0:
            block = bytearray(5 << 28)  # 1.25 GiB, zero-filled: every page is touched
            time.sleep(2)
            os._exit(0)
        pids.append(pid)
    survived = sum(os.waitpid(p, 0)[1] == 0 for p in pids)
    raise RuntimeError(f"{survived} of 3 children allocated 1.25 GiB at once")
    """
    with Executor(limits=sandbox.Limits(memory_bytes=3 << 29)) as small:
        if small.cgroup is None:
            pytest.skip("no writable cgroup on this machine: only the per-process limits apply")
        results = outcomes(small, write(tmp_path, with_body(SOLUTION, "sequence_logps", body)))
    r = results["sequence_logps"]
    assert r["status"] == "error" and ("1 of 3" in r["message"] or "2 of 3" in r["message"]), r
    _others_pass(results, "sequence_logps")
