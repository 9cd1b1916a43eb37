"""The capstone's training side (grader/capstone/pipeline.py and friends), on a reduced run: simulated feedback
-> reward model -> PPO and DPO -> report, checkpoints with their metadata, reload and continue; which
implementation trains (the learner's only when its file passes its checks); one-line errors in the CLI.

One reduced run (fewer feedback samples and steps than `rlhf-course capstone run`) is shared by the module."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from grader.capstone import checkpoints, implementations, reward
from grader.capstone.pipeline import resume, run
from grader.capstone.settings import DPOConfig, PPOConfig, RunConfig

ROOT = Path(__file__).resolve().parent.parent
PNG = b"\x89PNG\r\n\x1a\n"
KL_BOUND = 15.0  # nats per response: the reduced run's KL stays a few nats; a runaway policy goes far past this


def reduced(out: Path) -> RunConfig:
    return RunConfig(out=out, db=out / "feedback.sqlite", samples_per_prompt=4, feedback_tokens=24, rm_steps=40,
                     eval_per_prompt=8, force_reference=True,
                     ppo=PPOConfig(steps=10, batch_size=16, max_new_tokens=24, lr=5e-4),
                     dpo=DPOConfig(steps=16, batch_size=16, eval_every=8, eval_samples=16, max_new_tokens=24, lr=3e-4))


@pytest.fixture(scope="module")
def done(tmp_path_factory):
    out, threads = tmp_path_factory.mktemp("capstone"), torch.get_num_threads()
    torch.set_num_threads(1)  # as `rlhf-course capstone run` on a small CPU
    try:
        yield out, run(reduced(out))
    finally:
        torch.set_num_threads(threads)


def test_ppo_and_dpo_raise_the_reward_at_a_bounded_kl(done):
    _, summary = done
    ev = summary["evaluation"]
    before = ev["SFT (reference)"]
    assert before["kl"] == pytest.approx(0.0, abs=1e-4)  # the reference against itself
    for name in ("PPO", "DPO"):
        gain = ev[name]["preference_score"] - before["preference_score"]
        # ~1 kind word per answer in practice; 96 responses put the noise of the difference near 0.25
        assert gain > 0.25, f"{name}: the task's score rose by only {gain:+.3f}"
        assert 0.0 < ev[name]["kl"] < KL_BOUND, f"{name}: KL {ev[name]['kl']:.2f} nats"
    assert summary["reward_model"]["held_out_accuracy"] > 0.5


def test_report_plots_and_exported_pairs(done):
    out, summary = done
    text = (out / "report.md").read_text(encoding="utf-8")
    for png in ("ppo.png", "dpo.png"):
        assert f"]({png})" in text and (out / png).read_bytes().startswith(PNG)
    assert "| task preference_score |" in text and "SFT (reference) | PPO | DPO" in text
    assert f"{summary['evaluation']['PPO']['kl']:.3f}" in text  # the numbers are the run's
    assert "reference" in text and "solutions/ppo.py" in text  # which implementation trained
    pairs = [json.loads(line) for line in (out / "pairs.jsonl").read_text().splitlines()]
    assert len(pairs) == summary["feedback"]["pairs"] > 0
    assert {"prompt", "chosen", "rejected"} <= set(pairs[0])
    assert json.loads((out / "summary.json").read_text())["evaluation"] == summary["evaluation"]


def test_checkpoints_carry_their_metadata(done):
    out, _ = done
    for kind in ("reward_model", "ppo", "dpo"):
        folder = out / "checkpoints" / kind
        meta = checkpoints.read_meta(folder)
        assert (folder / "config.json").is_file() and (folder / "model.safetensors").is_file()
        assert meta["kind"] == kind and meta["seed"] == 0
        assert {"torch", "transformers", "rlhf-course"} <= set(meta["versions"])
        assert set(meta["implementations"]) == {"reward_model", "ppo", "dpo"}
        assert meta["hyperparameters"]["rm_steps"] == 40
    assert checkpoints.read_meta(out / "checkpoints" / "ppo")["metrics"]["kl"] > 0
    assert (out / "checkpoints" / "ppo" / checkpoints.VALUE_HEAD).is_file()


def test_the_reward_model_reloads_with_the_same_scores(done):
    out, _ = done
    impl = implementations.choose("reward_model", force_reference=True)
    encode = implementations.reference("reward_model")["encode"]
    model, tokenizer, meta = reward.load(impl, out / "checkpoints" / "reward_model", "cpu")
    pairs = [json.loads(line) for line in (out / "pairs.jsonl").read_text().splitlines()][:8]
    prompts = [p["prompt"] for p in pairs]
    chosen = reward.score(model, tokenizer, encode, prompts, [p["chosen"] for p in pairs])
    rejected = reward.score(model, tokenizer, encode, prompts, [p["rejected"] for p in pairs])
    assert chosen.shape == (8,) and not torch.equal(chosen, rejected)
    accuracy = float((chosen > rejected).float().mean())
    assert accuracy > 0.5  # a reloaded random head would be at chance; these pairs are mostly training pairs


@pytest.mark.parametrize("method", ["ppo", "dpo"])
def test_reload_and_continue(done, method, tmp_path):
    out, _ = done
    before = checkpoints.read_meta(out / "checkpoints" / method)
    meta = resume(out / "checkpoints" / method, steps=2, out=tmp_path / method, force_reference=True)
    assert meta["steps_done"] == before["steps_done"] + 2
    assert [h["step"] for h in meta["history"]][-2:] == [before["steps_done"] + 1, before["steps_done"] + 2]
    assert meta["continued_from"] == str(out / "checkpoints" / method)
    assert (tmp_path / method / checkpoints.OPTIMIZER).is_file()
    old = torch.load(out / "checkpoints" / method / checkpoints.OPTIMIZER, weights_only=True)
    new = torch.load(tmp_path / method / checkpoints.OPTIMIZER, weights_only=True)
    assert new["state"][0]["step"] == old["state"][0]["step"] + (2 * PPOConfig.epochs if method == "ppo" else 2)


def test_the_learners_file_trains_only_when_it_passes(tmp_path, monkeypatch):
    from grader import progress

    monkeypatch.setenv(progress.PROGRESS_ENV, str(tmp_path / "results.json"))
    first = implementations.choose("dpo")
    assert first.source == "reference" and first.path.name == "dpo.py" and "solutions" in str(first.path)
    assert "rlhf-course check dpo" in first.why
    file = str(implementations.course_root() / "exercises" / "dpo.py")
    results = [{"exercise": "dpo", "check": c, "status": s, "hint": None} for c, s in
               (("sequence_logps", "pass"), ("dpo_loss", "pass"), ("dpo_step", "fail"))]
    book = progress.Progress()
    book.store("dpo", file, progress.key("dpo", file, None), results, "cpu", "test", True)
    book.save()
    partial = implementations.choose("dpo")
    assert partial.source == "reference" and "2 of 3" in partial.why
    book.store("dpo", file, progress.key("dpo", file, None), [{**r, "status": "pass"} for r in results], "cpu",
               "test", True)
    book.save()
    passing = implementations.choose("dpo")
    assert passing.source == "yours" and passing.path == Path(file)
    assert implementations.choose("dpo", force_reference=True).source == "reference"


def cli(*args, env_dir: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "grader.cli", "capstone", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=120, env={**__import__("os").environ, "RLHF_CAPSTONE_DIR": str(env_dir)})


def test_bad_input_is_one_line(tmp_path):
    junk = tmp_path / "junk.sqlite"
    junk.write_bytes(b"not a database at all" * 10)
    for args in (["run", "--out", str(tmp_path), "--db", str(junk)], ["continue", str(tmp_path)],
                 ["scale", "--pairs", str(tmp_path / "missing.jsonl")]):
        r = cli(*args, env_dir=tmp_path)
        assert r.returncode == 1 and "Traceback" not in r.stderr, r.stderr
        assert len(r.stderr.strip().splitlines()) == 1 and r.stderr.startswith("rlhf-course capstone: error:")
    assert junk.read_bytes() == b"not a database at all" * 10


def test_ratings_hold_out_whole_prompts_and_each_mode_uses_its_own_pairs():
    from grader.capstone.pipeline import split_feedback

    prompts = [f"prompt {i}" for i in range(10)]
    ratings = [{"prompt": p, "response": f"{p} answer {k}", "rating": 1.0} for p in prompts for k in range(3)]
    pairs = [{"prompt": p, "chosen": f"{p} answer 0", "rejected": f"{p} answer 1", "source": "ratings"} for p in prompts]
    pairs += [{"prompt": p, "chosen": "a", "rejected": "b", "source": "comparison"} for p in prompts]
    train, held, train_ratings = split_feedback(pairs, ratings, "ratings", 0.2, seed=0)
    assert held and all(p["source"] == "ratings" for p in train + held)
    trained_on = {r["response"] for r in train_ratings}
    assert not trained_on & {text for p in held for text in (p["chosen"], p["rejected"])}  # really held out
    assert {p["prompt"] for p in train} | {p["prompt"] for p in held} == set(prompts)
    train, held, train_ratings = split_feedback(pairs, ratings, "comparisons", 0.2, seed=0)
    assert len(train) + len(held) == 10 and all(p["source"] == "comparison" for p in train + held)
    assert train_ratings == []
