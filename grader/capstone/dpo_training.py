"""DPO on the collected preference pairs with the exercise's ``dpo_step`` (its ``sequence_logps`` and
``dpo_loss`` inside), against a frozen copy of the starting policy. Every ``eval_every`` steps the policy is
sampled on a few prompts, so that DPO's reward and KL can be plotted on the same axes as PPO's."""

from __future__ import annotations

import random

import torch

from grader.capstone.metrics import Scorer, kl_and_perplexity
from grader.capstone.rollout import sample
from grader.capstone.settings import DPOConfig


def optimizer_for(policy, lr: float) -> torch.optim.Optimizer:
    return torch.optim.AdamW(policy.parameters(), lr=lr)


@torch.no_grad()
def probe(policy, reference, scorer: Scorer, prompts: list[str], max_new_tokens: int) -> dict:
    """Mean reward-model reward and KL to the reference on one sample per prompt."""
    rollout = sample(policy, scorer.tokenizer, prompts, max_new_tokens, scorer.template)
    texts = scorer.texts(rollout)
    kl, _ = kl_and_perplexity(policy, reference, rollout)
    return {"reward": scorer.reward(prompts, texts).mean().item(),
            "preference_score": sum(map(scorer.task_score, texts)) / len(texts), "kl": kl}


def train(impl, tokenize_pairs, policy, reference, optimizer, scorer: Scorer, pairs: list[dict],
          probe_prompts: list[str], cfg: DPOConfig, seed: int, start_step: int = 0, progress=None) -> list[dict]:
    """``cfg.steps`` DPO steps on minibatches of ``pairs``; one dict per step (probe metrics every few)."""
    if not pairs:
        raise ValueError("no preference pairs to train DPO on")
    device = next(policy.parameters()).device
    rng, order, history = random.Random(seed + start_step), [], []
    gen = random.Random(seed)
    probes = [gen.choice(probe_prompts) for _ in range(cfg.eval_samples)]
    policy.eval()  # dropout off, as for PPO; gradients still flow
    for step in range(start_step, start_step + cfg.steps):
        if len(order) < cfg.batch_size:
            order = list(range(len(pairs)))
            rng.shuffle(order)
        chunk = [pairs[order.pop()] for _ in range(min(cfg.batch_size, len(order)))]
        # The policy reads its chat template, and a completion follows it after one space (as in its SFT).
        template = scorer.template or (lambda prompt: prompt)
        batch = tokenize_pairs(scorer.tokenizer, [template(p["prompt"]) for p in chunk],
                               [" " + p["chosen"] for p in chunk], [" " + p["rejected"] for p in chunk], device)
        row = {"step": step + 1, **impl.dpo_step(policy, reference, optimizer, batch, beta=cfg.beta)}
        if (step + 1) % cfg.eval_every == 0 or step + 1 == start_step + cfg.steps:
            torch.manual_seed(seed + step)
            row.update(probe(policy, reference, scorer, probes, cfg.max_new_tokens))
        history.append(row)
        if progress:
            progress(row)
    return history
