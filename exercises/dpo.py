# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# This file is generated from solutions/dpo.py by `rlhf-course stubs`; edit it freely to solve
# the exercise (regenerating overwrites it).

# %% [markdown]
# # Exercise: Direct Preference Optimization
#
# Read the lesson `lessons/dpo.md` first. You will implement three functions:
#
# 1. `sequence_logps`: the log-probability of each sequence's *response* tokens under a causal LM;
# 2. `dpo_loss`: the DPO loss with TRL's conventions, plus two variants (label smoothing, IPO) and a hinge;
# 3. `dpo_step`: one DPO training step on the tiny GPT-2, with a frozen reference model.
#
# Fill in each `raise NotImplementedError()`; the rest of the notebook is given. Check your work with
#
#     rlhf-course check dpo
#
# The grader reads only your imports, functions and classes, so the demo cells below never slow it down.

# %% [markdown]
# Check each function as soon as you have written it: the cell after it, `check("...")`, grades what you
# ran in this notebook as `rlhf-course check dpo` does (your code runs in the course's sandbox, not in
# this kernel) and shows the result under the cell. Demo cells run under `with demo():`: one that needs a
# function you have not written yet says so, and the rest of the notebook still runs.

# %%
from grader import check, demo

# %%
import copy

import torch
import torch.nn.functional as F

from grader import load_gpt2, load_preferences

torch.manual_seed(0)

# %% [markdown]
# ## 1. Sequence log-probabilities
#
# A causal LM's logits at position $t$ predict token $t+1$. For a batch of sequences `input_ids` `(B, T)`
# with `logits` `(B, T, V)`, the log-probability of the response is
#
# $$\log \pi(y \mid x) = \sum_{t=1}^{T-1} m_t \, \log \operatorname{softmax}(\mathtt{logits}_{t-1})[\mathtt{input\_ids}_t]$$
#
# where $m_t$ (`response_mask[:, t]`) is 1 on response tokens and 0 on prompt and padding tokens.
# Sum over tokens; do not average. Models often run in bfloat16: compute the log-softmax in at least
# float32 (`logits.float()`), since bfloat16 keeps about 3 significant digits and a response's summed
# log-probability would be off by a large fraction of a nat.

# %%
def sequence_logps(logits: torch.Tensor, input_ids: torch.Tensor, response_mask: torch.Tensor) -> torch.Tensor:
    """Summed log-probability of the response tokens of each sequence.

    logits: (B, T, V) from a causal LM run on input_ids.
    input_ids: (B, T) token ids: prompt, then response, then right padding.
    response_mask: (B, T), 1 on response tokens of input_ids, 0 on prompt and padding.
    Returns: (B,) log pi(response | prompt), in float32 when the logits are float16 or bfloat16.
    """
    # YOUR CODE HERE
    raise NotImplementedError()


# %%
check("sequence_logps")  # grades your sequence_logps as `rlhf-course check dpo` does

# %% [markdown]
# Try it on a toy batch: two sequences of length 5 over a vocabulary of 7 tokens. The second sequence has
# one padding token at the end, which must not count.

# %%
with demo():
    toy_logits = torch.randn(2, 5, 7)
    toy_ids = torch.tensor([[1, 2, 3, 4, 5], [1, 2, 6, 6, 0]])
    toy_mask = torch.tensor([[0, 0, 1, 1, 1], [0, 1, 1, 1, 0]])
    print(sequence_logps(toy_logits, toy_ids, toy_mask))

# %% [markdown]
# ## 2. The DPO loss
#
# With $h = [\log\pi(y_w) - \log\pi_\text{ref}(y_w)] - [\log\pi(y_l) - \log\pi_\text{ref}(y_l)]$, the
# per-pair DPO loss is $-\log\sigma(\beta h)$. Compute it with `F.logsigmoid`: in float32,
# `torch.log(torch.sigmoid(z))` returns `-inf` (and a NaN gradient) once `z` is below about $-88.7$.
#
# Return, as TRL does, `(losses, chosen_rewards, rejected_rewards)`, each `(B,)`, where the implicit rewards
# are $\beta(\log\pi - \log\pi_\text{ref})$ and are **detached** (they are metrics, not part of the loss).
#
# Variants, selected with `loss_type` and `label_smoothing` (see the lesson):
#
# * `"sigmoid"` with `label_smoothing` $\varepsilon$: $-(1-\varepsilon)\log\sigma(\beta h) - \varepsilon\log\sigma(-\beta h)$;
# * `"ipo"`: $(h - \tfrac{1}{2\beta})^2$, on whatever log-probabilities it is given (summed here; TRL
#   passes per-token averages for IPO);
# * `"hinge"`: $\max(0, 1 - \beta h)$.
#
# `label_smoothing` applies to `"sigmoid"` only; `"ipo"` and `"hinge"` ignore it, as TRL's do. Any other
# `loss_type` should raise a `ValueError`.

# %%
def dpo_loss(
    policy_chosen_logps: torch.Tensor,
    policy_rejected_logps: torch.Tensor,
    ref_chosen_logps: torch.Tensor,
    ref_rejected_logps: torch.Tensor,
    beta: float = 0.1,
    label_smoothing: float = 0.0,
    loss_type: str = "sigmoid",
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per-pair DPO losses and the implicit rewards.

    All four log-probability inputs: (B,) summed response log-probs.
    Returns: losses (B,), chosen_rewards (B,), rejected_rewards (B,); rewards are detached.
    """
    # YOUR CODE HERE
    raise NotImplementedError()


# %%
check("dpo_loss")  # grades your dpo_loss as `rlhf-course check dpo` does

# %% [markdown]
# At initialisation the policy equals the reference, $h = 0$ and every pair's loss is $\log 2 \approx 0.693$.
# Then the lesson's worked example at $\beta = 0.5$: pair 1 is ranked right ($h = 2$, loss 0.3133), pair 2
# wrong ($h = -1.5$, loss 1.1369).

# %%
with demo():
    zeros = torch.zeros(2)
    print(dpo_loss(zeros, zeros, zeros, zeros, beta=0.1)[0])  # log 2 for both pairs
    losses, chosen_r, rejected_r = dpo_loss(
        torch.tensor([-12.0, -20.0]), torch.tensor([-15.0, -18.0]),
        torch.tensor([-13.0, -19.0]), torch.tensor([-14.0, -18.5]), beta=0.5)
    print(losses, chosen_r, rejected_r)

# %% [markdown]
# ## 3. One DPO training step
#
# `batch` holds, for `prefix` in `("chosen", "rejected")`: `f"{prefix}_input_ids"`, `f"{prefix}_attention_mask"`
# and `f"{prefix}_response_mask"`, each `(B, T)` (right padding). Write `dpo_step` so that it
#
# 1. computes the policy's summed response log-probs for the chosen and the rejected sequences;
# 2. computes the same under the frozen `reference`, without building a graph (`torch.no_grad()`);
# 3. takes the mean DPO loss over the batch, back-propagates, and takes one optimizer step (zeroing old
#    gradients);
# 4. returns a dict of floats: `loss`, `reward_accuracy` (fraction of pairs whose chosen reward is strictly
#    higher), and `reward_margin` (mean chosen minus rejected reward), all of the batch as this step scored
#    it, before its update (as TRL logs them).

# %%
def dpo_step(policy, reference, optimizer, batch: dict, beta: float = 0.1) -> dict:
    """One DPO update of `policy` against the frozen `reference`; returns float metrics."""
    # YOUR CODE HERE
    raise NotImplementedError()


# %%
check("dpo_step")  # grades your dpo_step as `rlhf-course check dpo` does


# %% [markdown]
# ## Training the tiny GPT-2 with DPO
#
# The helper below tokenizes prompt/response pairs into the batch format above (given, not graded). We then
# train a copy of the tiny GPT-2 to prefer the chosen answers of a few preference pairs shipped with the
# course, against a frozen copy as the reference. Watch the loss fall below $\log 2$ and the reward margin grow.

# %%
def tokenize_pairs(tokenizer, prompts, chosen, rejected, device):
    """Right-padded batch with response masks, in the format `dpo_step` expects."""
    batch = {}
    for prefix, responses in (("chosen", chosen), ("rejected", rejected)):
        prompt_ids = [tokenizer(p)["input_ids"] for p in prompts]
        response_ids = [tokenizer(r)["input_ids"] + [tokenizer.eos_token_id] for r in responses]
        rows = [p + r for p, r in zip(prompt_ids, response_ids)]
        width = max(len(r) for r in rows)
        ids = torch.full((len(rows), width), tokenizer.pad_token_id)
        attention = torch.zeros(len(rows), width, dtype=torch.long)
        response = torch.zeros(len(rows), width)
        for i, (p, r) in enumerate(zip(prompt_ids, response_ids)):
            ids[i, : len(p) + len(r)] = torch.tensor(p + r)
            attention[i, : len(p) + len(r)] = 1
            response[i, len(p) : len(p) + len(r)] = 1
        batch.update({f"{prefix}_input_ids": ids.to(device), f"{prefix}_attention_mask": attention.to(device),
                      f"{prefix}_response_mask": response.to(device)})
    return batch


# %%
with demo():
    pairs = load_preferences("train")[:8]
    policy, tokenizer, device = load_gpt2()
    reference = copy.deepcopy(policy).requires_grad_(False)
    batch = tokenize_pairs(tokenizer, [p["prompt"] for p in pairs], [p["chosen"] for p in pairs],
                           [p["rejected"] for p in pairs], device)
    optimizer = torch.optim.AdamW(policy.parameters(), lr=1e-3)
    policy.train()
    for step in range(20):
        metrics = dpo_step(policy, reference, optimizer, batch, beta=0.1)
        if step % 5 == 0 or step == 19:
            print(f"step {step:2d}  loss {metrics['loss']:.4f}  accuracy {metrics['reward_accuracy']:.2f}  "
                  f"margin {metrics['reward_margin']:+.3f}")
