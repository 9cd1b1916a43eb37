# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# This file is generated from solutions/sft.py by `rlhf-course stubs`; edit it freely to solve
# the exercise (regenerating overwrites it).

# %% [markdown]
# # Exercise: Supervised fine-tuning
#
# Read the lesson `lessons/sft.md` first. You will implement four functions:
#
# 1. `build_example`: tokenize one demonstration (prompt, response) into `input_ids`, `labels` and
#    `attention_mask`, with the prompt masked out of the labels;
# 2. `collate`: right-pad a list of examples into a batch, padding masked in the attention and the labels;
# 3. `sft_loss`: the shifted next-token cross-entropy on the response tokens, averaged per token;
# 4. `sft_step`: one training step on the tiny GPT-2, with gradient clipping.
#
# Fill in each `raise NotImplementedError()`; the rest of the notebook is given. Check your work with
#
#     rlhf-course check sft
#
# The grader reads only your imports, functions and classes, so the demo cells below never slow it down.

# %% [markdown]
# Check each function as soon as you have written it: the cell after it, `check("...")`, grades what you
# ran in this notebook as `rlhf-course check sft` does (your code runs in the course's sandbox, not in
# this kernel) and shows the result under the cell. Demo cells run under `with demo():`: one that needs a
# function you have not written yet says so, and the rest of the notebook still runs.

# %%
from grader import check, demo

# %%
import torch
import torch.nn.functional as F

from grader import load_gpt2, load_preferences

torch.manual_seed(0)
IGNORE_INDEX = -100  # the label of a position that is not predicted: F.cross_entropy's default ignore_index

# %% [markdown]
# ## 1. One demonstration
#
# A demonstration is a `prompt` (already in the chat template, for example `"User: ...\nAssistant:"`) and
# the `response` the model should write. Tokenize the two **separately** and concatenate the ids: prompt,
# then response, then `tokenizer.eos_token_id`, which teaches the model to stop. (Tokenizing the joined
# text can merge the last prompt token with the first response token, and then no position marks the
# boundary exactly.) Tokenize the prompt as the model sees it, `tokenizer(prompt)`, with the special tokens
# the tokenizer adds, and the response with `add_special_tokens=False`, so that a tokenizer that adds a BOS
# token puts it at the start of the prompt only. The EOS is `eos_token_id` even where a tokenizer has a pad
# token of its own (GPT-2 has none, and is given EOS as one; Llama's tokenizers have both).
#
# Return a dict of three lists of ints (1-D integer tensors are accepted too) of the same length:
#
# * `input_ids`: the concatenated ids, cut to the first `max_length` (what does not fit is the end of the
#   response, EOS first; a cut response has no EOS, since the text did not end there);
# * `labels`: the same ids, with `IGNORE_INDEX` (-100) at every prompt position (its special tokens and its
#   last token included);
# * `attention_mask`: all 1.
#
# If the prompt alone has `max_length` tokens or more, no response token fits: raise a `ValueError`.

# %%
def build_example(tokenizer, prompt: str, response: str, max_length: int) -> dict[str, list[int]]:
    """Token ids, labels and attention mask of one demonstration (lists of the same length <= max_length)."""
    # YOUR CODE HERE
    raise NotImplementedError()


# %%
check("build_example")  # grades your build_example as `rlhf-course check sft` does


# %% [markdown]
# ## 2. A padded batch
#
# `collate` right-pads the examples to the longest one (`T` is its length) and returns three `(B, T)` tensors
# of dtype `torch.long`, row `b` holding `examples[b]` (keep their order; do not change the examples):
# `input_ids` padded with `pad_token_id`, `attention_mask` 0 on padding, and `labels` `IGNORE_INDEX` on
# padding. GPT-2 has no pad token and is given EOS as one (`pad_token_id == eos_token_id`), so the labels must
# be padded by position, never by comparing ids with `pad_token_id`: the real EOS that ends each response is
# a label, the padding after it is not.

# %%
def collate(examples: list[dict], pad_token_id: int) -> dict[str, torch.Tensor]:
    """Right-padded (B, T) long tensors input_ids, attention_mask and labels, T the longest example."""
    # YOUR CODE HERE
    raise NotImplementedError()


# %%
check("collate")  # grades your collate as `rlhf-course check sft` does


# %% [markdown]
# ## 3. The loss
#
# The logits at position $t$ predict the token at $t + 1$: score `logits[:, :-1]` against `labels[:, 1:]`.
# Average the cross-entropy over **every target token of the batch** (the positions whose label is not
# `IGNORE_INDEX`), not per sequence first: this is what Hugging Face models return for `labels`. Compute it
# in at least float32: `logits.float()` for float16 or bfloat16 logits (the loss is then float32); float32
# logits give a float32 loss and float64 logits a float64 one. Do not write into `labels` (it is the caller's
# batch; `labels[:, 1:]` is a view of it).
#
# A batch with no target token at all has no mean: `F.cross_entropy` would return NaN and a NaN gradient that
# silently ruins the weights at the next optimizer step. Raise a `ValueError` then, and only then: a row
# without targets (a response cut away) next to rows with targets adds nothing to the mean and raises nothing.

# %%
def sft_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Mean next-token cross-entropy over the target tokens of the batch.

    logits: (B, T, V) from a causal LM; labels: (B, T), IGNORE_INDEX where nothing is predicted (left unchanged).
    Returns: a scalar: float32 for float16, bfloat16 or float32 logits, float64 for float64 logits.
    Raises: ValueError when no label of labels[:, 1:] in the whole batch is a target (a row without one is fine).
    """
    # YOUR CODE HERE
    raise NotImplementedError()


# %%
check("sft_loss")  # grades your sft_loss as `rlhf-course check sft` does

# %% [markdown]
# Check it on the lesson's worked example: sequence A has one response token with probability 0.25, B three
# with probability 0.5 each. The token mean is $(1.3863 + 3 \times 0.6931)/4 = 0.8664$.

# %%
with demo():
    def worked_example_logits(probabilities: list[float], vocab: int = 4) -> torch.Tensor:
        """(len(probabilities), vocab) logits whose softmax gives token 0 each probability (the rest shared)."""
        p = torch.tensor(probabilities).unsqueeze(1)
        probs = torch.cat([p, ((1 - p) / (vocab - 1)).expand(-1, vocab - 1)], dim=1)
        return probs.log()


    toy_logits = torch.zeros(2, 5, 4)  # prompts of 2 tokens; A: 1 response token then padding, B: 3 response tokens
    toy_logits[0, 1] = worked_example_logits([0.25])[0]
    toy_logits[1, 1:4] = worked_example_logits([0.5, 0.5, 0.5])
    toy_labels = torch.tensor([[-100, -100, 0, -100, -100], [-100, -100, 0, 0, 0]])
    print(f"token mean {sft_loss(toy_logits, toy_labels):.4f}")  # 0.8664

# %% [markdown]
# ## 4. One training step
#
# `batch` holds `input_ids`, `attention_mask` and `labels`, each `(B, T)` on the model's device, as `collate`
# makes them (the grader also pads a row on the left: the attention mask says where the padding is). Write
# `sft_step` so that it puts the model in train mode, zeroes old gradients first (the model may come with
# gradients from an earlier backward), runs the model on `input_ids` and `attention_mask`, computes `sft_loss`
# once on the whole batch (or takes the model's own loss from `labels=`, which is the same per-token mean),
# back-propagates, clips the gradient norm to `max_grad_norm` (`torch.nn.utils.clip_grad_norm_`), and takes one
# optimizer step. Return a dict with `loss` (a Python float: the loss of this batch before the update) and
# `tokens` (a Python int: the number of target tokens the loss averaged over).

# %%
def sft_step(model, optimizer, batch: dict, max_grad_norm: float = 1.0) -> dict:
    """One SFT update of `model` on `batch` (input_ids, attention_mask, labels: (B, T))."""
    # YOUR CODE HERE
    raise NotImplementedError()


# %%
check("sft_step")  # grades your sft_step as `rlhf-course check sft` does

# %% [markdown]
# ## Fine-tuning the tiny GPT-2
#
# The demonstrations are the prompts and chosen responses of a few preference pairs shipped with the course,
# in the lesson's chat template. We fine-tune the untrained tiny GPT-2 on them for a few dozen steps and
# compare its greedy answer to the first prompt before and after. The course's capstone builds its policy
# with these same four functions (the reference versions of them, loaded from `solutions/sft.py`): its SFT
# model is the policy that PPO and DPO start from and the frozen reference their KL terms measure against.

# %%
TEMPLATE = "User: {prompt}\nAssistant:"


def answer(model, tokenizer, prompt: str, new_tokens: int = 24) -> str:
    """The model's greedy continuation of `prompt`, up to EOS."""
    model.eval()
    device = next(model.parameters()).device
    ids = tokenizer(prompt, return_tensors="pt")["input_ids"].to(device)
    with torch.no_grad():
        out = model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=new_tokens, do_sample=False,
                             pad_token_id=tokenizer.pad_token_id)
    return tokenizer.decode(out[0, ids.shape[1]:], skip_special_tokens=True)


# %%
with demo():
    model, tokenizer, device = load_gpt2()
    demonstrations = [(TEMPLATE.format(prompt=p["prompt"]), " " + p["chosen"]) for p in load_preferences("train")[:6]]
    examples = [build_example(tokenizer, prompt, response, max_length=model.config.n_positions)
                for prompt, response in demonstrations]
    batch = {k: v.to(device) for k, v in collate(examples, tokenizer.pad_token_id).items()}
    print(f"{len(examples)} demonstrations, batch of shape {tuple(batch['input_ids'].shape)}")
    print("before:", answer(model, tokenizer, demonstrations[0][0]))

# %%
with demo():
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    for step in range(30):
        metrics = sft_step(model, optimizer, batch)
        if step % 5 == 0 or step == 29:
            print(f"step {step:2d}  loss {metrics['loss']:.3f}  over {metrics['tokens']} response tokens")
    print("after: ", answer(model, tokenizer, demonstrations[0][0]))
    print("target:", demonstrations[0][1])
