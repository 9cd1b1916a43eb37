"""PPO on the policy against the trained reward model, with the per-token KL penalty of the PPO exercise.

Each iteration follows the exercise's ``ppo_step`` with the exercise's functions, on left-padded prompts of
different lengths: sample, score with the reward model, give every response token ``-beta * k1`` and the
(normalised) score at its last token, GAE, whitened advantages, then ``epochs`` clipped updates of policy
and value head. The reward reaches the policy through the policy gradient (the log-probabilities of the
sampled tokens), never by differentiating the reward model through sampled text, which has no gradient.
"""

from __future__ import annotations

import random

import torch

from grader.capstone.metrics import Scorer
from grader.capstone.rollout import response_logits, sample
from grader.capstone.settings import PPOConfig


def value_head_for(policy) -> torch.nn.Linear:
    device = next(policy.parameters()).device
    return torch.nn.Linear(policy.config.hidden_size, 1).to(device)


def optimizer_for(policy, value_head, lr: float) -> torch.optim.Optimizer:
    return torch.optim.Adam([*policy.parameters(), *value_head.parameters()], lr=lr)


def iteration(impl, policy, reference, value_head, optimizer, scorer: Scorer, prompts: list[str],
              cfg: PPOConfig) -> dict:
    """One PPO iteration on ``prompts`` (B); returns float metrics of its rollout."""
    def logp_and_values(rollout):
        logits, out = response_logits(policy, rollout, output_hidden_states=True)
        logp = impl.token_logprobs(logits.float(), rollout.response)  # (B, T)
        values = value_head(out.hidden_states[-1][:, rollout.P - 1: -1]).squeeze(-1).float()  # (B, T): V(s_t)
        return logp, values

    with torch.no_grad():  # the rollout: constants for the update
        rollout = sample(policy, scorer.tokenizer, prompts, cfg.max_new_tokens, scorer.template)
        mask = rollout.mask
        old_logp, old_values = logp_and_values(rollout)
        ref_logits, _ = response_logits(reference, rollout)
        ref_logp = impl.token_logprobs(ref_logits.float(), rollout.response)
        texts = scorer.texts(rollout)
        raw = scorer.reward(prompts, texts).to(mask.device)
        rewards = impl.kl_penalized_rewards(scorer.normalised(raw), old_logp, ref_logp, mask, cfg.beta)
        advantages, returns = impl.gae(rewards, old_values, mask, cfg.gamma, cfg.lam)
        advantages = impl.masked_whiten(advantages, mask)
    for _ in range(cfg.epochs):
        logp, values = logp_and_values(rollout)
        policy_loss, clip_fraction = impl.ppo_policy_loss(logp, old_logp, advantages, mask, cfg.clip_eps)
        loss = policy_loss + cfg.vf_coef * impl.ppo_value_loss(values, old_values, returns, mask, cfg.clip_eps)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    k1 = impl.kl_estimators(old_logp, ref_logp)[0]
    return {"reward": raw.mean().item(), "preference_score": sum(map(scorer.task_score, texts)) / len(texts),
            "kl": (k1 * mask).sum(-1).mean().item(), "clip_fraction": float(clip_fraction)}


def train(impl, policy, reference, value_head, optimizer, scorer: Scorer, prompts: list[str], cfg: PPOConfig,
          seed: int, start_step: int = 0, progress=None) -> list[dict]:
    """``cfg.steps`` iterations, each on ``cfg.batch_size`` prompts drawn from ``prompts``; one dict per step."""
    rng = random.Random(seed + start_step)  # a continued run draws new prompts, not the first run's again
    torch.manual_seed(seed + start_step)
    policy.eval()  # dropout off: policy and reference log-probs must be comparable
    history = []
    for step in range(start_step, start_step + cfg.steps):
        batch = [rng.choice(prompts) for _ in range(cfg.batch_size)]
        history.append({"step": step + 1, **iteration(impl, policy, reference, value_head, optimizer, scorer,
                                                       batch, cfg)})
        if progress:
            progress(history[-1])
    return history
