"""Scaling out (grader/capstone/trl_scale.py): the capstone's exported pairs train, unchanged, with TRL's
RewardTrainer and DPOTrainer on Accelerate, here on the tiny models for a few steps on the CPU."""

from __future__ import annotations

import json

import torch

from grader.capstone import trl_scale
from grader.preferences import save_preferences

PAIRS = [  # the shape `capstone export` writes: TRL's explicit prompt, responses only
    {"prompt": "How do I make coffee?", "chosen": "Happy to help! Pour hot water over the grounds.",
     "rejected": "Ugh, figure it out yourself."},
    {"prompt": "How do I cook an egg?", "chosen": "Gladly! Boil it in water for nine minutes.",
     "rejected": "Not this again. Go away."},
    {"prompt": "How can I relax after work?", "chosen": "Good question. Take a walk and read a book.",
     "rejected": "Nobody cares. Stop wasting my time."},
    {"prompt": "How do I wash my clothes?", "chosen": "Sure, glad to help. Use warm water and soap.",
     "rejected": "What a stupid thing to ask."},
]


def test_reward_trainer_and_dpo_trainer_run_on_the_exported_pairs(tmp_path):
    from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification

    pairs = save_preferences(PAIRS, tmp_path / "pairs.jsonl")
    out = tmp_path / "trl"
    assert trl_scale.main(["--pairs", str(pairs), "--out", str(out), "--steps", "2", "--batch-size", "2",
                           "--device", "cpu"]) == 0
    results = json.loads((out / "trl.json").read_text())
    for name in ("reward_trainer", "dpo_trainer"):
        losses = [row["loss"] for row in results[name]["log"] if "loss" in row]
        assert len(losses) == 2 and all(torch.isfinite(torch.tensor(losses)))
    first_dpo = next(row for row in results["dpo_trainer"]["log"] if "loss" in row)
    assert abs(first_dpo["loss"] - 0.6931) < 0.01  # log 2: the policy starts equal to its reference
    rm = AutoModelForSequenceClassification.from_pretrained(out / "reward_model")
    assert rm.config.num_labels == 1
    assert AutoModelForCausalLM.from_pretrained(out / "dpo").config.model_type == "gpt2"
