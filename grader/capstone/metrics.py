"""Before/after numbers for a policy against its reference: mean reward (the trained reward model's and the
task's ``preference_score``), KL to the reference, distinct-1/2 and perplexity under the reference."""

from __future__ import annotations

import math
from dataclasses import replace

import torch

from grader.capstone.rollout import Rollout, response_logits, response_texts, sample


class Scorer:
    """Scores a rollout's responses: the reward model (raw, and normalised for RL) and the task's score."""

    def __init__(self, reward_model, rm_tokenizer, encode, policy_tokenizer, task_score, template=None):
        self.rm, self.rm_tokenizer, self.encode = reward_model, rm_tokenizer, encode
        self.tokenizer, self.task_score = policy_tokenizer, task_score
        self.template = template  # prompt -> the text the policy continues (its chat template)
        self.center, self.scale = 0.0, 1.0  # set from the reference's samples (``calibrate``)

    def texts(self, rollout: Rollout) -> list[str]:
        return response_texts(self.tokenizer, rollout)

    def reward(self, prompts: list[str], texts: list[str]) -> torch.Tensor:
        from grader.capstone.reward import score

        return score(self.rm, self.rm_tokenizer, self.encode, prompts, texts)

    def calibrate(self, prompts: list[str], texts: list[str]) -> None:
        """Centre and scale the reward on the reference's samples: its level is arbitrary (only gaps are
        trained), and a unit scale keeps the KL coefficient's meaning from one reward model to the next."""
        r = self.reward(prompts, texts)
        self.center, self.scale = r.mean().item(), max(r.std().item(), 1e-6)

    def normalised(self, rewards: torch.Tensor) -> torch.Tensor:
        return (rewards - self.center) / self.scale


def distinct(texts: list[str], n: int) -> float:
    """Distinct-n: unique word n-grams over all n-grams of all responses (Li et al., 2016)."""
    grams = [tuple(words[i:i + n]) for t in texts for words in [t.split()] for i in range(len(words) - n + 1)]
    return len(set(grams)) / len(grams) if grams else 0.0


@torch.no_grad()
def kl_and_perplexity(policy, reference, rollout: Rollout, rows_per_chunk: int = 16) -> tuple[float, float]:
    """(mean over responses of the summed exact per-token KL(pi || pi_ref) along them, in nats;
    perplexity of the responses under the reference). Computed ``rows_per_chunk`` responses at a time: with a real
    vocabulary (GPT-2's 50257) the (B, T, V) tensors of a whole evaluation batch do not fit a small GPU."""
    kl_sum = nll_sum = 0.0
    for start in range(0, len(rollout.prompts), rows_per_chunk):
        rows = slice(start, start + rows_per_chunk)
        part = replace(rollout, prompts=rollout.prompts[rows], ids=rollout.ids[rows], attention=rollout.attention[rows],
                       mask=rollout.mask[rows])
        logp = torch.log_softmax(response_logits(policy, part)[0].float(), -1)  # (b, T, V)
        ref_logp = torch.log_softmax(response_logits(reference, part)[0].float(), -1)
        kl = (logp.exp() * (logp - ref_logp)).sum(-1)  # (b, T): exact KL of the next-token distributions
        token_ref = ref_logp.gather(-1, part.response.unsqueeze(-1)).squeeze(-1)  # (b, T)
        kl_sum += (kl * part.mask).sum().item()
        nll_sum -= (token_ref * part.mask).sum().item()
    return kl_sum / len(rollout.prompts), math.exp(nll_sum / rollout.mask.sum().item())


def evaluate(policy, reference, scorer: Scorer, prompts: list[str], n_per_prompt: int, max_new_tokens: int,
             seed: int) -> tuple[dict, list[str], list[str]]:
    """Sample ``n_per_prompt`` responses per prompt with ``seed``; returns (metrics, prompts, texts)."""
    torch.manual_seed(seed)
    batch = [p for p in prompts for _ in range(n_per_prompt)]
    rollout = sample(policy, scorer.tokenizer, batch, max_new_tokens, scorer.template)
    texts = scorer.texts(rollout)
    kl, ppl = kl_and_perplexity(policy, reference, rollout)
    metrics = {
        "reward": scorer.reward(batch, texts).mean().item(),
        "preference_score": sum(scorer.task_score(t) for t in texts) / len(texts),
        "kl": kl,
        "distinct_1": distinct(texts, 1),
        "distinct_2": distinct(texts, 2),
        "perplexity_under_reference": ppl,
        "mean_tokens": rollout.mask.sum(-1).mean().item(),
    }
    return metrics, batch, texts
