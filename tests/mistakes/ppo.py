"""Realistic wrong implementations for the PPO exercise, keyed by catalogue id."""

import torch

from tests.reference import solution

REF = solution("ppo")
masked_mean, masked_whiten, gae = REF["masked_mean"], REF["masked_whiten"], REF["gae"]
token_logprobs, kl_estimators, sample_responses = REF["token_logprobs"], REF["kl_estimators"], REF["sample_responses"]
kl_penalized_rewards, ppo_policy_loss, ppo_value_loss = (REF["kl_penalized_rewards"], REF["ppo_policy_loss"],
                                                         REF["ppo_value_loss"])


def _gather(logprobs, tokens):
    return logprobs.gather(-1, tokens.unsqueeze(-1)).squeeze(-1)


# --- token_logprobs ---------------------------------------------------------------------------

def logprobs_raw_logits(logits, tokens):
    return _gather(logits, tokens)


def logprobs_probs(logits, tokens):
    return _gather(torch.softmax(logits, -1), tokens)


def logprobs_wrong_dim(logits, tokens):
    return _gather(torch.log_softmax(logits, dim=1), tokens)


def logprobs_shift_inside(logits, tokens):
    return _gather(torch.log_softmax(logits[:, :-1], -1), tokens[:, 1:])


# --- kl_estimators ----------------------------------------------------------------------------

def k1_sign_flipped(logp, ref_logp):
    k1, k2, k3 = kl_estimators(logp, ref_logp)
    return -k1, k2, k3


def k2_without_half(logp, ref_logp):
    k1, k2, k3 = kl_estimators(logp, ref_logp)
    return k1, (ref_logp - logp) ** 2, k3


def k3_ratio_flipped(logp, ref_logp):
    k1, k2, _ = kl_estimators(logp, ref_logp)
    log_ratio = logp - ref_logp
    return k1, k2, torch.exp(log_ratio) - 1 - log_ratio


def k3_sign_of_log(logp, ref_logp):
    k1, k2, _ = kl_estimators(logp, ref_logp)
    return k1, k2, (torch.exp(ref_logp - logp) - 1) - k1


def k1_clamped(logp, ref_logp):
    k1, k2, k3 = kl_estimators(logp, ref_logp)
    return k1.clamp(min=0), k2, k3


def kl_detached(logp, ref_logp):
    with torch.no_grad():
        return kl_estimators(logp, ref_logp)


# --- masked_mean ------------------------------------------------------------------------------

def mean_of_row_means(x, mask):
    return ((x * mask).sum(-1) / mask.sum(-1)).mean()


def mean_counts_padding(x, mask):
    return (x * mask).mean()


def mean_ignores_mask(x, mask):
    return x.mean()


# --- masked_whiten ----------------------------------------------------------------------------

def whiten_unbiased_var(x, mask, shift_mean=True):
    mean = masked_mean(x, mask)
    var = ((x - mean) ** 2 * mask).sum() / (mask.sum() - 1)
    out = (x - mean) * torch.rsqrt(var + 1e-8)
    return (out + mean if not shift_mean else out) * mask


def whiten_stats_include_padding(x, mask, shift_mean=True):
    mean, var = x.mean(), x.var(unbiased=False)
    out = (x - mean) * torch.rsqrt(var + 1e-8)
    return (out + mean if not shift_mean else out) * mask


def whiten_padding_not_zeroed(x, mask, shift_mean=True):
    mean = masked_mean(x, mask)
    var = masked_mean((x - mean) ** 2, mask)
    out = (x - mean) * torch.rsqrt(var + 1e-8)
    return out + mean if not shift_mean else out


def whiten_per_row(x, mask, shift_mean=True):
    n = mask.sum(-1, keepdim=True)
    mean = (x * mask).sum(-1, keepdim=True) / n
    var = ((x - mean) ** 2 * mask).sum(-1, keepdim=True) / n
    out = (x - mean) * torch.rsqrt(var + 1e-8)
    return (out + mean if not shift_mean else out) * mask


def whiten_no_shift_misread(x, mask, shift_mean=True):
    if shift_mean:
        return masked_whiten(x, mask)
    mean = masked_mean(x, mask)
    var = masked_mean((x - mean) ** 2, mask)
    return x * torch.rsqrt(var + 1e-8) * mask


# --- kl_penalized_rewards ---------------------------------------------------------------------

def _penalty(logp, ref_logp, mask, beta):
    return -beta * (logp.detach() - ref_logp.detach()) * mask


def _rows(x):
    return torch.arange(x.shape[0], device=x.device)


def score_at_last_column(scores, logp, ref_logp, mask, beta):
    rewards = _penalty(logp, ref_logp, mask, beta)
    rewards[:, -1] += scores.detach()
    return rewards * mask


def score_replaces_penalty(scores, logp, ref_logp, mask, beta):
    rewards = _penalty(logp, ref_logp, mask, beta)
    rewards[_rows(rewards), mask.sum(-1).long() - 1] = scores.detach()
    return rewards


def score_on_every_token(scores, logp, ref_logp, mask, beta):
    return _penalty(logp, ref_logp, mask, beta) + scores.detach()[:, None] * mask


def penalty_sign_flipped(scores, logp, ref_logp, mask, beta):
    return kl_penalized_rewards(scores, logp, ref_logp, mask, -beta)


def penalty_on_padding(scores, logp, ref_logp, mask, beta):
    rewards = -beta * (logp.detach() - ref_logp.detach())
    rewards[_rows(rewards), mask.sum(-1).long() - 1] += scores.detach()
    return rewards


def penalty_uses_k3(scores, logp, ref_logp, mask, beta):
    k3 = kl_estimators(logp.detach(), ref_logp.detach())[2]
    rewards = -beta * k3 * mask
    rewards[_rows(rewards), mask.sum(-1).long() - 1] += scores.detach()
    return rewards


def rewards_not_detached(scores, logp, ref_logp, mask, beta):
    rewards = -beta * (logp - ref_logp) * mask
    last = torch.nn.functional.one_hot(mask.sum(-1).long() - 1, mask.shape[1]).to(rewards.dtype)
    return rewards + scores[:, None] * last


# --- gae --------------------------------------------------------------------------------------

def _gae(rewards, values, mask, gamma, lam, *, td_discount=None, decay=None, mask_values=True):
    """The backward recursion with its pieces exposed, so that each mistake changes one of them."""
    rewards, values = rewards.detach() * mask, values.detach() * (mask if mask_values else 1)
    td_discount = gamma if td_discount is None else td_discount
    decay = gamma * lam if decay is None else decay
    advantages, next_value, next_adv = torch.zeros_like(rewards), 0.0, 0.0
    for t in reversed(range(rewards.shape[1])):
        next_adv = rewards[:, t] + td_discount * next_value - values[:, t] + decay * next_adv
        advantages[:, t] = next_adv
        next_value = values[:, t]
    return advantages * mask, values * mask


def gae_bootstraps_from_padding(rewards, values, mask, gamma, lam):
    advantages, values = _gae(rewards, values, mask, gamma, lam, mask_values=False)
    return advantages, advantages + values


def gae_gamma_lambda_swapped(rewards, values, mask, gamma, lam):
    advantages, values = _gae(rewards, values, mask, gamma, lam, td_discount=lam)
    return advantages, advantages + values


def gae_decay_lambda_only(rewards, values, mask, gamma, lam):
    advantages, values = _gae(rewards, values, mask, gamma, lam, decay=lam)
    return advantages, advantages + values


def returns_without_values(rewards, values, mask, gamma, lam):
    advantages, _ = gae(rewards, values, mask, gamma, lam)
    return advantages, advantages.clone()


def returns_monte_carlo(rewards, values, mask, gamma, lam):
    advantages, _ = gae(rewards, values, mask, gamma, lam)
    returns, running = torch.zeros_like(rewards), 0.0
    for t in reversed(range(rewards.shape[1])):
        running = rewards[:, t].detach() * mask[:, t] + gamma * running
        returns[:, t] = running
    return advantages, returns * mask


def advantages_whitened_in_gae(rewards, values, mask, gamma, lam):
    advantages, returns = gae(rewards, values, mask, gamma, lam)
    advantages = masked_whiten(advantages, mask)
    return advantages, advantages + values.detach() * mask


def gae_modifies_values(rewards, values, mask, gamma, lam):
    values = values.detach()
    values[mask == 0] = 0
    return gae(rewards, values, mask, gamma, lam)


def gae_not_detached(rewards, values, mask, gamma, lam):
    advantages, _ = gae(rewards, values, mask, gamma, lam)
    return advantages, advantages + values * mask


# --- reinforce_loss ---------------------------------------------------------------------------

def reinforce_sign_flipped(logp, advantages, mask):
    return masked_mean(advantages.detach() * logp, mask)


def reinforce_advantages_not_detached(logp, advantages, mask):
    return masked_mean(-advantages * logp, mask)


def reinforce_zero_gradient(logp, advantages, mask):
    return -masked_mean(advantages.detach(), mask)


def reinforce_unmasked(logp, advantages, mask):
    return (-advantages.detach() * logp).mean()


def reinforce_row_sums(logp, advantages, mask):
    return (-advantages.detach() * logp * mask).sum(-1).mean()


# --- ppo_policy_loss --------------------------------------------------------------------------

def _clipped_loss(ratio, advantages, mask, clip_eps, reduce=torch.maximum):
    unclipped = -advantages * ratio
    clipped = -advantages * torch.clamp(ratio, 1 - clip_eps, 1 + clip_eps)
    clip_fraction = masked_mean((clipped > unclipped).to(ratio.dtype), mask).detach()
    return masked_mean(reduce(unclipped, clipped), mask), clip_fraction


def ratio_inverted(logp, old_logp, advantages, mask, clip_eps=0.2):
    return _clipped_loss(torch.exp(old_logp.detach() - logp), advantages.detach(), mask, clip_eps)


def ratio_of_logprobs(logp, old_logp, advantages, mask, clip_eps=0.2):
    return _clipped_loss(logp / old_logp.detach(), advantages.detach(), mask, clip_eps)


def clip_min_instead_of_max(logp, old_logp, advantages, mask, clip_eps=0.2):
    return _clipped_loss(torch.exp(logp - old_logp.detach()), advantages.detach(), mask, clip_eps, torch.minimum)


def clip_missing(logp, old_logp, advantages, mask, clip_eps=0.2):
    ratio = torch.exp(logp - old_logp.detach())
    return masked_mean(-advantages.detach() * ratio, mask), torch.zeros((), dtype=logp.dtype, device=logp.device)


def clip_only(logp, old_logp, advantages, mask, clip_eps=0.2):
    return _clipped_loss(torch.exp(logp - old_logp.detach()), advantages.detach(), mask, clip_eps,
                         lambda unclipped, clipped: clipped)


def clip_fraction_outside_band(logp, old_logp, advantages, mask, clip_eps=0.2):
    loss, _ = ppo_policy_loss(logp, old_logp, advantages, mask, clip_eps)
    ratio = torch.exp(logp - old_logp).detach()
    return loss, masked_mean(((ratio - 1).abs() > clip_eps).to(logp.dtype), mask)


def old_logp_not_detached(logp, old_logp, advantages, mask, clip_eps=0.2):
    return _clipped_loss(torch.exp(logp - old_logp), advantages.detach(), mask, clip_eps)


def policy_advantages_not_detached(logp, old_logp, advantages, mask, clip_eps=0.2):
    return _clipped_loss(torch.exp(logp - old_logp.detach()), advantages, mask, clip_eps)


def policy_loss_unmasked(logp, old_logp, advantages, mask, clip_eps=0.2):
    return _clipped_loss(torch.exp(logp - old_logp.detach()), advantages.detach(), torch.ones_like(mask), clip_eps)


# --- ppo_value_loss ---------------------------------------------------------------------------

def _value_loss(values, old_values, returns, mask, clip_eps, *, reduce=torch.maximum, half=0.5, v_clipped=None):
    if v_clipped is None:
        v_clipped = old_values + torch.clamp(values - old_values, -clip_eps, clip_eps)
    return masked_mean(half * reduce((values - returns) ** 2, (v_clipped - returns) ** 2), mask)


def value_min_instead_of_max(values, old_values, returns, mask, clip_eps=0.2):
    return _value_loss(values, old_values.detach(), returns.detach(), mask, clip_eps, reduce=torch.minimum)


def value_without_half(values, old_values, returns, mask, clip_eps=0.2):
    return _value_loss(values, old_values.detach(), returns.detach(), mask, clip_eps, half=1.0)


def value_clip_relative(values, old_values, returns, mask, clip_eps=0.2):
    old_values, returns = old_values.detach(), returns.detach()
    v_clipped = old_values * torch.clamp(values / old_values, 1 - clip_eps, 1 + clip_eps)
    return _value_loss(values, old_values, returns, mask, clip_eps, v_clipped=v_clipped)


def value_loss_unclipped(values, old_values, returns, mask, clip_eps=0.2):
    return masked_mean(0.5 * (values - returns.detach()) ** 2, mask)


def value_returns_not_detached(values, old_values, returns, mask, clip_eps=0.2):
    return _value_loss(values, old_values, returns, mask, clip_eps)


def value_loss_unmasked(values, old_values, returns, mask, clip_eps=0.2):
    return _value_loss(values, old_values.detach(), returns.detach(), torch.ones_like(mask), clip_eps)


# --- ppo_step ---------------------------------------------------------------------------------

def _rollout(policy, reference, value_head, prompt_ids, reward_fn, max_new_tokens, beta, gamma, lam, ref_model=None,
             whiten=True, returns_from_whitened=False, sampler=None):
    P = prompt_ids.shape[1]
    with torch.no_grad():
        response, mask = sample_responses(sampler or policy, prompt_ids, max_new_tokens)
        ids = torch.cat([prompt_ids, response], 1)
        out = policy(ids, output_hidden_states=True)
        old_logp = token_logprobs(out.logits[:, P - 1 : -1], response)
        old_values = value_head(out.hidden_states[-1][:, P - 1 : -1]).squeeze(-1)
        ref_logp = token_logprobs((reference if ref_model is None else ref_model)(ids).logits[:, P - 1 : -1], response)
        scores = reward_fn(response, mask)
        rewards = kl_penalized_rewards(scores, old_logp, ref_logp, mask, beta)
        advantages, returns = gae(rewards, old_values, mask, gamma, lam)
        whitened = masked_whiten(advantages, mask) if whiten else advantages
        if returns_from_whitened:
            returns = (whitened + old_values) * mask
    return dict(P=P, ids=ids, response=response, mask=mask, old_logp=old_logp, old_values=old_values,
                ref_logp=ref_logp, scores=scores, advantages=whitened, returns=returns)


def _forward(policy, value_head, b):
    out = policy(b["ids"], output_hidden_states=True)
    P = b["P"]
    logp = token_logprobs(out.logits[:, P - 1 : -1], b["response"])
    return logp, value_head(out.hidden_states[-1][:, P - 1 : -1]).squeeze(-1)


def _metrics(b, clip_fraction):
    k1 = (b["old_logp"] - b["ref_logp"]) * b["mask"]
    return {"reward": b["scores"].mean().item(), "kl": k1.sum(-1).mean().item(), "clip_fraction": float(clip_fraction)}


def reward_outside_logprob(policy, reference, value_head, optimizer, prompt_ids, reward_fn, *, max_new_tokens=8,
                           beta=0.05, gamma=1.0, lam=0.95, epochs=4, clip_eps=0.2, vf_coef=0.5):
    """The no-grad reward bug: -reward + beta * KL, with the reward a constant."""
    b = _rollout(policy, reference, value_head, prompt_ids, reward_fn, max_new_tokens, beta, gamma, lam)
    for _ in range(epochs):
        logp, values = _forward(policy, value_head, b)
        kl = masked_mean(kl_estimators(logp, b["ref_logp"])[2], b["mask"])
        loss = -b["scores"].mean() + beta * kl + vf_coef * ppo_value_loss(values, b["old_values"], b["returns"],
                                                                          b["mask"], clip_eps)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return _metrics(b, 0.0)


def _ppo(policy, value_head, optimizer, b, epochs, clip_eps, vf_coef, zero_grad_first=True, zero_grad=True,
         old_logp_each_epoch=False):
    clip_fraction = 0.0
    for _ in range(epochs):
        logp, values = _forward(policy, value_head, b)
        old_logp = logp.detach() if old_logp_each_epoch else b["old_logp"]
        policy_loss, clip_fraction = ppo_policy_loss(logp, old_logp, b["advantages"], b["mask"], clip_eps)
        loss = policy_loss + vf_coef * ppo_value_loss(values, b["old_values"], b["returns"], b["mask"], clip_eps)
        if zero_grad and zero_grad_first:
            optimizer.zero_grad()
        loss.backward()
        if zero_grad and not zero_grad_first:
            optimizer.zero_grad()
        optimizer.step()
    return _metrics(b, clip_fraction)


def penalty_against_policy(policy, reference, value_head, optimizer, prompt_ids, reward_fn, *, max_new_tokens=8,
                           beta=0.05, gamma=1.0, lam=0.95, epochs=4, clip_eps=0.2, vf_coef=0.5):
    b = _rollout(policy, reference, value_head, prompt_ids, reward_fn, max_new_tokens, beta, gamma, lam,
                 ref_model=policy)
    return _ppo(policy, value_head, optimizer, b, epochs, clip_eps, vf_coef)


def zero_grad_after_backward(policy, reference, value_head, optimizer, prompt_ids, reward_fn, *, max_new_tokens=8,
                             beta=0.05, gamma=1.0, lam=0.95, epochs=4, clip_eps=0.2, vf_coef=0.5):
    b = _rollout(policy, reference, value_head, prompt_ids, reward_fn, max_new_tokens, beta, gamma, lam)
    return _ppo(policy, value_head, optimizer, b, epochs, clip_eps, vf_coef, zero_grad_first=False)


def advantages_not_whitened(policy, reference, value_head, optimizer, prompt_ids, reward_fn, *, max_new_tokens=8,
        beta=0.05, gamma=1.0, lam=0.95, epochs=4, clip_eps=0.2, vf_coef=0.5):
    b = _rollout(policy, reference, value_head, prompt_ids, reward_fn, max_new_tokens, beta, gamma, lam, whiten=False)
    return _ppo(policy, value_head, optimizer, b, epochs, clip_eps, vf_coef)


def returns_from_whitened(policy, reference, value_head, optimizer, prompt_ids, reward_fn, *, max_new_tokens=8,
        beta=0.05, gamma=1.0, lam=0.95, epochs=4, clip_eps=0.2, vf_coef=0.5):
    b = _rollout(policy, reference, value_head, prompt_ids, reward_fn, max_new_tokens, beta, gamma, lam, returns_from_whitened=True)
    return _ppo(policy, value_head, optimizer, b, epochs, clip_eps, vf_coef)


def sampled_from_reference(policy, reference, value_head, optimizer, prompt_ids, reward_fn, *, max_new_tokens=8,
        beta=0.05, gamma=1.0, lam=0.95, epochs=4, clip_eps=0.2, vf_coef=0.5):
    b = _rollout(policy, reference, value_head, prompt_ids, reward_fn, max_new_tokens, beta, gamma, lam, sampler=reference)
    return _ppo(policy, value_head, optimizer, b, epochs, clip_eps, vf_coef)


def vf_coef_ignored(policy, reference, value_head, optimizer, prompt_ids, reward_fn, *, max_new_tokens=8,
        beta=0.05, gamma=1.0, lam=0.95, epochs=4, clip_eps=0.2, vf_coef=0.5):
    b = _rollout(policy, reference, value_head, prompt_ids, reward_fn, max_new_tokens, beta, gamma, lam)
    return _ppo(policy, value_head, optimizer, b, epochs, clip_eps, 1.0)


def old_logp_recomputed(policy, reference, value_head, optimizer, prompt_ids, reward_fn, *, max_new_tokens=8,
        beta=0.05, gamma=1.0, lam=0.95, epochs=4, clip_eps=0.2, vf_coef=0.5):
    b = _rollout(policy, reference, value_head, prompt_ids, reward_fn, max_new_tokens, beta, gamma, lam)
    return _ppo(policy, value_head, optimizer, b, epochs, clip_eps, vf_coef, old_logp_each_epoch=True)


def step_no_zero_grad(policy, reference, value_head, optimizer, prompt_ids, reward_fn, *, max_new_tokens=8,
        beta=0.05, gamma=1.0, lam=0.95, epochs=4, clip_eps=0.2, vf_coef=0.5):
    b = _rollout(policy, reference, value_head, prompt_ids, reward_fn, max_new_tokens, beta, gamma, lam)
    return _ppo(policy, value_head, optimizer, b, epochs, clip_eps, vf_coef, zero_grad=False)
