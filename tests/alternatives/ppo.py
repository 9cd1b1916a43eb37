"""Alternative correct PPO implementations: other formulas, vectorised or looped, other sampling code."""

import torch
import torch.nn.functional as F

from tests.reference import solution

REF = solution("ppo")


def token_logprobs_cross_entropy(logits, tokens):
    """Minus the per-token cross-entropy."""
    B, T, V = logits.shape
    return -F.cross_entropy(logits.reshape(-1, V), tokens.reshape(-1), reduction="none").view(B, T)


def token_logprobs_logsumexp(logits, tokens):
    """The chosen logit minus the log normaliser, in float64."""
    logits64 = logits.double()
    chosen = logits64.gather(-1, tokens.unsqueeze(-1)).squeeze(-1)
    return (chosen - torch.logsumexp(logits64, -1)).to(logits.dtype)


def kl_estimators_expm1(logp, ref_logp):
    """k3 with expm1 (accurate near 0), k2 written in terms of k1."""
    k1 = logp - ref_logp
    return k1, 0.5 * k1 * k1, torch.expm1(-k1) + k1


def masked_mean_where(x, mask):
    """Select the valid entries and average them."""
    return torch.where(mask.bool(), x, torch.zeros_like(x)).sum() / mask.bool().sum()


def masked_whiten_select(x, mask, shift_mean=True):
    """Statistics with masked_select and torch.var(correction=0)."""
    valid = torch.masked_select(x, mask.bool())
    mean, var = valid.mean(), valid.var(correction=0)
    out = (x - mean) / torch.sqrt(var + 1e-8) + (0 if shift_mean else mean)
    return torch.where(mask.bool(), out, torch.zeros_like(out))


def kl_penalized_rewards_loop(scores, logp, ref_logp, mask, beta):
    """Row by row, with Python indices."""
    with torch.no_grad():
        rewards = torch.zeros_like(logp)
        for b in range(logp.shape[0]):
            n = int(mask[b].sum().item())
            rewards[b, :n] = -beta * (logp[b, :n] - ref_logp[b, :n])
            rewards[b, n - 1] = rewards[b, n - 1] + scores[b]
    return rewards


def kl_penalized_rewards_one_hot(scores, logp, ref_logp, mask, beta):
    """The last valid token found as the last 1 of the mask, the score placed with a one-hot row."""
    with torch.no_grad():
        positions = torch.arange(mask.shape[1], device=mask.device).expand_as(mask)
        last = torch.where(mask.bool(), positions, torch.full_like(positions, -1)).max(-1).values
        one_hot = F.one_hot(last, mask.shape[1]).to(logp.dtype)
        return -beta * (logp - ref_logp) * mask + scores.unsqueeze(-1) * one_hot


def gae_trl_style(rewards, values, mask, gamma, lam):
    """TRL's loop: a list of advantages reversed at the end, next values read one column ahead."""
    with torch.no_grad():
        values, rewards = values * mask, rewards * mask
        T = rewards.shape[1]
        last_gae, reversed_adv = 0.0, []
        for t in reversed(range(T)):
            next_values = values[:, t + 1] if t < T - 1 else 0.0
            delta = rewards[:, t] + gamma * next_values - values[:, t]
            last_gae = delta + gamma * lam * last_gae
            reversed_adv.append(last_gae)
        advantages = torch.stack(reversed_adv[::-1], dim=1) * mask
        return advantages, (advantages + values) * mask


def gae_matrix(rewards, values, mask, gamma, lam):
    """No loop: A = D @ delta with D[t, k] = (gamma * lam)^(k - t) for k >= t."""
    values, rewards = (values * mask).detach(), (rewards * mask).detach()
    next_values = F.pad(values[:, 1:], (0, 1))
    deltas = rewards + gamma * next_values - values
    T = rewards.shape[1]
    t = torch.arange(T, device=rewards.device, dtype=rewards.dtype)
    power = t.view(1, T) - t.view(T, 1)
    discount = torch.where(power >= 0, (gamma * lam) ** power.clamp(min=0), torch.zeros_like(power))
    advantages = deltas @ discount.T * mask
    return advantages, advantages + values


def reinforce_loss_sums(logp, advantages, mask):
    """Total over valid tokens divided by their count, written with einsum."""
    return -torch.einsum("bt,bt,bt->", advantages.detach(), logp, mask) / mask.sum()


def ppo_policy_loss_objective(logp, old_logp, advantages, mask, clip_eps=0.2):
    """The paper's form: minus the min of the two objectives; clip fraction from the two quadrants."""
    advantages = advantages.detach()
    ratio = (logp - old_logp.detach()).exp()
    objective = torch.min(ratio * advantages, ratio.clamp(1 - clip_eps, 1 + clip_eps) * advantages)
    n = mask.sum()
    clipped = ((advantages > 0) & (ratio > 1 + clip_eps)) | ((advantages < 0) & (ratio < 1 - clip_eps))
    return -(objective * mask).sum() / n, ((clipped.to(logp.dtype) * mask).sum() / n).detach()


def ppo_value_loss_where(values, old_values, returns, mask, clip_eps=0.2):
    """Clamp with tensor bounds, select the larger error with torch.where."""
    old_values, returns = old_values.detach(), returns.detach()
    v_clipped = torch.clamp(values, old_values - clip_eps, old_values + clip_eps)
    a, b = (values - returns) ** 2, (v_clipped - returns) ** 2
    return 0.5 * (torch.where(a > b, a, b) * mask).sum() / mask.sum()


def ppo_step_separate_passes(policy, reference, value_head, optimizer, prompt_ids, reward_fn, *,
                             max_new_tokens=8, beta=0.05, gamma=1.0, lam=0.95, epochs=4, clip_eps=0.2, vf_coef=0.5):
    """Log-probs by gather on log_softmax and values from a second output, each computed in its own pass; the KL
    metric from the log-prob difference; zero_grad(set_to_none) after the step; metrics through float()."""
    kl_penalized_rewards, gae = REF["kl_penalized_rewards"], REF["gae"]
    masked_whiten, ppo_policy_loss, ppo_value_loss = REF["masked_whiten"], REF["ppo_policy_loss"], REF["ppo_value_loss"]
    P = prompt_ids.shape[1]

    def logp_of(model, ids, response):
        logits = model(ids).logits[:, P - 1 : -1]
        return torch.log_softmax(logits.float(), -1).gather(-1, response.unsqueeze(-1)).squeeze(-1)

    def values_of(ids):
        return value_head(policy(ids, output_hidden_states=True).hidden_states[-1][:, P - 1 : -1]).squeeze(-1)

    with torch.no_grad():
        response, mask = REF["sample_responses"](policy, prompt_ids, max_new_tokens)
        ids = torch.cat([prompt_ids, response], dim=1)
        old_logp, old_values, ref_logp = logp_of(policy, ids, response), values_of(ids), logp_of(reference, ids, response)
        scores = reward_fn(response, mask)
        advantages, returns = gae(kl_penalized_rewards(scores, old_logp, ref_logp, mask, beta), old_values, mask,
                                  gamma, lam)
        advantages = masked_whiten(advantages, mask)
    for _ in range(epochs):
        policy_loss, clip_fraction = ppo_policy_loss(logp_of(policy, ids, response), old_logp, advantages, mask,
                                                     clip_eps)
        value_loss = ppo_value_loss(values_of(ids), old_values, returns, mask, clip_eps)
        (policy_loss + vf_coef * value_loss).backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
    return {"reward": float(scores.mean()), "kl": float(((old_logp - ref_logp) * mask).sum(-1).mean()),
            "clip_fraction": float(clip_fraction)}


ALTERNATIVES = {
    "token_logprobs": [token_logprobs_cross_entropy, token_logprobs_logsumexp],
    "kl_estimators": [kl_estimators_expm1],
    "masked_mean": [masked_mean_where],
    "masked_whiten": [masked_whiten_select],
    "kl_penalized_rewards": [kl_penalized_rewards_loop, kl_penalized_rewards_one_hot],
    "gae": [gae_trl_style, gae_matrix],
    "reinforce_loss": [reinforce_loss_sums],
    "ppo_policy_loss": [ppo_policy_loss_objective],
    "ppo_value_loss": [ppo_value_loss_where],
    "ppo_step": [ppo_step_separate_passes],
}
