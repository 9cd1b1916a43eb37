"""The capstone end to end: feedback -> reward model -> PPO and DPO -> before/after report, and continuing a
checkpoint. ``rlhf-course capstone run`` and ``rlhf-course capstone continue`` call ``run`` and ``resume``.

Every stage uses the exercises' functions (the learner's when they pass their checks, else the reference;
``grader.capstone.implementations``), and the run is seeded: the same command gives the same numbers on the
same machine and library versions.
"""

from __future__ import annotations

import copy
import json
import os
import random
import sys
import time
from pathlib import Path

import torch

from grader.capstone import checkpoints, metrics, report, reward
from grader.capstone.rollout import sample
from grader.capstone.settings import DPOConfig, PPOConfig, RunConfig

RATING_TARGET = {1: 1.0, 2: 0.5, 3: 0.0}  # good / neutral / bad as the rating loss's targets in [0, 1]


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def load_average() -> float | None:
    """The machine's 1-minute load average (other work slows the run); None where the OS has none."""
    return os.getloadavg()[0] if hasattr(os, "getloadavg") else None


# --- stages -------------------------------------------------------------------------------------------


def collect_feedback(store, policy, tokenizer, prompts, labeller, cfg: RunConfig) -> int:
    """Sample completions of the training prompts and have ``labeller`` compare (or rate) them into ``store``;
    items already in the store are not asked again. Returns how many new answers were stored."""
    from grader.capstone.labellers import label_samples
    from grader.capstone.policy import generate

    completions = generate(policy, tokenizer, list(prompts), n_per_prompt=cfg.samples_per_prompt,
                           max_new_tokens=cfg.feedback_tokens, seed=cfg.seed)
    mode = "ratings" if cfg.feedback == "ratings" else "comparisons"
    return sum(label_samples(store, labeller, list(prompts), completions, mode).values())


def split(items: list, fraction: float, seed: int) -> tuple[list, list]:
    """(train, held out), shuffled with ``seed``; at least one held-out item when there are two or more."""
    items = list(items)
    random.Random(seed).shuffle(items)
    n = max(1, round(len(items) * fraction)) if len(items) > 1 and fraction > 0 else 0
    return items[n:], items[:n]


def split_feedback(pairs: list[dict], ratings: list[dict], feedback: str, fraction: float, seed: int):
    """(training pairs, held-out pairs, training ratings) for ``feedback`` ("comparisons" or "ratings"); only the
    pairs of that kind are used. Pairs made from ratings are built from rated completions, so ratings hold out
    whole prompts: no held-out pair's completion is one the reward model trained on."""
    pairs = [p for p in pairs if (p.get("source") == "ratings") == (feedback == "ratings")]
    if feedback != "ratings":
        train, held = split(pairs, fraction, seed)
        return train, held, []
    _, held_prompts = split(sorted({p["prompt"] for p in pairs}), fraction, seed)
    held_out = set(held_prompts)
    return ([p for p in pairs if p["prompt"] not in held_out], [p for p in pairs if p["prompt"] in held_out],
            [r for r in ratings if r["prompt"] not in held_out])


def rating_examples(store) -> list[dict]:
    return [{"prompt": r["prompt"], "response": r["completion"], "rating": RATING_TARGET[r["rating"]]}
            for r in store.ratings()]


def implementation_notes(impls: dict) -> dict[str, str]:
    return {e: f"{i.source} `{i.path}` ({i.why})" for e, i in impls.items()}


# --- the whole loop -------------------------------------------------------------------------------------


def run(cfg: RunConfig, command: str = "rlhf-course capstone run") -> dict:
    """Feedback -> reward model -> PPO and DPO -> evaluation, report and checkpoints under ``cfg.out``."""
    from grader.capstone import implementations, task
    from grader.capstone.feedback import FeedbackStore
    from grader.capstone.labellers import SimulatedLabeller
    from grader.capstone.policy import format_prompt, load_policy
    from grader.tiny_models import load_bert

    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # save_pretrained's "Writing model shards" bar, for one tiny shard: noise
    start, load_before = time.perf_counter(), load_average()
    FeedbackStore(cfg.db).close()  # a bad database is reported before anything is loaded or sampled
    torch.manual_seed(cfg.seed)
    impls = implementations.choose_all(cfg.device, cfg.force_reference)
    for i in impls.values():
        say(f"using {i.describe()}")
    encode = implementations.reference("reward_model")["encode"]
    tokenize_pairs = implementations.reference("dpo")["tokenize_pairs"]

    say(f"policy: {cfg.model}" + (" (fine-tuned on the task's demonstrations on first use, then cached)"
                                  if cfg.model == "tiny" else ""))
    sft, tokenizer, device = load_policy(device=cfg.device, name=cfg.model)
    sft.requires_grad_(False)  # frozen: the reference of PPO and DPO (each trains a copy), the "before" of the report

    # 1. Feedback from the simulated labeller, through the feedback store.
    labeller = SimulatedLabeller(noise=cfg.noise, seed=cfg.seed)
    with FeedbackStore(cfg.db) as store:
        added = collect_feedback(store, sft, tokenizer, task.TRAIN_PROMPTS, labeller, cfg)
        pairs = store.preference_pairs()
        ratings = rating_examples(store)
        pairs_file = store.export_pairs(cfg.out / "pairs.jsonl")
    stages = {"policy and feedback": time.perf_counter() - start}
    say(f"feedback: {added} new answers from {labeller.name}; {len(pairs)} preference pairs in {cfg.db}")
    train_pairs, held_pairs, train_ratings = split_feedback(pairs, ratings, cfg.feedback, cfg.held_out, cfg.seed)

    # 2. The reward model.
    encoder, rm_tokenizer, _ = load_bert(cfg.reward_model, device=device)
    rm = reward.build(impls["reward_model"], encoder, hidden=cfg.rm_hidden, seed=cfg.seed)
    loss_name = "pairwise" if cfg.feedback == "comparisons" else "rating"
    rm_losses = reward.train(impls["reward_model"], rm, rm_tokenizer, encode, train_pairs, train_ratings,
                             loss=loss_name, steps=cfg.rm_steps, batch_size=cfg.rm_batch, lr=cfg.rm_lr, seed=cfg.seed)
    rm_accuracy = reward.accuracy(impls["reward_model"], rm, rm_tokenizer, encode, held_pairs)
    say(f"reward model: {loss_name} loss {rm_losses[0]:.3f} -> {rm_losses[-1]:.3f}, "
        f"held-out accuracy {rm_accuracy:.3f} on {len(held_pairs)} pairs")
    scorer = metrics.Scorer(rm, rm_tokenizer, encode, tokenizer, task.preference_score, template=format_prompt)

    # The reward's centre and scale, from the reference policy's own samples on the training prompts.
    calib = [p for p in task.TRAIN_PROMPTS for _ in range(2)]
    torch.manual_seed(cfg.seed)
    rollout = sample(sft, tokenizer, calib, cfg.ppo.max_new_tokens, template=format_prompt)
    scorer.calibrate(calib, scorer.texts(rollout))

    stages["reward model"] = time.perf_counter() - start - sum(stages.values())
    common = {"seed": cfg.seed, "hyperparameters": cfg.hyperparameters(), "reference": sft.name_or_path,
              "implementations": implementation_notes(impls), "pairs": str(pairs_file)}
    ckpt = cfg.out / "checkpoints"
    reward.save(rm, rm_tokenizer, ckpt / "reward_model", {
        **common, "kind": "reward_model", "loss": loss_name, "losses": rm_losses, "held_out_accuracy": rm_accuracy,
        "calibration": {"center": scorer.center, "scale": scorer.scale}})

    # 3. PPO and DPO, each from the SFT policy.
    histories, trained = {}, {"SFT (reference)": sft}
    for method in ("ppo", "dpo"):
        model = copy.deepcopy(sft).requires_grad_(True)
        history, value_head, optimizer = train_method(method, impls, model, sft, scorer, train_pairs,
                                                      tokenize_pairs, cfg, start_step=0)
        histories[method] = history
        stages[method.upper()] = time.perf_counter() - start - sum(stages.values())
        trained[method.upper()] = model
        checkpoints.save_policy(ckpt / method, model, tokenizer, {
            **common, "kind": method, "steps_done": len(history), "history": history,
            "reward_model": str(ckpt / "reward_model"), "config": (cfg.ppo if method == "ppo" else cfg.dpo).as_dict()},
            value_head, optimizer)

    # 4. Before/after on the held-out prompts, every policy with the same seed.
    evaluation, samples = {}, {}
    for name, model in trained.items():
        evaluation[name], _, texts = metrics.evaluate(model, sft, scorer, list(task.EVAL_PROMPTS),
                                                      cfg.eval_per_prompt, cfg.ppo.max_new_tokens, cfg.seed + 1)
        samples[name] = texts[::cfg.eval_per_prompt]  # the first response to each prompt
    for method in ("ppo", "dpo"):
        meta = checkpoints.read_meta(ckpt / method)
        checkpoints.write_meta(ckpt / method, {**meta, "metrics": evaluation[method.upper()]})

    stages["evaluation"] = time.perf_counter() - start - sum(stages.values())
    out = cfg.out
    report.plot_curves(histories["ppo"], "PPO", "PPO iteration", out / "ppo.png", "KL to the reference (summed k1)")
    report.plot_curves(histories["dpo"], "DPO", "DPO step", out / "dpo.png", "KL to the reference (exact, sampled)")
    summary = {
        "command": command, "seed": cfg.seed, "device": str(device), "seconds": time.perf_counter() - start,
        "stage_seconds": stages, "load_average": [load_before, load_average()],
        "implementations": implementation_notes(impls),
        "feedback": {"pairs": len(pairs), "train": len(train_pairs), "held_out": len(held_pairs),
                     "labeller": labeller.name, "prompts": len(task.TRAIN_PROMPTS), "db": str(cfg.db),
                     "export": str(pairs_file)},
        "reward_model": {"loss": loss_name, "steps": cfg.rm_steps, "first_loss": rm_losses[0],
                         "last_loss": rm_losses[-1], "held_out_accuracy": rm_accuracy},
        "eval_responses": cfg.eval_per_prompt * len(task.EVAL_PROMPTS),
        "evaluation": evaluation,
        "checkpoints": {"reward model": str(ckpt / "reward_model"), "PPO policy": str(ckpt / "ppo"),
                        "DPO policy": str(ckpt / "dpo")},
    }
    report.write(out, summary, samples, list(task.EVAL_PROMPTS))
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    return summary


def train_method(method: str, impls: dict, model, reference, scorer, pairs, tokenize_pairs, cfg: RunConfig,
                 start_step: int, resume_from: Path | None = None):
    """Train ``model`` with PPO or DPO for the configured steps; returns (history, value head, optimizer)."""
    from grader.capstone import dpo_training, ppo_training, task

    def progress(row):
        if "kl" in row and (method == "dpo" or row["step"] % 5 == 0):  # DPO measures reward and KL every few steps
            say(f"{method} step {row['step']:3d}  reward {row['reward']:+.3f}  "
                f"preference_score {row['preference_score']:+.3f}  kl {row['kl']:.3f}")

    if method == "ppo":
        value_head = (checkpoints.load_value_head(resume_from, model) if resume_from else None) \
            or ppo_training.value_head_for(model)
        optimizer = ppo_training.optimizer_for(model, value_head, cfg.ppo.lr)
        if resume_from:
            checkpoints.load_optimizer(resume_from, optimizer)
        history = ppo_training.train(impls["ppo"], model, reference, value_head, optimizer, scorer,
                                     list(task.TRAIN_PROMPTS), cfg.ppo, cfg.seed, start_step, progress)
        return history, value_head, optimizer
    optimizer = dpo_training.optimizer_for(model, cfg.dpo.lr)
    if resume_from:
        checkpoints.load_optimizer(resume_from, optimizer)
    history = dpo_training.train(impls["dpo"], tokenize_pairs, model, reference, optimizer, scorer, pairs,
                                 list(task.TRAIN_PROMPTS), cfg.dpo, cfg.seed, start_step, progress)
    return history, None, optimizer


# --- continuing a checkpoint ----------------------------------------------------------------------------


def resume(directory: Path, steps: int, out: Path | None = None, device: str | None = None,
           force_reference: bool = False) -> dict:
    """Train a PPO or DPO checkpoint for ``steps`` more steps (same hyper-parameters, its optimizer state
    restored) and save it to ``out`` (default: in place). Returns the updated metadata."""
    from grader.capstone import implementations, task
    from grader.capstone.policy import format_prompt, load_policy
    from grader.preferences import load_preferences

    directory = Path(directory)
    meta = checkpoints.read_meta(directory)
    method = meta.get("kind")
    if method not in ("ppo", "dpo"):
        raise ValueError(f"{directory} is a {method} checkpoint; only PPO and DPO policies continue training")
    hp = meta["hyperparameters"]
    cfg = RunConfig(out=Path(hp["out"]), db=Path(hp["db"]), **{k: v for k, v in hp.items()
                    if k in ("seed", "model", "reward_model", "feedback", "held_out", "rm_hidden", "eval_per_prompt")},
                    device=device, force_reference=force_reference)
    cfg.ppo, cfg.dpo = PPOConfig(**hp["ppo"]), DPOConfig(**hp["dpo"])
    setattr(cfg, method, (PPOConfig if method == "ppo" else DPOConfig)(**{**meta["config"], "steps": steps}))
    impls = implementations.choose_all(device, force_reference)
    for i in impls.values():
        say(f"using {i.describe()}")
    policy, tokenizer, dev = load_policy(device=device, name=str(directory))
    reference, _, _ = load_policy(device=dev, name=meta["reference"])
    reference.requires_grad_(False)
    rm, rm_tokenizer, rm_meta = reward.load(impls["reward_model"], Path(meta["reward_model"]), dev)
    encode = implementations.reference("reward_model")["encode"]
    scorer = metrics.Scorer(rm, rm_tokenizer, encode, tokenizer, task.preference_score, template=format_prompt)
    scorer.center, scorer.scale = rm_meta["calibration"]["center"], rm_meta["calibration"]["scale"]
    pairs = split_feedback(load_preferences(Path(meta["pairs"])), [], cfg.feedback, cfg.held_out, cfg.seed)[0] \
        if method == "dpo" else []
    history, value_head, optimizer = train_method(
        method, impls, policy, reference, scorer, pairs, implementations.reference("dpo")["tokenize_pairs"], cfg,
        start_step=meta["steps_done"], resume_from=directory)
    evaluation, _, _ = metrics.evaluate(policy, reference, scorer, list(task.EVAL_PROMPTS), cfg.eval_per_prompt,
                                        getattr(cfg, method).max_new_tokens, cfg.seed + 1)
    target = Path(out) if out else directory
    new_meta = {**meta, "steps_done": meta["steps_done"] + steps, "history": meta["history"] + history,
                "metrics": evaluation, "implementations": implementation_notes(impls),
                "continued_from": str(directory)}
    new_meta.pop("versions", None)
    checkpoints.save_policy(target, policy, tokenizer, new_meta, value_head, optimizer)
    return checkpoints.read_meta(target)
