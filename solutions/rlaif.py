# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Exercise: an AI judge for RLAIF
#
# Read the lesson `lessons/rlaif.md` first. You will build the AI labeller of RLAIF (Lee et al., 2023): a
# causal LM that reads a prompt and two responses and says which one is better, scored from the
# probabilities of its next token rather than from generated text. You will implement
#
# 1. `format_judge_prompt`: the labeller's prompt (preamble, exemplars, the two responses, the ending);
# 2. `label_token_ids`: the ids of the label tokens ("1", "2"), found through the tokenizer *in context*;
# 3. `label_probs`: P("1"), P("2") from each row's last real position, softmax over the labels only;
# 4. `judge_probs`: the same from a model, for a batch padded on the left or on the right;
# 5. `judge_preference`: both orders scored and averaged into a preference without position bias;
# 6. `ai_preference_pairs`: prompt/chosen/rejected records in TRL's format with the judge's probability kept
#    as a soft label and near-ties skipped;
# 7. `soft_label_loss`: the reward-model loss on those soft labels.
#
# Fill in each `raise NotImplementedError()`; the rest of the notebook is given. Check your work with
#
#     rlhf-course check rlaif
#
# The grader reads only your imports, functions and classes, so the demo cells below never slow it down.
# The tiny GPT-2 is an untrained judge: it shows the mechanics, not good judgement. The same code takes a
# real causal LM from a local directory: `load_gpt2("path/to/gpt2")`, or for another architecture such as
# phi-1_5 `AutoModelForCausalLM.from_pretrained(path)` with its `AutoTokenizer` (pad token set to EOS).

# %%
import tempfile
from pathlib import Path

import torch
import torch.nn.functional as F

from grader import load_gpt2, load_preferences, save_preferences

torch.manual_seed(0)


def show(x) -> str:
    """A tensor's values at 3 significant digits, as the lesson quotes them."""
    return "[" + ", ".join(f"{v:#.3g}" for v in torch.as_tensor(x).flatten().tolist()) + "]"

# %% [markdown]
# ## 1. The judge's prompt
#
# The labeller's prompt has four parts: a **preamble** that states the task and the criteria, optional
# **exemplars** (solved examples), the **sample** to label, and an **ending** after which the model's next
# token is the label. Build it exactly like this, with parts separated by one blank line (`"\n\n"`):
#
#     {preamble}
#
#     Prompt - {exemplar prompt}
#     Response 1 - {exemplar response_1}
#     Response 2 - {exemplar response_2}
#     Preferred Response={exemplar preferred}
#
#     Prompt - {prompt}
#     Response 1 - {response_1}
#     Response 2 - {response_2}
#     Preferred Response=
#
# with one block per exemplar (none by default), each ending in its label, `"1"` or `"2"`. The text ends with
# `ENDING` and nothing after it: no space, no newline. Whatever follows the ending is the start of the answer,
# and a trailing space would change which token the label is.

# %%
ENDING = "Preferred Response="
HHH_PREAMBLE = ("You compare two responses of an AI assistant to the same prompt. A good response is helpful (it "
                "does what was asked), honest (it does not make things up) and harmless (it does not help anyone "
                "cause harm, and it is not rude). Answer 1 or 2 to say which response is better.")
SHORT_PREAMBLE = "Pick the better response."  # the tiny GPT-2 reads at most 128 tokens


# %% nbgrader={"grade": false, "grade_id": "format_judge_prompt", "locked": false, "schema_version": 3, "solution": true, "task": false}
def format_judge_prompt(prompt: str, response_1: str, response_2: str, preamble: str = HHH_PREAMBLE,
                        exemplars=()) -> str:
    """The labeller's prompt for one pair, ending with ENDING.

    exemplars: a sequence of dicts with keys "prompt", "response_1", "response_2" and "preferred" ("1" or "2").
    """
    ### BEGIN SOLUTION
    def block(p, r1, r2):
        return f"Prompt - {p}\nResponse 1 - {r1}\nResponse 2 - {r2}\n{ENDING}"

    solved = [block(e["prompt"], e["response_1"], e["response_2"]) + e["preferred"] for e in exemplars]
    return "\n\n".join([preamble, *solved, block(prompt, response_1, response_2)])
    ### END SOLUTION


# %%
example = format_judge_prompt("How do I boil an egg?", "Simmer it for eight minutes.", "Eggs are boring.",
                              exemplars=[{"prompt": "What is 2 + 2?", "response_1": "5.", "response_2": "4.",
                                          "preferred": "2"}])
print(example)

# %% [markdown]
# ## 2. The label tokens, found in context
#
# The judge's answer is the next token after the ending, so what we need are the ids of the tokens the labels
# *become there*. Tokenize `text + label` and `text`; the first must be the second plus exactly one token, and
# that token is the label's. Return a `torch.long` tensor `(K,)` for `K` labels.
#
# Raise `ValueError` when a label is not exactly one token after the text, when the text's own tokens change
# once the label is appended (the label merged with the end of the text, e.g. after a trailing space), or when
# two labels get the same id. `tokenizer(s)["input_ids"]` gives the ids of a string; do not look a label up on
# its own (`tokenizer.encode("1")`, `convert_tokens_to_ids`): a byte-level BPE writes a space into the token
# that follows it, and other tokenizers add a start-of-sequence token or a word-boundary marker.

# %% nbgrader={"grade": false, "grade_id": "label_token_ids", "locked": false, "schema_version": 3, "solution": true, "task": false}
def label_token_ids(tokenizer, text: str, labels=("1", "2")) -> torch.Tensor:
    """The id of the one token each label becomes right after `text`: LongTensor (K,)."""
    ### BEGIN SOLUTION
    base = tokenizer(text)["input_ids"]
    ids = []
    for label in labels:
        full = tokenizer(text + label)["input_ids"]
        if full[: len(base)] != base:
            raise ValueError(f"appending {label!r} changes the tokens of the text: end the text differently")
        if len(full) != len(base) + 1:
            raise ValueError(f"{label!r} is {len(full) - len(base)} tokens after the text, not one")
        ids.append(full[-1])
    if len(set(ids)) != len(ids):
        raise ValueError(f"two labels share a token id: {ids}")
    return torch.tensor(ids, dtype=torch.long)
    ### END SOLUTION


# %% [markdown]
# On the tiny GPT-2's tokenizer, `" A"` is one token but `" B"` is two (a space token, then `B`): looked up on
# its own, `" B"` would give the id of the *space*, which every response starts with. After `=` the digits are
# single tokens.

# %%
_, tokenizer, _ = load_gpt2()
print("after '=':", label_token_ids(tokenizer, "Which is better?\n" + ENDING))
print("'1' alone:", tokenizer("1")["input_ids"], "  ' 1' alone:", tokenizer(" 1")["input_ids"],
      "  ' B' alone:", tokenizer.convert_ids_to_tokens(tokenizer(" B")["input_ids"]))
try:
    label_token_ids(tokenizer, "Which is better? Answer:", (" A", " B"))
except ValueError as exc:
    print("ValueError:", exc)

# %% [markdown]
# ## 3. Label probabilities from the last position
#
# `logits` `(B, T, V)` come from a causal LM run on a padded batch; `attention_mask` `(B, T)` is 1 on real
# tokens and 0 on padding, which may sit on the left or on the right of each row. The distribution over the
# next token is at each row's **last real position** (its last 1). From there take the logits of the `K` label
# ids and return their softmax, `(B, K)`: a distribution over the labels alone, not the whole vocabulary.
# Use `torch.softmax` (not `exp` and a division, which overflow for large logits), in at least float32:
# bfloat16 logits give float32 probabilities.

# %% nbgrader={"grade": false, "grade_id": "label_probs", "locked": false, "schema_version": 3, "solution": true, "task": false}
def label_probs(logits: torch.Tensor, attention_mask: torch.Tensor, label_ids: torch.Tensor) -> torch.Tensor:
    """Softmax over the label ids' logits at each row's last real position: (B, K)."""
    ### BEGIN SOLUTION
    if logits.dtype in (torch.float16, torch.bfloat16):
        logits = logits.float()
    positions = torch.arange(attention_mask.shape[1], device=attention_mask.device)
    last = (positions * (attention_mask > 0)).argmax(-1)  # the highest position whose mask is 1
    rows = torch.arange(logits.shape[0], device=logits.device)
    return torch.softmax(logits[rows, last][:, label_ids], dim=-1)
    ### END SOLUTION


# %% [markdown]
# The lesson's worked example: in the order (A, B) the label logits are $(2.0, 1.0)$; with the responses
# swapped they are $(1.5, 1.2)$ for pair 1, and $(0.5, 2.5)$ and $(2.0, -0.5)$ for pair 2. One position, so the
# mask is all ones.

# %%
worked = torch.tensor([[2.0, 1.0], [1.5, 1.2], [0.5, 2.5], [2.0, -0.5]]).view(4, 1, 2)
worked_probs = label_probs(worked, torch.ones(4, 1), torch.tensor([0, 1]))
print("P('1'), P('2') per row:", show(worked_probs))

# %% [markdown]
# ## 4. The judge on a padded batch
#
# `judge_probs(model, input_ids, attention_mask, label_ids)` runs the causal LM and applies `label_probs`.
# Scoring needs no gradient: run the model under `torch.no_grad()`. A row's result must not depend on the
# padding: GPT-2's position embeddings count from the first token of the row *as given*, so with left padding a
# row's real tokens would sit at shifted positions. Pass `position_ids` counted over real tokens only,
# `attention_mask.cumsum(-1) - 1`, clamped at 0 on the padding, together with the attention mask.

# %% nbgrader={"grade": false, "grade_id": "judge_probs", "locked": false, "schema_version": 3, "solution": true, "task": false}
def judge_probs(model, input_ids: torch.Tensor, attention_mask: torch.Tensor, label_ids: torch.Tensor) -> torch.Tensor:
    """P(label k) for each row of a left- or right-padded batch: (B, K), without a graph."""
    ### BEGIN SOLUTION
    position_ids = (attention_mask.long().cumsum(-1) - 1).clamp(min=0)
    with torch.no_grad():
        logits = model(input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids).logits
    return label_probs(logits, attention_mask, label_ids)
    ### END SOLUTION


# %% [markdown]
# Left and right padding give the same probabilities; without the position ids, left padding does not.

# %%
model, tokenizer, device = load_gpt2()
texts = [format_judge_prompt("Is the sky blue?", "Yes, on a clear day.", "No.", SHORT_PREAMBLE),
         format_judge_prompt("How do I make tea?", "Pour hot water on the leaves and wait three minutes.",
                             "Ask someone else.", SHORT_PREAMBLE)]
ids = label_token_ids(tokenizer, texts[0]).to(device)
for side in ("left", "right"):  # the tokenizer pads on the right again afterwards
    tokenizer.padding_side = side
    batch = tokenizer(texts, padding=True, return_tensors="pt").to(device)
    print(f"P('1'), {side} padding:", show(judge_probs(model, batch["input_ids"], batch["attention_mask"], ids)[:, 0]))
    if side == "left":
        with torch.no_grad():
            logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
        print("P('1'), left padding, no position ids:", show(label_probs(logits, batch["attention_mask"], ids)[:, 0]))
        # Over the whole vocabulary the labels share the probability with every other token (512 here): small,
        # and not summing to 1. Renormalised over the two labels they give exactly label_probs.
        whole = torch.softmax(logits[1, -1], dim=-1)[ids]
        print("second prompt, whole vocabulary:", show(whole), " sum:", show(whole.sum()), " renormalised:",
              show(whole / whole.sum()))

# %% [markdown]
# ## 5. Both orders, averaged
#
# A judge may prefer whichever response comes first (or second), whatever it says. `judge_preference` scores
# each pair twice: A as response 1, B as response 2, then swapped. Its preference for A is P("1") in the first
# order and P("2") in the second; return the **average of the two**, `(B,)`, so that swapping A and B gives
# exactly $1 - P$. Format each text with `format_judge_prompt` (passing `preamble` and `exemplars` on), find the
# label ids of `("1", "2")` with `label_token_ids`, tokenize all the texts as one padded batch (with the
# tokenizer's padding side, whichever it is), move it to the model's device and score it with `judge_probs`.

# %% nbgrader={"grade": false, "grade_id": "judge_preference", "locked": false, "schema_version": 3, "solution": true, "task": false}
def judge_preference(model, tokenizer, prompts, responses_a, responses_b, preamble: str = HHH_PREAMBLE,
                     exemplars=()) -> torch.Tensor:
    """P(A better than B) for each pair, averaged over both orders: (B,)."""
    ### BEGIN SOLUTION
    first = [format_judge_prompt(p, a, b, preamble, exemplars) for p, a, b in zip(prompts, responses_a, responses_b)]
    second = [format_judge_prompt(p, b, a, preamble, exemplars) for p, a, b in zip(prompts, responses_a, responses_b)]
    device = next(model.parameters()).device
    ids = label_token_ids(tokenizer, first[0], ("1", "2")).to(device)
    batch = tokenizer(first + second, padding=True, return_tensors="pt")
    probs = judge_probs(model, batch["input_ids"].to(device), batch["attention_mask"].to(device), ids)
    n = len(first)
    return (probs[:n, 0] + probs[n:, 1]) / 2
    ### END SOLUTION


# %% [markdown]
# The tiny judge on the shipped preference pairs that fit its 128 positions, against the human labels
# (`chosen` is the human's choice; we show it as A half of the time). An untrained model does not read the
# responses: it prefers one *position*, and averaging both orders leaves it close to 0.5 on every pair.

# %%
pairs = [p for p in load_preferences("train")
         if len(tokenizer(format_judge_prompt(p["prompt"], p["chosen"], p["rejected"], SHORT_PREAMBLE),
                          verbose=False)["input_ids"]) <= model.config.n_positions]
flip = [i % 2 == 1 for i in range(len(pairs))]
prompts = [p["prompt"] for p in pairs]
answers_a = [p["rejected"] if f else p["chosen"] for p, f in zip(pairs, flip)]
answers_b = [p["chosen"] if f else p["rejected"] for p, f in zip(pairs, flip)]
p_a = judge_preference(model, tokenizer, prompts, answers_a, answers_b, SHORT_PREAMBLE)
human_a = torch.tensor([not f for f in flip])
print(f"{len(pairs)} pairs fit; P(A) from {p_a.min():.3f} to {p_a.max():.3f}; "
      f"agreement with the human labels {((p_a > 0.5) == human_a).float().mean():.3f}")

# %% [markdown]
# ## 6. Preference pairs with soft labels
#
# `ai_preference_pairs(prompts, responses_a, responses_b, p_a, min_confidence=0.6)` turns the judge's
# verdicts into training data. For each pair with $p$ = `p_a[i]` (a tensor or a list), the judge's confidence
# is $\max(p, 1-p)$. Skip the pair when its confidence is **below** `min_confidence` (a near-tie teaches the
# reward model nothing reliable); otherwise make the record
#
#     {"prompt": ..., "chosen": ..., "rejected": ..., "p_chosen": confidence}
#
# with the response the judge prefers as `chosen` (A when $p > 0.5$) and `p_chosen` a Python float, the
# probability that `chosen` is better: the soft label. Keep the input order. `min_confidence` must be above 0.5
# (at 0.5 a tie would be kept and labelled arbitrarily) and at most 1: raise `ValueError` otherwise. The
# records are TRL's `prompt`/`chosen`/`rejected` format and load with the course's `load_preferences`.

# %% nbgrader={"grade": false, "grade_id": "ai_preference_pairs", "locked": false, "schema_version": 3, "solution": true, "task": false}
def ai_preference_pairs(prompts, responses_a, responses_b, p_a, min_confidence: float = 0.6) -> list:
    """Records {"prompt", "chosen", "rejected", "p_chosen"} for the pairs the judge is confident about."""
    ### BEGIN SOLUTION
    if not 0.5 < min_confidence <= 1.0:
        raise ValueError(f"min_confidence must be in (0.5, 1], not {min_confidence}")
    records = []
    for prompt, a, b, p in zip(prompts, responses_a, responses_b, p_a):
        p = float(p)
        confidence = max(p, 1.0 - p)
        if confidence < min_confidence:
            continue
        chosen, rejected = (a, b) if p > 0.5 else (b, a)
        records.append({"prompt": prompt, "chosen": chosen, "rejected": rejected, "p_chosen": confidence})
    return records
    ### END SOLUTION


# %% [markdown]
# The worked example's two pairs: pair 1 ($P(A) = 0.578$) is a near-tie and skipped, pair 2 is kept with B as
# `chosen`. Then the pairs round-trip through a file and the course's loader.

# %%
probs = label_probs(worked, torch.ones(4, 1), torch.tensor([0, 1]))
worked_p_a = (probs[0::2, 0] + probs[1::2, 1]) / 2  # P("1") with A first, P("2") with B first
print("P(A):", show(worked_p_a))
records = ai_preference_pairs(["pair 1", "pair 2"], ["A1", "A2"], ["B1", "B2"], worked_p_a)
print(records)
with tempfile.TemporaryDirectory() as folder:
    path = save_preferences(records, Path(folder) / "ai_pairs.jsonl")
    print(load_preferences(path))

# %% [markdown]
# ## 7. The soft-label reward-model loss
#
# A reward model gives each response a score; with $\Delta = r_\text{chosen} - r_\text{rejected}$ the
# Bradley–Terry probability that `chosen` is better is $\sigma(\Delta)$. With the judge's probability $p$ as
# the target, the loss is the cross-entropy between the two distributions over {chosen, rejected}:
#
# $$\ell = -\big[p\,\log\sigma(\Delta) + (1 - p)\,\log\sigma(-\Delta)\big]$$
#
# per pair, `(B,)` (no reduction). With $p = 1$ it is the usual pairwise loss. Use `F.logsigmoid` (or
# `F.binary_cross_entropy_with_logits`), never `log(sigmoid(.))` or `binary_cross_entropy` on a sigmoid, which
# break for large margins.

# %% nbgrader={"grade": false, "grade_id": "soft_label_loss", "locked": false, "schema_version": 3, "solution": true, "task": false}
def soft_label_loss(chosen_rewards: torch.Tensor, rejected_rewards: torch.Tensor, p_chosen: torch.Tensor) -> torch.Tensor:
    """Per-pair cross-entropy between the judge's p_chosen and sigma(chosen - rejected): (B,)."""
    ### BEGIN SOLUTION
    margin = chosen_rewards - rejected_rewards
    return -(p_chosen * F.logsigmoid(margin) + (1 - p_chosen) * F.logsigmoid(-margin))
    ### END SOLUTION


# %% [markdown]
# Pair 2 of the worked example with a reward margin of 1 for `chosen`: the soft label asks for less than the
# hard one, and its loss is lowest at the margin $\log\frac{p}{1-p}$, not at infinity.

# %%
pair2 = label_probs(worked[2:], torch.ones(2, 1), torch.tensor([0, 1]))
p2 = 1 - (pair2[0:1, 0] + pair2[1:2, 1]) / 2  # B is chosen: p_chosen = 1 - P(A)
margin = torch.tensor([1.0], requires_grad=True)
soft = soft_label_loss(margin, torch.zeros(1), p2)
soft.sum().backward()
print("soft:", show(soft.detach()), " hard:", show(soft_label_loss(margin.detach(), torch.zeros(1), torch.ones(1))),
      " gradient:", show(margin.grad), " best margin:", show(torch.log(p2 / (1 - p2))))
