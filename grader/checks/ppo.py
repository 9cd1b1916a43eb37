"""Checks for the PPO exercise (``solutions/ppo.py``).

Inputs are chosen to separate mistakes: rows with different numbers of valid tokens and right padding
that holds large garbage values (so anything that reads padding shows), gamma = 0.9 and lambda = 0.8,
log-ratios with |log r| >= 1, all four clip quadrants plus in-band tokens in one batch, and a clip range
other than the default. Losses are checked with their gradients, including the zero gradients into
constants (old log-probs, advantages, returns). The PPO loop is checked by its outcome: the reward rises
while the KL to the frozen reference stays bounded.
"""

from __future__ import annotations

import copy

import torch

from grader.checking import (Check, CheckFailed, Context, Mistake, expect_tensor, seed_for, seeded,
                             weighted_grads)

MISTAKES: dict[str, Mistake] = {
    # token_logprobs
    "logprobs_raw_logits": Mistake("token_logprobs", "gather from log_softmax(logits, -1), not from the raw "
                                   "logits: logits are unnormalised scores"),
    "logprobs_probs": Mistake("token_logprobs", "return log-probabilities: gather from log_softmax, not softmax"),
    "logprobs_wrong_dim": Mistake("token_logprobs", "normalise over the vocabulary: log_softmax(logits, dim=-1), "
                                  "not over the positions"),
    "logprobs_shift_inside": Mistake("token_logprobs", "token_logprobs does not shift: logits[:, t] scores "
                                     "tokens[:, t]; the caller aligns them (logits[:, P-1:-1] with the response)"),
    # kl_estimators
    "k1_sign_flipped": Mistake("kl_estimators", "k1 = -log r = logp - ref_logp; you returned ref_logp - logp, "
                               "whose mean under the policy is minus the KL"),
    "k2_without_half": Mistake("kl_estimators", "k2 = 0.5 * log_ratio**2: the factor 1/2 makes it agree with the "
                               "KL to second order"),
    "k3_ratio_flipped": Mistake("kl_estimators", "inside k3 the ratio is r = pi_ref / pi, i.e. exp(ref_logp - logp): "
                                "with pi / pi_ref it estimates chi^2 - KL, not KL"),
    "k3_sign_of_log": Mistake("kl_estimators", "k3 = (r - 1) - log r = (r - 1) + k1: the log-ratio is subtracted"),
    "k1_clamped": Mistake("kl_estimators", "do not clamp k1 at zero: negative per-token values are expected, and "
                          "clamping biases the estimate upwards (use k3 for a non-negative estimate)"),
    "kl_detached": Mistake("kl_estimators", "the estimators must stay differentiable in logp (k3 is used as a loss "
                           "term): do not detach or wrap them in torch.no_grad()"),
    # masked_mean
    "mean_of_row_means": Mistake("masked_mean", "take the token-mean over every valid token of the batch, "
                                 "sum(x * mask) / sum(mask), not the mean of per-row means"),
    "mean_counts_padding": Mistake("masked_mean", "divide by the number of valid tokens, sum(mask), not by the "
                                   "number of entries: (x * mask).mean() counts padding as zeros"),
    "mean_ignores_mask": Mistake("masked_mean", "padding must not count: multiply by the mask and divide by sum(mask)"),
    # masked_whiten
    "whiten_unbiased_var": Mistake("masked_whiten", "use the population variance, masked_mean((x - mu)**2, mask) "
                                   "(divide by N, not N - 1)"),
    "whiten_stats_include_padding": Mistake("masked_whiten", "the mean and variance must come from the valid tokens "
                                            "only (masked_mean), not from every entry including padding"),
    "whiten_padding_not_zeroed": Mistake("masked_whiten", "multiply the result by the mask: padding positions of "
                                         "the output are 0"),
    "whiten_per_row": Mistake("masked_whiten", "whiten with statistics of the whole batch (all valid tokens), "
                              "not per row"),
    "whiten_no_shift_misread": Mistake("masked_whiten", "with shift_mean=False the result is (x - mu) / sigma + mu: "
                                       "subtract the mean, scale, then add the mean back"),
    # kl_penalized_rewards
    "score_at_last_column": Mistake("kl_penalized_rewards", "add the score at each row's last valid token, index "
                                    "mask.sum(-1) - 1, not at column T - 1 (padding for shorter rows)"),
    "score_replaces_penalty": Mistake("kl_penalized_rewards", "add the score to the last token's KL penalty; "
                                      "assigning it overwrites that token's -beta * k1"),
    "score_on_every_token": Mistake("kl_penalized_rewards", "the reward-model score is given once per response, at "
                                    "its last valid token, not on every token"),
    "penalty_sign_flipped": Mistake("kl_penalized_rewards", "the penalty is -beta * (logp - ref_logp): with a plus "
                                    "sign the policy is paid for drifting away from the reference"),
    "penalty_on_padding": Mistake("kl_penalized_rewards", "multiply the KL penalty by the mask: padding gets 0"),
    "penalty_uses_k3": Mistake("kl_penalized_rewards", "the reward's penalty uses k1 = logp - ref_logp (summed, it is "
                               "an unbiased sequence KL); k3 belongs in a loss term"),
    "rewards_not_detached": Mistake("kl_penalized_rewards", "rewards are data: compute them from detached "
                                    "log-probs (logp.detach()) so they carry no gradient"),
    # gae
    "gae_bootstraps_from_padding": Mistake("gae", "treat values at padding as 0 (values * mask): V(s_L) = 0 after the "
                                           "last token, whatever the value head output at the padding position"),
    "gae_gamma_lambda_swapped": Mistake("gae", "gamma and lambda are swapped: delta_t = r_t + gamma * V_{t+1} - V_t "
                                        "and A_t = delta_t + gamma * lambda * A_{t+1}"),
    "gae_decay_lambda_only": Mistake("gae", "the recursion decays by gamma * lambda: A_t = delta_t + gamma * lam * "
                                     "A_{t+1}, not lam * A_{t+1}"),
    "returns_without_values": Mistake("gae", "the value targets are returns = advantages + values"),
    "returns_monte_carlo": Mistake("gae", "the value targets are advantages + values (the TD(lambda) return), "
                                   "not the discounted sum of rewards"),
    "advantages_whitened_in_gae": Mistake("gae", "no whitening inside gae: form returns from the raw advantages, "
                                          "and whiten the advantages afterwards, for the policy loss only"),
    "gae_modifies_values": Mistake("gae", "do not modify the inputs in place (values[mask == 0] = 0 changes the "
                                   "caller's tensor): use values * mask"),
    "gae_not_detached": Mistake("gae", "advantages and returns are constants for the update: compute them from "
                                "values.detach() (or under torch.no_grad())"),
    # reinforce_loss
    "reinforce_sign_flipped": Mistake("reinforce_loss", "optimisers minimise: the loss is -A * logp, which raises "
                                      "the log-probability of tokens with positive advantage"),
    "reinforce_advantages_not_detached": Mistake("reinforce_loss", "detach the advantages: only logp should carry "
                                                 "a gradient"),
    "reinforce_zero_gradient": Mistake("reinforce_loss", "the reward must reach the loss through log pi of the "
                                       "sampled tokens: -A * logp. A loss built from the advantages (or rewards) "
                                       "alone has zero gradient in the policy"),
    "reinforce_unmasked": Mistake("reinforce_loss", "average over valid tokens only: masked_mean(-A * logp, mask)"),
    "reinforce_row_sums": Mistake("reinforce_loss", "the exercise uses a token-mean over all valid tokens of the "
                                  "batch (masked_mean), not per-row sums averaged over rows"),
    # ppo_policy_loss
    "ratio_inverted": Mistake("ppo_policy_loss", "the ratio is pi / pi_old = exp(logp - old_logp), not its inverse"),
    "ratio_of_logprobs": Mistake("ppo_policy_loss", "the ratio of probabilities is exp(logp - old_logp), not "
                                 "logp / old_logp"),
    "clip_min_instead_of_max": Mistake("ppo_policy_loss", "the objective takes the min, so the negated loss takes "
                                       "the max: max(-A * ratio, -A * clamp(ratio, 1 - eps, 1 + eps))"),
    "clip_missing": Mistake("ppo_policy_loss", "the clipped term is missing: take max(-A * ratio, -A * "
                            "clamp(ratio, 1 - eps, 1 + eps))"),
    "clip_only": Mistake("ppo_policy_loss", "keep the unclipped term too: max(-A * ratio, -A * clamp(ratio, ...)); "
                         "clipping alone stops the gradient where it must flow (A > 0 with ratio < 1 - eps)"),
    "clip_fraction_outside_band": Mistake("ppo_policy_loss", "the clip fraction counts the tokens whose clipped term "
                                          "is strictly larger (the two zero-gradient cases), not every token with "
                                          "|ratio - 1| > eps"),
    "old_logp_not_detached": Mistake("ppo_policy_loss", "old_logp is a constant from the rollout: detach it"),
    "policy_advantages_not_detached": Mistake("ppo_policy_loss", "detach the advantages: only logp should carry a "
                                              "gradient"),
    "policy_loss_unmasked": Mistake("ppo_policy_loss", "average over valid tokens only (masked_mean), not over "
                                    "padding"),
    # ppo_value_loss
    "value_min_instead_of_max": Mistake("ppo_value_loss", "take the larger of the two squared errors, max(...), "
                                        "as the policy loss does"),
    "value_without_half": Mistake("ppo_value_loss", "the value loss has a factor 1/2: 0.5 * max(...)"),
    "value_clip_relative": Mistake("ppo_value_loss", "clip the value by an absolute amount around old_values: "
                                   "old_values + clamp(values - old_values, -eps, eps), not a relative ratio"),
    "value_loss_unclipped": Mistake("ppo_value_loss", "the exercise clips the value: compare (values - returns)**2 "
                                    "with (v_clipped - returns)**2, v_clipped = old_values + clamp(values - "
                                    "old_values, -eps, eps)"),
    "value_returns_not_detached": Mistake("ppo_value_loss", "returns and old_values are constants: detach them"),
    "value_loss_unmasked": Mistake("ppo_value_loss", "average over valid tokens only (masked_mean)"),
    # ppo_step
    "reward_outside_logprob": Mistake("ppo_step", "the reward must enter the loss through log pi of the sampled "
                                      "tokens: rewards -> gae -> advantages -> ppo_policy_loss. A loss like "
                                      "-reward + beta * KL, with the reward computed under no_grad (or from token "
                                      "ids), has zero reward gradient"),
    "penalty_against_policy": Mistake("ppo_step", "compute ref_logp with the frozen reference, not the policy: "
                                      "otherwise k1 is 0, the KL penalty vanishes and the policy drifts freely"),
    "advantages_not_whitened": Mistake("ppo_step", "whiten the advantages (masked_whiten) after gae, before the "
                                       "policy loss; the returns stay built from the raw advantages"),
    "returns_from_whitened": Mistake("ppo_step", "the value targets are returns = A + V from gae's raw advantages; "
                                     "whitening is for the policy loss only"),
    "sampled_from_reference": Mistake("ppo_step", "sample the responses from the policy being trained (on-policy), "
                                      "not from the reference"),
    "vf_coef_ignored": Mistake("ppo_step", "the loss is policy_loss + vf_coef * value_loss, with the vf_coef passed in"),
    "old_logp_recomputed": Mistake("ppo_step", "old_logp is computed once, in the rollout, and kept for every epoch; "
                                   "recomputed each epoch the ratio is always 1 and nothing is ever clipped"),
    "step_no_zero_grad": Mistake("ppo_step", "gradients accumulate across epochs and steps: call "
                                 "optimizer.zero_grad() before every loss.backward()"),
    "zero_grad_after_backward": Mistake("ppo_step", "the update changed nothing: no gradient was there when "
                                        "optimizer.step() ran. The order is optimizer.zero_grad(), loss.backward(), "
                                        "optimizer.step() (a zero_grad between backward and step wipes them)"),
}

OBSERVATIONS = {
    "logp": "the token log-probabilities",
    "grad_logits": "the gradient with respect to the logits",
    "k1": "k1", "k2": "k2", "k3": "k3",
    "grad_k1": "the gradient of k1 with respect to logp",
    "grad_k2": "the gradient of k2 with respect to logp",
    "grad_k3": "the gradient of k3 with respect to logp",
    "mean": "the masked mean",
    "grad_mean": "the gradient of the masked mean",
    "whitened": "the whitened values",
    "whitened_no_shift": "the whitened values with shift_mean=False",
    "grad_whitened": "the gradient of the whitened values",
    "rewards": "the per-token rewards",
    "advantages": "the advantages (gamma=0.9, lambda=0.8)",
    "returns": "the returns (gamma=0.9, lambda=0.8)",
    "loss": "the loss",
    "grad_logp": "the gradient of the loss with respect to logp",
    "grad_advantages": "the gradient of the loss with respect to the advantages (should be 0)",
    "clip_fraction": "the clip fraction",
    "clip_fraction_rows": "the clip fraction of each row alone",
    "grad_old_logp": "the gradient of the loss with respect to old_logp (should be 0)",
    "grad_values": "the gradient of the loss with respect to values",
    "grad_old_values": "the gradient of the loss with respect to old_values (should be 0)",
    "probe_metrics": "the reward, kl and clip_fraction that ppo_step returned at each of the first steps",
    "probe_policy": "the policy's next-token log-probabilities after the first steps",
    "probe_values": "the value head's outputs after the first steps",
    "probe_rollout_graph": "the fraction of reference passes run with gradients enabled (0: the rollout is under no_grad)",
    "whitened_constant": "the whitened values of a constant input (variance 0)",
    "advantages_one_token": "the advantages of one-token responses (T = 1)",
    "reward_rise": "the rise of the expected reward over 30 iterations",
    "final_kl": "the KL to the reference after 30 iterations",
    "grad_returns": "the gradient of the loss with respect to returns (should be 0)",
}


# --- inputs ----------------------------------------------------------------------------------


def padded_mask(ctx: Context, lengths: list[int], T: int) -> torch.Tensor:
    """(B, T) float mask of 1.0 on the first lengths[b] positions of each row."""
    return ctx.tensor((torch.arange(T).view(1, T) < torch.tensor(lengths).view(-1, 1)).float())


def with_garbage(x: torch.Tensor, mask: torch.Tensor, seed: int, scale: float = 50.0) -> torch.Tensor:
    """x with large values at padding: any computation that reads padding shows."""
    noise = scale * (1.0 + torch.rand(x.shape, generator=seeded(seed))).to(x.device, x.dtype)
    return torch.where(mask > 0, x, noise)


def _weights(shape, seed: int, ctx: Context) -> torch.Tensor:
    """Distinct weights per element: the gradient of sum(w * out) shows per-element scaling mistakes."""
    return ctx.tensor(0.5 + torch.rand(shape, generator=seeded(seed)))


def call_pure(ctx: Context, name: str, *args, changed_means: dict[int, str] | None = None, **kwargs):
    """Call a learner function and fail if it modified any tensor argument in place; ``changed_means`` maps
    an argument's index to the catalogued mistake that changing it indicates."""
    before = [a.detach().clone() if isinstance(a, torch.Tensor) else None for a in args]
    out = ctx.call(name, *args, **kwargs)
    for i, (a, b) in enumerate(zip(args, before)):
        if b is not None and not torch.equal(a.detach(), b):
            mistake = (changed_means or {}).get(i)
            raise CheckFailed(f"{name} modified its argument #{i + 1} in place", expected="inputs left unchanged",
                              got="a changed input tensor", mistake=mistake,
                              hint=MISTAKES[mistake].hint if mistake else "work on copies: x * mask, not x[...] = 0 "
                              "or x.mul_(...) (note that x.detach() shares memory with x)")
    return out


def expect_no_grad(name: str, x: torch.Tensor, what: str, mistake: str) -> None:
    if x.requires_grad:
        raise CheckFailed(f"{name}: the {what} carry a gradient", expected=f"detached {what}",
                          got="a tensor with requires_grad=True", hint=MISTAKES[mistake].hint, mistake=mistake)


def expect_scalar(name: str, x, what: str = "loss") -> torch.Tensor:
    return expect_tensor(name, x, (), what)


# --- per-function checks ---------------------------------------------------------------------


def check_token_logprobs(ctx: Context) -> dict:
    g = seeded(1)
    B, T, V = 3, 6, 11
    position_bias = torch.linspace(-2.0, 2.0, T).view(1, T, 1) * torch.linspace(1.0, -1.0, V).view(1, 1, V)
    logits = 1.5 * torch.randn(B, T, V, generator=g) + 2.0 * position_bias
    tokens = torch.randint(0, V, (B, T), generator=g)
    # One token 150 nats below the best at its position: softmax underflows to 0 in float32, so log(softmax(.))
    # gives -inf where log_softmax gives about -150.
    logits[1, 2, tokens[1, 2]] = logits[1, 2].max() - 150.0
    logits, tokens = ctx.tensor(logits, requires_grad=True), tokens.to(ctx.device)
    out = call_pure(ctx, "token_logprobs", logits, tokens)
    if isinstance(out, torch.Tensor) and tuple(out.shape) == (B, T - 1):
        raise CheckFailed("token_logprobs returned one position fewer than it was given", expected=f"shape {(B, T)}",
                          got=f"shape {(B, T - 1)}", hint=MISTAKES["logprobs_shift_inside"].hint,
                          mistake="logprobs_shift_inside")
    expect_tensor("token_logprobs", out, (B, T))
    (grad,) = weighted_grads("token_logprobs", out, [logits], _weights((B, T), 2, ctx))
    return {"logp": out.detach(), "grad_logits": grad}


def kl_inputs(ctx: Context):
    """(2, 5) log-probs with log r = ref_logp - logp of both signs, several with |log r| >= 1."""
    logp = ctx.literal([[-0.3, -1.7, -2.2, -0.9, -3.1], [-4.0, -2.6, -0.5, -1.3, -0.8]]).cpu()
    log_ratio = ctx.literal([[-2.5, -1.2, -0.4, 0.01, 0.9], [1.6, 2.2, -0.05, 0.3, -1.0]]).cpu()
    ref_logp = ctx.tensor(logp + log_ratio)
    return ctx.tensor(logp, requires_grad=True), ref_logp


def check_kl_estimators(ctx: Context) -> dict:
    logp, ref_logp = kl_inputs(ctx)
    out = call_pure(ctx, "kl_estimators", logp, ref_logp)
    if not (isinstance(out, (tuple, list)) and len(out) == 3):
        raise CheckFailed("kl_estimators must return a tuple (k1, k2, k3)", got=type(out).__name__)
    obs = {}
    for i, (name, k) in enumerate(zip(("k1", "k2", "k3"), out)):
        expect_tensor("kl_estimators", k, tuple(logp.shape), name)
        if not k.requires_grad:
            raise CheckFailed(f"kl_estimators: {name} carries no gradient", expected="differentiable in logp",
                              got="a detached tensor", hint=MISTAKES["kl_detached"].hint, mistake="kl_detached")
        obs[name] = k.detach()
        (obs[f"grad_{name}"],) = weighted_grads("kl_estimators", k, [logp], _weights(logp.shape, 3 + i, ctx))
    return obs


def masked_inputs(ctx: Context):
    """x (3, 6) with rows of 6, 4 and 2 valid tokens and large values at padding."""
    mask = padded_mask(ctx, [6, 4, 2], 6)
    x = ctx.tensor(torch.randn(3, 6, generator=seeded(4)) * torch.tensor([[1.0], [2.0], [0.5]]) + 0.7)
    return with_garbage(x, mask, 5).requires_grad_(True), mask


def check_masked_mean(ctx: Context) -> dict:
    x, mask = masked_inputs(ctx)
    out = expect_scalar("masked_mean", call_pure(ctx, "masked_mean", x, mask), "mean")
    (grad,) = weighted_grads("masked_mean", out, [x])
    return {"mean": out.detach(), "grad_mean": grad}


def check_masked_whiten(ctx: Context) -> dict:
    x, mask = masked_inputs(ctx)
    out = expect_tensor("masked_whiten", call_pure(ctx, "masked_whiten", x, mask), tuple(x.shape))
    (grad,) = weighted_grads("masked_whiten", out, [x], _weights(x.shape, 6, ctx))
    no_shift = call_pure(ctx, "masked_whiten", x, mask, shift_mean=False)
    expect_tensor("masked_whiten(shift_mean=False)", no_shift, tuple(x.shape))
    # Every valid value equal (a one-token batch is the common case): the variance is 0, and only the epsilon
    # inside the square root keeps the result finite. A power of two, so that every way of taking the mean is
    # exact (with 0.7 a rounding of 1e-8, divided by sqrt(1e-8), would show).
    constant = with_garbage(ctx.tensor(torch.full(tuple(x.shape), 2.0)), mask, 12)
    flat = expect_tensor("masked_whiten (a constant input)", call_pure(ctx, "masked_whiten", constant, mask),
                         tuple(x.shape), nonfinite_hint="a constant input has variance 0: divide by "
                         "sqrt(var + 1e-8), with the epsilon inside the square root")
    return {"whitened": out.detach(), "whitened_no_shift": no_shift.detach(), "grad_whitened": grad,
            "whitened_constant": flat.detach()}


def check_kl_penalized_rewards(ctx: Context) -> dict:
    g = seeded(7)
    mask = padded_mask(ctx, [6, 3, 1], 6)
    # Garbage of 20 to 40 at padding: large, yet exp() of it stays finite in float32.
    logp = with_garbage(ctx.tensor(-3.0 * torch.rand(3, 6, generator=g)), mask, 8, scale=20.0).requires_grad_(True)
    ref_logp = with_garbage(ctx.tensor(-3.0 * torch.rand(3, 6, generator=g)), mask, 9, scale=20.0).requires_grad_(True)
    scores = ctx.literal([1.5, -0.7, 2.0], requires_grad=True)  # every input may carry a graph; the rewards may not
    out = call_pure(ctx, "kl_penalized_rewards", scores, logp, ref_logp, mask, 0.3)
    expect_tensor("kl_penalized_rewards", out, (3, 6), "rewards")
    expect_no_grad("kl_penalized_rewards", out, "rewards", "rewards_not_detached")
    return {"rewards": out}


def check_gae(ctx: Context) -> dict:
    g = seeded(10)
    mask = padded_mask(ctx, [6, 4, 2], 6)
    rewards = ctx.tensor(0.2 * torch.randn(3, 6, generator=g)) * mask
    rewards = rewards + ctx.literal([[0.0] * 5 + [1.0], [0.0] * 3 + [-0.8, 0, 0], [0.0, 1.5] + [0.0] * 4])
    rewards = with_garbage(rewards, mask, 13, scale=2.0).requires_grad_(True)  # padding is to be ignored
    values = with_garbage(ctx.tensor(torch.randn(3, 6, generator=g)), mask, 11, scale=2.0).requires_grad_(True)
    out = call_pure(ctx, "gae", rewards, values, mask, 0.9, 0.8, changed_means={1: "gae_modifies_values"})
    if not (isinstance(out, (tuple, list)) and len(out) == 2):
        raise CheckFailed("gae must return a tuple (advantages, returns)", got=type(out).__name__)
    advantages, returns = out
    for name, x in (("advantages", advantages), ("returns", returns)):
        expect_tensor("gae", x, (3, 6), name)
        expect_no_grad("gae", x, name, "gae_not_detached")
    # One-token responses (T = 1): no next step at all.
    short = call_pure(ctx, "gae", ctx.literal([[0.5], [-1.25]]), ctx.literal([[0.25], [0.75]]), ctx.tensor([[1.0], [1.0]]),
                      0.9, 0.8)
    if not (isinstance(short, (tuple, list)) and len(short) == 2):
        raise CheckFailed("gae must return a tuple (advantages, returns)", got=type(short).__name__)
    return {"advantages": advantages, "returns": returns,
            "advantages_one_token": expect_tensor("gae (T = 1)", short[0], (2, 1), "advantages").detach()}


def check_reinforce_loss(ctx: Context) -> dict:
    g = seeded(12)
    mask = padded_mask(ctx, [6, 4, 2], 6)
    logp = with_garbage(ctx.tensor(-3.0 * torch.rand(3, 6, generator=g)), mask, 13).requires_grad_(True)
    advantages = with_garbage(ctx.tensor(torch.randn(3, 6, generator=g)), mask, 14).requires_grad_(True)
    loss = expect_scalar("reinforce_loss", call_pure(ctx, "reinforce_loss", logp, advantages, mask))
    if not loss.requires_grad:
        raise CheckFailed("reinforce_loss carries no gradient", expected="a loss whose gradient in logp is -A",
                          got="a constant", hint=MISTAKES["reinforce_zero_gradient"].hint,
                          mistake="reinforce_zero_gradient")
    grad_logp, grad_advantages = weighted_grads("reinforce_loss", loss, [logp, advantages])
    return {"loss": loss.detach(), "grad_logp": grad_logp, "grad_advantages": grad_advantages}


POLICY_CLIP = 0.25


def policy_inputs(ctx: Context):
    """Two rows (6 and 3 valid tokens). Row 0 visits the four clip quadrants and the band; row 1 has two
    clipped tokens and one in the band; padding holds extreme ratios and advantages."""
    ratio = ctx.literal([[1.4, 0.6, 0.5, 1.5, 1.1, 0.9], [1.3, 0.7, 1.05, 3.0, 0.2, 0.9]]).cpu()
    advantages = ctx.literal([[2.0, 0.5, -1.0, -1.5, 0.8, -0.3], [1.2, -0.7, -2.0, 5.0, -4.0, 3.0]]).cpu()
    old_logp = -torch.rand(2, 6, generator=seeded(15)) * 3.0
    mask = padded_mask(ctx, [6, 3], 6)
    return (ctx.tensor(old_logp + ratio.log(), requires_grad=True), ctx.tensor(old_logp, requires_grad=True),
            ctx.tensor(advantages, requires_grad=True), mask)


def check_ppo_policy_loss(ctx: Context) -> dict:
    logp, old_logp, advantages, mask = policy_inputs(ctx)
    out = call_pure(ctx, "ppo_policy_loss", logp, old_logp, advantages, mask, clip_eps=POLICY_CLIP)
    if not (isinstance(out, (tuple, list)) and len(out) == 2):
        raise CheckFailed("ppo_policy_loss must return a tuple (loss, clip_fraction)", got=type(out).__name__)
    loss = expect_scalar("ppo_policy_loss", out[0])
    clip_fraction = expect_scalar("ppo_policy_loss", out[1], "clip_fraction")
    if clip_fraction.requires_grad:
        raise CheckFailed("ppo_policy_loss: clip_fraction carries a gradient", expected="a detached diagnostic",
                          got="requires_grad=True", hint="return clip_fraction.detach()")
    grads = weighted_grads("ppo_policy_loss", loss, [logp, old_logp, advantages])
    # Each row alone as well: a clip fraction is one number, and one number is little evidence for a hint.
    rows = [call_pure(ctx, "ppo_policy_loss", *(x[b : b + 1] for x in (logp, old_logp, advantages, mask)),
                      clip_eps=POLICY_CLIP)[1] for b in range(logp.shape[0])]
    rows = torch.stack([expect_scalar("ppo_policy_loss", r, "clip_fraction").detach() for r in rows])
    return {"loss": loss.detach(), "clip_fraction": clip_fraction, "clip_fraction_rows": rows, "grad_logp": grads[0],
            "grad_old_logp": grads[1], "grad_advantages": grads[2]}


VALUE_CLIP = 0.25


def value_inputs(ctx: Context):
    """Two rows (5 and 3 valid tokens): predictions inside the clip band, outside it towards the target
    (clipped, zero gradient) and outside it away from the target (unclipped); garbage on padding."""
    old_values = ctx.literal([[0.5, 0.5, -0.4, 1.2, 0.3], [2.0, -1.0, 0.6, 3.0, -2.0]]).cpu()
    values = ctx.literal([[0.9, 0.6, -0.9, 1.6, 0.1], [1.5, -1.1, 1.2, 9.0, -7.0]]).cpu()
    returns = ctx.literal([[1.0, 0.45, -1.5, 0.8, 0.35], [1.0, 0.3, 1.0, -6.0, 8.0]]).cpu()
    mask = padded_mask(ctx, [5, 3], 5)
    return (ctx.tensor(values, requires_grad=True), ctx.tensor(old_values, requires_grad=True),
            ctx.tensor(returns, requires_grad=True), mask)


def check_ppo_value_loss(ctx: Context) -> dict:
    values, old_values, returns, mask = value_inputs(ctx)
    loss = expect_scalar("ppo_value_loss", call_pure(ctx, "ppo_value_loss", values, old_values, returns, mask,
                                                     clip_eps=VALUE_CLIP))
    grads = weighted_grads("ppo_value_loss", loss, [values, old_values, returns])
    return {"loss": loss.detach(), "grad_values": grads[0], "grad_old_values": grads[1], "grad_returns": grads[2]}


# --- the PPO loop ----------------------------------------------------------------------------

STEPS, BATCH, PROMPT_LEN, NEW_TOKENS = 30, 16, 4, 8
STEP_KWARGS = dict(max_new_tokens=NEW_TOKENS, beta=0.05, gamma=1.0, lam=0.95, epochs=4, clip_eps=0.2, vf_coef=0.5)
MIN_RISE = 0.1  # the correct loop reaches about +0.2 in 30 steps, from 0.25
MAX_KL = 6.0  # nats per 8-token response; correct loops end near 2-3, without the penalty above 12
PROBE_STEPS, PROBE_LR, EOS_BIAS = 2, 3e-3, 4.0  # the white-box iterations (not Adam's default lr)
# ...with no argument at ppo_step's default, so that a loop ignoring one (a hard-coded clip_eps in the value loss,
# vf_coef dropped, gamma and lam swapped) shows
PROBE_NOISE = 0.02  # the probe's policy starts this far (per parameter, Gaussian) from the reference
PROBE_KWARGS = dict(max_new_tokens=6, beta=0.07, gamma=0.97, lam=0.9, epochs=3, clip_eps=0.15, vf_coef=0.4)
# The 30-step outcome differs between correct loops (Adam amplifies rounding): judged by bounds, not equality.
AT_LEAST = {"reward_rise": MIN_RISE}
AT_MOST = {"final_kl": MAX_KL}
# Adam's first updates are about lr in size whatever the gradient's size, so on parameters whose gradient is
# rounding noise the sign is noise: correct loops that add in another order end ~1e-3 apart. (rtol, atol):
TOLERANCE = {"probe_metrics": (1e-2, 1e-3), "probe_policy": (1e-2, 1e-2), "probe_values": (1e-2, 1e-3)}


@torch.no_grad()
def evaluate(policy, reference, prompts: torch.Tensor, target: torch.Tensor) -> tuple[float, float]:
    """Expected reward and exact KL(policy || reference) of 8-token continuations, along 4 samples per
    prompt drawn with the grader's own generator (so any sampling code of the learner's is irrelevant)."""
    g = seeded(21)
    ids = prompts.repeat(4, 1)
    hits = kl = torch.zeros(ids.shape[0], device=ids.device)
    for _ in range(NEW_TOKENS):
        logp = torch.log_softmax(policy(ids).logits[:, -1].float(), -1)
        ref_logp = torch.log_softmax(reference(ids).logits[:, -1].float(), -1)
        p = logp.exp()
        kl = kl + (p * (logp - ref_logp)).sum(-1)
        hits = hits + (p * target).sum(-1)
        u = torch.rand(ids.shape[0], 1, generator=g).to(ids.device)
        ids = torch.cat([ids, (p.cumsum(-1) < u).sum(-1, keepdim=True).clamp(max=p.shape[-1] - 1)], dim=1)
    return (hits / NEW_TOKENS).mean().item(), kl.mean().item()


def _metric(result, key: str) -> float:
    if not isinstance(result, dict) or key not in result:
        raise CheckFailed("ppo_step must return a dict with reward, kl and clip_fraction", got=repr(result)[:200])
    x = result[key]
    if not isinstance(x, float):  # the spec's "a dict of floats": .item(), not a tensor that keeps its graph
        raise CheckFailed(f"ppo_step: {key} should be a Python float", expected="a float", got=type(x).__name__,
                          hint=f"return {key} as a Python number: .item() on the tensor")
    return x


def check_ppo_step(ctx: Context) -> dict:
    from grader.tiny_models import load_gpt2

    model, _, _ = load_gpt2(device=ctx.device)
    reference = model.to(ctx.dtype).requires_grad_(False)
    policy = copy.deepcopy(reference).requires_grad_(True)
    V, H = model.config.vocab_size, model.config.n_embd
    g = seeded(5)
    target = torch.zeros(V)
    target[torch.randperm(V - 1, generator=g)[: V // 4] + 1] = 1.0  # a quarter of the vocabulary, never EOS
    target = target.to(ctx.device, ctx.dtype)
    value_head = torch.nn.Linear(H, 1)
    with torch.no_grad():
        value_head.weight.copy_(0.01 * torch.randn(1, H, generator=g))
        value_head.bias.zero_()
    value_head.to(ctx.device, ctx.dtype)
    prompts = torch.randint(1, V, (BATCH, PROMPT_LEN), generator=g).to(ctx.device)

    def reward_fn(response, mask):  # the fraction of valid response tokens in the target set
        return (target[response] * mask).sum(-1) / mask.sum(-1)

    white_box = probe_steps(ctx, policy, reference, value_head, prompts, reward_fn)
    optimizer = torch.optim.Adam([*policy.parameters(), *value_head.parameters()], lr=1e-3)
    reward_before, _ = evaluate(policy, reference, prompts, target)
    ref_before = [p.detach().clone() for p in reference.parameters()]
    policy_before = [p.detach().clone() for p in policy.parameters()]
    reference.requires_grad_(True)  # so that a gradient reaching it would show; checked below
    grad_sizes = []  # of every backward pass into the policy: tells "no gradient" from "no update"
    hooks = [p.register_hook(lambda grad: grad_sizes.append(grad.detach().abs().max())) for p in policy.parameters()]
    torch.manual_seed(seed_for(0))
    try:
        run_steps(ctx, policy, reference, value_head, optimizer, prompts, reward_fn)
    finally:
        for hook in hooks:
            hook.remove()
    if any(p.grad is not None and p.grad.abs().sum() > 0 for p in reference.parameters()) or any(
            not torch.equal(p.detach(), b) for p, b in zip(reference.parameters(), ref_before)):
        raise CheckFailed("ppo_step: the reference model changed or received gradients",
                          expected="a frozen reference", got="reference parameters with .grad set or new values",
                          hint="compute ref_logp under torch.no_grad(); only the policy and value head are trained")
    if all(torch.equal(p.detach(), b) for p, b in zip(policy.parameters(), policy_before)):
        if not grad_sizes:
            raise CheckFailed(f"ppo_step: no backward pass reached the policy in {STEPS} steps",
                              expected="loss.backward() on a loss computed from the policy",
                              got="no gradient ever computed (the policy did not change)",
                              hint="call loss.backward() before optimizer.step(), on a loss built from the policy's "
                                   "log-probs outside torch.no_grad()")
        if max(float(x) for x in grad_sizes) == 0.0:
            raise CheckFailed(f"ppo_step: the loss never had a gradient in the policy in {STEPS} steps",
                              expected="a non-zero gradient", got="exactly 0 (the policy did not change)",
                              hint=MISTAKES["reward_outside_logprob"].hint, mistake="reward_outside_logprob")
        raise CheckFailed(f"ppo_step: the policy did not change in {STEPS} steps, although its loss had gradients",
                          expected="updated parameters", got="the initial parameters",
                          hint=MISTAKES["zero_grad_after_backward"].hint, mistake="zero_grad_after_backward")
    reward, kl = evaluate(policy, reference, prompts, target)
    return {**white_box, "reward_rise": torch.tensor(reward - reward_before, dtype=torch.float64),
            "final_kl": torch.tensor(kl, dtype=torch.float64)}


def probe_steps(ctx: Context, policy, reference, value_head, prompts, reward_fn) -> dict:
    """White-box: PROBE_STEPS seeded iterations of the learner's ppo_step on copies of the policy and value head;
    the metrics it reports at each step and what the copies compute afterwards, against the reference's."""
    policy, value_head, reference = copy.deepcopy(policy), copy.deepcopy(value_head), copy.deepcopy(reference)
    g = seeded(29)
    with torch.no_grad():  # policy != reference from the start: the KL, its penalty and its metric are not 0
        for _, p in sorted(policy.named_parameters()):
            p.add_(PROBE_NOISE * torch.randn(p.shape, generator=g).to(p.device, p.dtype))
    for model in (policy, reference):  # responses that end early: padding after EOS in the rollout's masks
        _favour_eos(model, EOS_BIAS)
    optimizer = torch.optim.Adam([*policy.parameters(), *value_head.parameters()], lr=PROBE_LR)
    torch.manual_seed(seed_for(2))  # sample_responses draws from torch's generator: the same responses for all
    grad_modes: list[bool] = []  # the reference is only run in the rollout, which builds no graph
    hook = reference.register_forward_pre_hook(lambda module, args: grad_modes.append(torch.is_grad_enabled()))
    try:
        metrics = run_steps(ctx, policy, reference, value_head, optimizer, prompts, reward_fn, PROBE_STEPS,
                            PROBE_KWARGS, starts_at_reference=False)
    finally:
        hook.remove()
    with torch.no_grad():
        out = policy(prompts, output_hidden_states=True)
        logp = torch.log_softmax(out.logits[:, -1].double(), -1)  # (B, V) next-token log-probs after the steps
        values = value_head(out.hidden_states[-1][:, -1]).squeeze(-1).double()  # (B,)
    return {"probe_metrics": torch.tensor(metrics, dtype=torch.float64),
            "probe_policy": torch.randn(8, logp.numel(), generator=seeded(23), dtype=torch.float64) @ logp.cpu().flatten(),
            "probe_values": values.cpu(),
            "probe_rollout_graph": torch.tensor(sum(grad_modes) / max(len(grad_modes), 1), dtype=torch.float64)}


def _favour_eos(model, bias: float) -> None:
    """Give ``model``'s LM head (tied to its embeddings) a fixed bias towards EOS: with +4 about one token in ten
    is EOS, so most 8-token responses end early."""
    head = model.lm_head
    biased = torch.nn.Linear(head.in_features, head.out_features, bias=True)
    biased.weight = head.weight  # the same (tied) parameter
    b = torch.zeros(head.out_features, device=head.weight.device, dtype=head.weight.dtype)
    b[model.config.eos_token_id] = bias
    biased.bias = torch.nn.Parameter(b, requires_grad=False)
    model.lm_head = biased


def run_steps(ctx: Context, policy, reference, value_head, optimizer, prompts, reward_fn, steps: int = STEPS,
              kwargs: dict = STEP_KWARGS, starts_at_reference: bool = True) -> list[list[float]]:
    """Call the learner's ppo_step ``steps`` times and check what it reports; returns the reported metrics."""
    metrics = []
    for step in range(steps):
        result = ctx.call("ppo_step", policy, reference, value_head, optimizer, prompts, reward_fn, **kwargs)
        reported = [_metric(result, k) for k in ("reward", "kl", "clip_fraction")]
        if step == 0 and starts_at_reference and abs(reported[1]) > 1e-4:
            raise CheckFailed("ppo_step: at the first step the policy equals the reference, so its kl must be 0",
                              expected=0.0, got=reported[1], hint="kl is the mean over rows of the summed k1 = "
                              "old_logp - ref_logp on valid tokens; both log-probs must score the same response "
                              "tokens with the same alignment")
        metrics.append(reported)
    return metrics


CHECKS = (
    Check("token_logprobs", ("token_logprobs",), check_token_logprobs,
          "log-probs of given tokens: log_softmax over the vocabulary, no shift, gradient", points=1),
    Check("kl_estimators", ("kl_estimators",), check_kl_estimators,
          "k1, k2, k3 at |log r| >= 1 and near 0, direction of the ratio, gradients", points=2),
    Check("masked_mean", ("masked_mean",), check_masked_mean,
          "token-mean over the valid tokens of the batch", points=1),
    Check("masked_whiten", ("masked_whiten",), check_masked_whiten,
          "batch statistics of valid tokens, population variance, shift_mean, zero padding", points=1,
          calls=("masked_mean",)),
    Check("kl_penalized_rewards", ("kl_penalized_rewards",), check_kl_penalized_rewards,
          "-beta*k1 per valid token, score at the last valid token under right padding, detached", points=2),
    Check("gae", ("gae",), check_gae,
          "GAE with gamma=0.9, lambda=0.8, unequal lengths; V=0 after the end; returns = A + V", points=2),
    Check("reinforce_loss", ("reinforce_loss",), check_reinforce_loss,
          "token-mean -A*logp with gradient -A; no gradient into the advantages", points=1,
          calls=("masked_mean",)),
    Check("ppo_policy_loss", ("ppo_policy_loss",), check_ppo_policy_loss,
          "all four clip quadrants, zero gradient where clipped, clip fraction, constants detached", points=3,
          calls=("masked_mean",)),
    Check("ppo_value_loss", ("ppo_value_loss",), check_ppo_value_loss,
          "clipped value loss, gradients, constants detached", points=1,
          calls=("masked_mean",)),
    # The helpers are `calls`, not `functions`: their own checks name their mistakes (this one says "fix them
    # first"), and the mutation tool and meta-tests do not rerun the loop for each helper's mistake.
    Check("ppo_step", ("ppo_step",), check_ppo_step,
          f"{STEPS} PPO steps on the tiny GPT-2: the reward rises, the KL stays bounded, the reference is frozen",
          points=3, timeout_s=60, calls=("token_logprobs", "kl_estimators", "masked_mean", "masked_whiten",
                                         "kl_penalized_rewards", "gae", "ppo_policy_loss", "ppo_value_loss")),
)
