# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# This file is generated from solutions/reward_model.py by `rlhf-course stubs`; edit it freely to solve
# the exercise (regenerating overwrites it).

# %% [markdown]
# # Exercise: Reward models from human preferences
#
# Read the lesson `lessons/reward_model.md` first. You will implement
#
# 1. `RewardModel`: a BERT encoder with a small MLP head that reads the [CLS] state and returns one
#    reward per sequence;
# 2. `pairwise_loss`: the Bradley–Terry loss $-\log\sigma(r_c - r_r - m)$, with an optional margin;
# 3. `rating_loss`: the older alternative, mean squared error between $\sigma(r)$ and a rating in [0, 1];
# 4. `preference_accuracy`: the fraction of pairs ranked correctly (ties count as wrong);
# 5. `train_reward_model`: a short training loop that takes the tiny BERT from chance to a clear majority
#    of held-out preference pairs right.
#
# Fill in each `raise NotImplementedError()`; the rest of the notebook is given. Check your work with
#
#     rlhf-course check reward_model
#
# The grader reads only your imports, functions and classes, so the demo cells below never slow it down.

# %% [markdown]
# Check each function as soon as you have written it: the cell after it, `check("...")`, grades what you
# ran in this notebook as `rlhf-course check reward_model` does (your code runs in the course's sandbox,
# not in this kernel) and shows the result under the cell. Demo cells run under `with demo():`: one that
# needs a function you have not written yet says so, and the rest of the notebook still runs.

# %%
from grader import check, demo

# %%
import torch
import torch.nn as nn
import torch.nn.functional as F
from tqdm import tqdm

from grader import load_bert, load_preferences

torch.manual_seed(0)

# %% [markdown]
# ## 1. The reward model
#
# `RewardModel(encoder, hidden=256, dropout=0.1, freeze_encoder=False)` wraps a `transformers.BertModel`
# with hidden size $H$ (`encoder.config.hidden_size`). Keep the encoder you are given as a submodule (do not
# copy it or load another one) and build the head from exactly two `nn.Linear` layers:
#
#     Linear(H, hidden) -> ReLU -> Dropout(dropout) -> Linear(hidden, 1)
#
# (an `nn.Sequential` is the natural choice; the grader finds the two `nn.Linear` layers by their shapes and
# sets their weights itself, so their names and creation order do not matter).
#
# `forward(input_ids, attention_mask)` takes `(B, T)` tensors, runs the encoder **with the attention mask**,
# reads the [CLS] state `last_hidden_state[:, 0]` (`(B, H)`; not `pooler_output`, not the last position, not a
# mean over positions), applies the head and returns rewards of shape **`(B,)`**.
#
# With `freeze_encoder=True`, set `requires_grad=False` on every encoder parameter, so that only the head
# trains. Use `nn.Dropout` (not `F.dropout`, whose `training` argument defaults to `True`), so that
# `model.eval()` turns dropout off.

# %%
class RewardModel(nn.Module):
    """A scalar reward r(x, y) read from the [CLS] state of a BERT encoder."""

    def __init__(self, encoder: nn.Module, hidden: int = 256, dropout: float = 0.1, freeze_encoder: bool = False):
        super().__init__()
        # YOUR CODE HERE
        raise NotImplementedError()

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """input_ids, attention_mask: (B, T). Returns rewards (B,)."""
        # YOUR CODE HERE
        raise NotImplementedError()


# %%
check("RewardModel")  # grades your RewardModel as `rlhf-course check reward_model` does

# %% [markdown]
# Try it on two sentence pairs of different lengths. The tokenizer builds `[CLS] prompt [SEP] response [SEP]`
# and pads the shorter one; in `eval()` mode the same text gets the same reward alone and in the batch.

# %%
with demo():
    encoder, tokenizer, device = load_bert()
    model = RewardModel(encoder).to(device).eval()
    toy = tokenizer(["How do I boil an egg?", "How do I boil an egg?"],
                    ["Simmer it for nine minutes.", "Eggs are boring, go away and stop asking me things."],
                    padding=True, return_tensors="pt").to(device)
    alone = tokenizer(["How do I boil an egg?"], ["Simmer it for nine minutes."], return_tensors="pt").to(device)
    with torch.no_grad():
        print(model(toy["input_ids"], toy["attention_mask"]))      # shape (2,)
        print(model(alone["input_ids"], alone["attention_mask"]))  # the same first reward

# %% [markdown]
# ## 2. The pairwise (Bradley–Terry) loss
#
# For chosen rewards $r_c$ and rejected rewards $r_r$ (both `(B,)`) and an optional margin $m$ (`(B,)`,
# `None` meaning 0), return the **mean** over the batch of $-\log\sigma(r_c - r_r - m)$ as a 0-dim tensor.
# Use `F.logsigmoid` (or `F.softplus`): `torch.log(torch.sigmoid(d))` and `torch.log(1 + torch.exp(-d))`
# both give `inf` (and a `nan` gradient) once $d$ is below about $-89$ in float32.

# %%
def pairwise_loss(chosen_rewards: torch.Tensor, rejected_rewards: torch.Tensor,
                  margin: torch.Tensor | None = None) -> torch.Tensor:
    """Mean Bradley–Terry loss. chosen_rewards, rejected_rewards, margin: (B,). Returns a 0-dim tensor."""
    # YOUR CODE HERE
    raise NotImplementedError()


# %%
check("pairwise_loss")  # grades your pairwise_loss as `rlhf-course check reward_model` does

# %% [markdown]
# The worked example from the lesson: mean loss 0.7032 without a margin, 1.0365 with margin 2 on the first pair.

# %%
with demo():
    r_c, r_r = torch.tensor([1.5, 0.2, 0.4]), torch.tensor([0.5, 0.9, 0.4])
    print(pairwise_loss(r_c, r_r), pairwise_loss(r_c, r_r, margin=torch.tensor([2.0, 0.0, 0.0])))

# %% [markdown]
# ## 3. The rating loss
#
# With absolute ratings $t \in [0, 1]$ (good / neutral / bad = 1.0 / 0.5 / 0.0), treat the reward as a logit and
# return the mean of $(\sigma(r) - t)^2$. Both inputs are `(B,)`; keep them that way (a `(B, 1)` tensor against a
# `(B,)` one broadcasts to `(B, B)`).

# %%
def rating_loss(rewards: torch.Tensor, ratings: torch.Tensor) -> torch.Tensor:
    """Mean squared error between sigmoid(rewards) and ratings, both (B,). Returns a 0-dim tensor."""
    # YOUR CODE HERE
    raise NotImplementedError()


# %%
check("rating_loss")  # grades your rating_loss as `rlhf-course check reward_model` does

# %%
with demo():
    print(rating_loss(torch.tensor([2.0, 0.0, 1.0]), torch.tensor([1.0, 0.5, 0.0])))  # 0.1829, as in the lesson

# %% [markdown]
# ## 4. Preference accuracy
#
# The fraction of pairs whose chosen reward is **strictly** higher, as a Python `float`. A tie is a failure to
# prefer the chosen response: with `>=`, a model that gives every response the same reward scores 100%.

# %%
def preference_accuracy(chosen_rewards: torch.Tensor, rejected_rewards: torch.Tensor) -> float:
    """Fraction of pairs with chosen_rewards > rejected_rewards (both (B,)); ties count as wrong."""
    # YOUR CODE HERE
    raise NotImplementedError()


# %%
check("preference_accuracy")  # grades your preference_accuracy as `rlhf-course check reward_model` does

# %%
with demo():
    print(preference_accuracy(r_c, r_r))  # 1/3: the tie in the third pair counts as wrong

# %% [markdown]
# ## 5. Training on preference pairs
#
# The data uses TRL's explicit-prompt format: dicts with `prompt`, `chosen` and `rejected`, where `chosen` and
# `rejected` are responses only. `encode` (given) pairs each prompt with a response as a BERT sentence pair.
#
# Write `train_reward_model(model, tokenizer, pairs, steps=30, batch_size=8, lr=1e-3)` so that it
#
# 1. builds `torch.optim.AdamW` over the parameters that require gradients, with learning rate `lr`;
# 2. puts the model in training mode and runs exactly `steps` steps, each on `batch_size` pairs drawn from a
#    shuffled order of `pairs` (reshuffle with `torch.randperm` when you run out);
# 3. in each step encodes the chosen and the rejected sequences (moved to the model's device), computes their
#    rewards, takes `pairwise_loss(chosen_rewards, rejected_rewards)`, zeroes the old gradients,
#    back-propagates and takes an optimizer step;
# 4. shows a `tqdm` progress bar with the current loss, and returns the list of the `steps` loss values
#    (Python floats, `loss.item()`).
#
# The grader checks the loop step by step. It seeds torch, hands your function a reward model of its own (in
# `eval()` mode and without dropout, so that the steps are deterministic), runs it for a fixed number of steps
# with a learning rate that is not AdamW's default, and compares the losses you return, the change of the
# parameters and the mode of each forward pass with the reference loop's. So draw the order exactly as above:
# `torch.randperm(len(pairs))` at the start and again whenever fewer than `batch_size` pairs remain. Finally it
# measures the accuracy on held-out pairs with its own evaluation code.

# %%
def encode(tokenizer, prompts: list[str], responses: list[str]) -> dict:
    """`[CLS] prompt [SEP] response [SEP]`, right-padded: input_ids, token_type_ids, attention_mask, each (B, T)."""
    return tokenizer(prompts, responses, padding=True, truncation=True, max_length=128, return_tensors="pt")


# %%
def train_reward_model(model: nn.Module, tokenizer, pairs: list[dict], steps: int = 30, batch_size: int = 8,
                       lr: float = 1e-3) -> list[float]:
    """Train `model` in place on preference pairs with the pairwise loss; returns the loss of each step."""
    # YOUR CODE HERE
    raise NotImplementedError()


# %%
check("train_reward_model")  # grades your train_reward_model as `rlhf-course check reward_model` does


# %% [markdown]
# ## Training the tiny BERT
#
# The course ships 200 training pairs and 40 held-out pairs. `rewards_for` (given) scores pairs in `eval()` mode
# without building a graph. Before training, the randomly initialised model is at chance; after a few dozen
# steps it ranks most held-out pairs correctly. Only the gap between chosen and rejected rewards is trained;
# their levels are arbitrary.

# %%
def rewards_for(model: nn.Module, tokenizer, pairs: list[dict]) -> tuple[torch.Tensor, torch.Tensor]:
    """Chosen and rejected rewards (each (N,)) in eval mode, without gradients."""
    on = next(model.parameters()).device
    prompts = [ex["prompt"] for ex in pairs]
    model.eval()  # dropout off
    with torch.no_grad():
        chosen = encode(tokenizer, prompts, [ex["chosen"] for ex in pairs]).to(on)
        rejected = encode(tokenizer, prompts, [ex["rejected"] for ex in pairs]).to(on)
        return (model(chosen["input_ids"], chosen["attention_mask"]),
                model(rejected["input_ids"], rejected["attention_mask"]))


# %%
with demo():
    train_pairs, test_pairs = load_preferences("train"), load_preferences("test")
    encoder, tokenizer, device = load_bert()
    torch.manual_seed(0)
    model = RewardModel(encoder).to(device)
    print(f"held-out accuracy before training: {preference_accuracy(*rewards_for(model, tokenizer, test_pairs)):.3f}")
    losses = train_reward_model(model, tokenizer, train_pairs, steps=60)
    chosen_r, rejected_r = rewards_for(model, tokenizer, test_pairs)
    print(f"loss {losses[0]:.3f} -> {sum(losses[-5:]) / 5:.3f}; "
          f"held-out accuracy after training: {preference_accuracy(chosen_r, rejected_r):.3f}")
    print(f"mean chosen reward {chosen_r.mean():+.2f}, mean rejected reward {rejected_r.mean():+.2f}")
