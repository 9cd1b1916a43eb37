# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# This file is generated from solutions/ppo.py by `rlhf-course stubs`; edit it freely to solve
# the exercise (regenerating overwrites it).

# %% [markdown]
# # Exercise: PPO with a KL-penalised reward
#
# Read the lessons `lessons/rl_for_lms.md`, `lessons/kl_divergence.md` and `lessons/ppo.md` first; the
# tables "Conventions used in the exercise" there pin every function below. You will implement
#
# 1. `token_logprobs`: the log-probability of each given token under its logits;
# 2. `kl_estimators`: the per-token KL estimators k1, k2 and k3;
# 3. `masked_mean` and `masked_whiten`: statistics over the valid (unpadded) tokens only;
# 4. `kl_penalized_rewards`: $-\beta\,k_1$ on every response token, plus the score on the last one;
# 5. `gae`: generalised advantage estimates and the value targets (returns);
# 6. `reinforce_loss`, `ppo_policy_loss` and `ppo_value_loss`: the losses, token-mean over valid tokens;
# 7. `ppo_step`: one PPO iteration (rollout, rewards, advantages, a few epochs of updates) on the tiny
#    GPT-2, which the last cells run for a few dozen steps.
#
# Fill in each `raise NotImplementedError()`; the rest of the notebook is given. Check your work with
#
#     rlhf-course check ppo
#
# The grader reads only your imports, functions and classes, so the demo cells below never slow it down.
#
# Shapes: `B` responses per batch, `T` tokens in the longest response, `V` the vocabulary. Every per-token
# tensor covers the **response only**; row `b` has `L_b >= 1` valid tokens at positions `0 .. L_b - 1`,
# then right padding. `mask` is a float tensor of 1.0 (valid) and 0.0 (padding).

# %% [markdown]
# Check each function as soon as you have written it: the cell after it, `check("...")`, grades what you
# ran in this notebook as `rlhf-course check ppo` does (your code runs in the course's sandbox, not in
# this kernel) and shows the result under the cell. Demo cells run under `with demo():`: one that needs a
# function you have not written yet says so, and the rest of the notebook still runs.

# %%
from grader import check, demo

# %%
import copy

import torch
from tqdm.auto import tqdm

from grader import load_gpt2

torch.manual_seed(0)

# %% [markdown]
# ## 1. Token log-probabilities
#
# `token_logprobs(logits, tokens)` returns $\log\operatorname{softmax}(\text{logits}_{b,t})[\text{tokens}_{b,t}]$.
# It does **not** shift: the caller aligns the logits that predict each token with that token, e.g.
# `token_logprobs(logits[:, P - 1 : -1], input_ids[:, P:])` for a prompt of `P` tokens.

# %%
def token_logprobs(logits: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
    """Log-probability of each token under the logits at the same position.

    logits: (B, T, V); tokens: (B, T) long.
    Returns: (B, T) log softmax(logits)[tokens].
    """
    # YOUR CODE HERE
    raise NotImplementedError()


# %%
check("token_logprobs")  # grades your token_logprobs as `rlhf-course check ppo` does


# %% [markdown]
# ## 2. KL estimators
#
# On tokens sampled from the policy, with `log_ratio` $= \log r = \log\pi_\text{ref} - \log\pi$:
#
# * k1 $= -\log r$ (unbiased, can be negative),
# * k2 $= \tfrac12(\log r)^2$ (never negative, biased),
# * k3 $= (r - 1) - \log r$ (unbiased and never negative).
#
# Each is per token, of the same shape as its inputs, and differentiable (k3 is used as a loss term by
# GRPO).

# %%
def kl_estimators(logp: torch.Tensor, ref_logp: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per-token estimators of KL(pi || pi_ref) from the log-probs of sampled tokens.

    logp: (B, T) log pi(y_t | s_t); ref_logp: (B, T) log pi_ref(y_t | s_t) of the same tokens.
    Returns: k1, k2, k3, each (B, T).
    """
    # YOUR CODE HERE
    raise NotImplementedError()


# %%
check("kl_estimators")  # grades your kl_estimators as `rlhf-course check ppo` does

# %% [markdown]
# At $|\log r| \ge 1$ the estimators differ a lot; near 0, k2 and k3 agree to second order
# ($k3 = \tfrac12\ell^2 + \tfrac16\ell^3 + \dots$ with $\ell = \log r$).

# %%
with demo():
    toy_logp = torch.tensor([[-0.2, -1.5, -3.0, -0.01]])
    toy_ref_logp = torch.tensor([[-0.35, -1.2, -1.0, -0.02]])
    for name, k in zip(("k1", "k2", "k3"), kl_estimators(toy_logp, toy_ref_logp)):
        print(name, k)

# %% [markdown]
# ## 3. Masked statistics
#
# `masked_mean(x, mask)` is the token-mean over every valid token of the batch, $\sum x\,m / \sum m$ (a
# 0-dim tensor), not a mean of per-row means. `masked_whiten(x, mask, shift_mean=True)` standardises with
# the masked mean $\mu$ and the masked population variance $\sigma^2$ (divide by the number of valid tokens):
# $(x - \mu)/\sqrt{\sigma^2 + 10^{-8}}$; with `shift_mean=False` it adds $\mu$ back. Padding positions of
# its output are 0.

# %%
def masked_mean(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of x over the valid tokens of the whole batch.

    x, mask: (B, T). Returns: a 0-dim tensor.
    """
    # YOUR CODE HERE
    raise NotImplementedError()


# %%
check("masked_mean")  # grades your masked_mean as `rlhf-course check ppo` does


# %%
def masked_whiten(x: torch.Tensor, mask: torch.Tensor, shift_mean: bool = True) -> torch.Tensor:
    """Standardise x with the mean and variance of its valid tokens.

    x, mask: (B, T). Returns: (B, T), 0 at padding.
    """
    # YOUR CODE HERE
    raise NotImplementedError()


# %%
check("masked_whiten")  # grades your masked_whiten as `rlhf-course check ppo` does


# %% [markdown]
# ## 4. The KL-penalised reward
#
# Each valid response token gets $-\beta\,k_1 = -\beta(\log\pi_\text{old} - \log\pi_\text{ref})$; the
# reward-model score of row `b` is **added** at its last valid token, position `L_b - 1` (not column
# `T - 1`, which may be padding). Padding gets 0. The rewards are data: return them without a gradient.

# %%
def kl_penalized_rewards(scores: torch.Tensor, logp: torch.Tensor, ref_logp: torch.Tensor, mask: torch.Tensor,
                         beta: float) -> torch.Tensor:
    """Per-token rewards: -beta * k1 on every valid token, plus the score at each row's last valid token.

    scores: (B,) reward-model scores; logp, ref_logp, mask: (B, T); logp is the rollout-time log-prob.
    Returns: (B, T) rewards, detached, 0 at padding.
    """
    # YOUR CODE HERE
    raise NotImplementedError()


# %%
check("kl_penalized_rewards")  # grades your kl_penalized_rewards as `rlhf-course check ppo` does

# %% [markdown]
# The worked example of the KL lesson: four tokens, $\beta = 0.1$, score 0.8, and a second row with two
# valid tokens and two of padding.

# %%
with demo():
    toy_logp = torch.tensor([[-0.20, -1.50, -0.70, -0.05], [-0.5, -0.9, 0.0, 0.0]])
    toy_ref_logp = torch.tensor([[-0.35, -1.20, -1.10, -0.05], [-0.4, -1.0, 0.0, 0.0]])
    toy_mask = torch.tensor([[1.0, 1.0, 1.0, 1.0], [1.0, 1.0, 0.0, 0.0]])
    print(kl_penalized_rewards(torch.tensor([0.8, 1.0]), toy_logp, toy_ref_logp, toy_mask, beta=0.1))

# %% [markdown]
# ## 5. Generalised advantage estimation
#
# With $\delta_t = r_t + \gamma V(s_{t+1}) - V(s_t)$, compute backwards $A_{L-1} = \delta_{L-1}$ and
# $A_t = \delta_t + \gamma\lambda A_{t+1}$. Values at padding are treated as 0, so $V(s_{L_b}) = 0$ whatever
# the value head output there. The value targets are `returns = advantages + values`, formed from the raw
# advantages (no whitening inside `gae`). Both outputs are 0 at padding and carry no gradient.

# %%
def gae(rewards: torch.Tensor, values: torch.Tensor, mask: torch.Tensor, gamma: float,
        lam: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Generalised advantage estimates and returns.

    rewards, values, mask: (B, T); values[:, t] = V(s_t); entries at padding (mask 0) are ignored.
    Returns: advantages (B, T), returns (B, T), both detached and 0 at padding.
    """
    # YOUR CODE HERE
    raise NotImplementedError()


# %%
check("gae")  # grades your gae as `rlhf-course check ppo` does

# %% [markdown]
# The worked example of the PPO lesson: three valid tokens, one of padding (whose value 0.30 is ignored).
# Expect advantages (0.43195, 0.381, 0.18, 0) and returns (0.93195, 0.981, 0.98, 0).

# %%
with demo():
    toy_rewards = torch.tensor([[-0.03, 0.01, 0.98, 0.0]])
    toy_values = torch.tensor([[0.50, 0.60, 0.80, 0.30]])
    print(gae(toy_rewards, toy_values, torch.tensor([[1.0, 1.0, 1.0, 0.0]]), gamma=1.0, lam=0.95))

# %% [markdown]
# ## 6. The losses
#
# All three are token-means over valid tokens (`masked_mean`) and return a 0-dim tensor.
#
# * `reinforce_loss`: $-A_t\log\pi_\theta(y_t \mid s_t)$ with the advantages held constant; its gradient
#   with respect to `logp` is $-A_t m_t/\sum m$.
# * `ppo_policy_loss`: with $\rho = \exp(\log\pi_\theta - \log\pi_\text{old})$, the loss
#   $\max(-A\rho,\ -A\operatorname{clip}(\rho, 1-\epsilon, 1+\epsilon))$; `old_logp` and `advantages` are
#   constants. It also returns the clip fraction: the masked mean of the indicator that the clipped term is
#   strictly larger (the two zero-gradient cases), as a detached 0-dim tensor.
# * `ppo_value_loss`: $\tfrac12\max\big((V - R)^2, (V_\text{clip} - R)^2\big)$ with
#   $V_\text{clip} = V_\text{old} + \operatorname{clip}(V - V_\text{old}, -\epsilon, \epsilon)$; `old_values`
#   and `returns` are constants.

# %%
def reinforce_loss(logp: torch.Tensor, advantages: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Policy-gradient (REINFORCE) surrogate loss.

    logp, advantages, mask: (B, T). Returns: a 0-dim tensor whose gradient in logp is -A * mask / sum(mask).
    """
    # YOUR CODE HERE
    raise NotImplementedError()


# %%
check("reinforce_loss")  # grades your reinforce_loss as `rlhf-course check ppo` does


# %%
def ppo_policy_loss(logp: torch.Tensor, old_logp: torch.Tensor, advantages: torch.Tensor, mask: torch.Tensor,
                    clip_eps: float = 0.2) -> tuple[torch.Tensor, torch.Tensor]:
    """PPO's clipped surrogate, as a loss to minimise.

    logp: (B, T) under the current policy; old_logp: (B, T) at rollout time; advantages, mask: (B, T).
    Returns: loss (0-dim), clip_fraction (0-dim, detached).
    """
    # YOUR CODE HERE
    raise NotImplementedError()


# %%
check("ppo_policy_loss")  # grades your ppo_policy_loss as `rlhf-course check ppo` does


# %%
def ppo_value_loss(values: torch.Tensor, old_values: torch.Tensor, returns: torch.Tensor, mask: torch.Tensor,
                   clip_eps: float = 0.2) -> torch.Tensor:
    """Clipped value loss.

    values: (B, T) under the current value head; old_values: (B, T) at rollout time; returns, mask: (B, T).
    Returns: a 0-dim tensor.
    """
    # YOUR CODE HERE
    raise NotImplementedError()


# %%
check("ppo_value_loss")  # grades your ppo_value_loss as `rlhf-course check ppo` does

# %% [markdown]
# The four clip cases of the PPO lesson's worked example: loss 0.0375, clip fraction 0.5, and a gradient
# $(0, -0.0875, 0, 0.525)$ that is zero exactly where clipping is active.

# %%
with demo():
    toy_old_logp = torch.zeros(1, 4)
    toy_logp = torch.log(torch.tensor([[1.3, 0.7, 0.6, 1.4]])).requires_grad_()
    loss, clip_fraction = ppo_policy_loss(toy_logp, toy_old_logp, torch.tensor([[2.0, 0.5, -1.0, -1.5]]),
                                          torch.ones(1, 4))
    loss.backward()
    print(loss, clip_fraction, toy_logp.grad)

# %% [markdown]
# ## 7. One PPO iteration on the tiny GPT-2
#
# `sample_responses` (given) samples `max_new_tokens` tokens per prompt; tokens after the first EOS are
# padding (the EOS itself is an action, so it stays valid). `value_head` is an `nn.Linear(hidden, 1)` on
# the policy's last hidden states: with a prompt of `P` tokens, the hidden state at position `P - 1 + t`
# (the one whose logits score response token `t`) gives `values[:, t]` $= V(s_t)$.
#
# Write `ppo_step` so that it
#
# 1. **rolls out** without building a graph: samples responses, computes `old_logp` and `old_values` with
#    the policy and value head, `ref_logp` with the frozen `reference`, and `scores = reward_fn(response,
#    mask)`;
# 2. computes the rewards with `kl_penalized_rewards`, then `gae`, then whitens the advantages;
# 3. runs `epochs` updates on the whole batch: recompute `logp` and `values`, loss = `ppo_policy_loss` +
#    `vf_coef` * `ppo_value_loss` (both with `clip_eps`), zero the gradients, backpropagate, step;
# 4. returns a dict of floats: `reward` (mean score), `kl` (mean over rows of the summed k1 of the rollout,
#    an estimate of the sequence KL to the reference), and `clip_fraction` (of the last epoch).
#
# The grader checks the first iterations step by step: it seeds torch, so sample with `sample_responses`
# (one call per iteration) and update on the whole batch, and it compares the metrics you return and what the
# policy and value head compute afterwards with the reference's. Then it runs 30 iterations and requires the
# expected reward to rise while the KL to the reference stays bounded.

# %%
@torch.no_grad()
def sample_responses(policy, prompt_ids: torch.Tensor, max_new_tokens: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Sample from `policy` after prompts of equal length. Returns response ids and mask, both (B, T)."""
    ids = prompt_ids
    for _ in range(max_new_tokens):
        next_logits = policy(ids).logits[:, -1]
        ids = torch.cat([ids, torch.multinomial(torch.softmax(next_logits, -1), 1)], dim=1)
    response = ids[:, prompt_ids.shape[1]:]
    is_eos = (response == policy.config.eos_token_id).long()
    mask = (is_eos.cumsum(1) - is_eos == 0).float()  # valid up to and including the first EOS
    return response, mask


# %%
def ppo_step(policy, reference, value_head, optimizer, prompt_ids: torch.Tensor, reward_fn, *,
             max_new_tokens: int = 8, beta: float = 0.05, gamma: float = 1.0, lam: float = 0.95,
             epochs: int = 4, clip_eps: float = 0.2, vf_coef: float = 0.5) -> dict:
    """One PPO iteration: a rollout from `prompt_ids` (B, P), then `epochs` updates of policy and value head.

    reward_fn(response (B, T) long, mask (B, T)) -> scores (B,). Returns float metrics reward, kl, clip_fraction.
    """
    # YOUR CODE HERE
    raise NotImplementedError()


# %%
check("ppo_step")  # grades your ppo_step as `rlhf-course check ppo` does


# %% [markdown]
# ## Training the tiny GPT-2 with PPO
#
# The reward is programmatic (no reward model to train): the fraction of the response's valid tokens whose
# text contains the letter "e". The tiny GPT-2 has random weights, so its samples are gibberish, but gibberish
# with a measurable preference. Watch the reward rise while the KL to the frozen reference stays bounded;
# try `beta=0.0` to see the KL run away, or a larger `beta` to see it held closer.

# %%
def plot_history(history: list[dict]) -> None:
    """Reward and KL to the reference per PPO step."""
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3))
    left.plot([h["reward"] for h in history])
    left.set(xlabel="PPO step", ylabel="mean reward", title="reward")
    right.plot([h["kl"] for h in history], color="tab:red")
    right.set(xlabel="PPO step", ylabel="nats per response", title="KL to the reference (summed k1)")
    fig.tight_layout()
    plt.show()


# %%
with demo():
    policy, tokenizer, device = load_gpt2()
    reference = copy.deepcopy(policy).requires_grad_(False)
    value_head = torch.nn.Linear(policy.config.n_embd, 1).to(device)
    optimizer = torch.optim.Adam([*policy.parameters(), *value_head.parameters()], lr=1e-3)
    has_e = torch.tensor([float("e" in tokenizer.decode([i])) for i in range(policy.config.vocab_size)], device=device)


    def reward_fn(response, mask):
        """Fraction of the valid response tokens whose text contains the letter e, (B,)."""
        return (has_e[response] * mask).sum(-1) / mask.sum(-1)


    texts = ["Every morning I", "My sister gets", "On weekends we", "The kitchen table", "After breakfast she",
             "In the garden", "The old dog", "When it rains"] * 2
    encoded = [tokenizer(t)["input_ids"] for t in texts]
    prompt_len = min(len(e) for e in encoded)
    prompt_ids = torch.tensor([e[:prompt_len] for e in encoded], device=device)  # equal lengths, no padding

    history = []
    progress = tqdm(range(40), desc="PPO")
    for step in progress:
        history.append(ppo_step(policy, reference, value_head, optimizer, prompt_ids, reward_fn, beta=0.05))
        progress.set_postfix(reward=f"{history[-1]['reward']:.3f}", kl=f"{history[-1]['kl']:.2f}")
    plot_history(history)

# %% [markdown]
# A few samples after training (valid tokens only: the EOS ends a response). Notice what else the policy
# may have found: a response that ends early has fewer tokens to dilute its fraction of e's.

# %%
with demo():
    response, mask = sample_responses(policy, prompt_ids[:4], max_new_tokens=8)
    for prompt, ids, valid in zip(texts, response, mask):
        print(repr(prompt), "->", repr(tokenizer.decode(ids[valid.bool()])))
