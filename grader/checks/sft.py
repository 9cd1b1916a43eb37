"""Checks for the SFT exercise (``solutions/sft.py``).

Inputs are chosen to separate mistakes: a prompt that ends inside a word (tokenizing prompt + response as one
text moves the boundary), truncation that cuts the response, fits exactly, or leaves one token; a Llama-like
tokenizer (a BOS token, and BOS, EOS and pad tokens of their own); batches of unequal lengths with padding where
the pad id is the EOS id, and with a pad id that is no token of theirs; prompts of different lengths;
position-dependent, non-square logits (a missing or doubled shift shows) with a row that fills every position
(its last label is a target); bfloat16, float16, float64 and extreme logits; a batch where one row has no target;
a training step on the tiny GPT-2 that starts in eval mode with stale gradients, clips (max_grad_norm below the
gradient's norm), and has a left-padded row (so the attention mask matters) and a target at position 0 (which
nothing predicts). The caller's examples and labels must come back unchanged.
"""

from __future__ import annotations

import copy

import torch

from grader.checking import (Check, CheckFailed, Context, LearnerError, Mistake, expect_tensor, expect_value_error,
                             seeded)

IGNORE = -100
NO_POSITION = -1  # fills the rows of an observation past the end of a shorter output

MISTAKES: dict[str, Mistake] = {
    # build_example
    "joint_tokenization": Mistake("build_example", "tokenize the prompt and the response separately and concatenate "
                                  "the ids: tokenizing prompt + response as one text can merge tokens across the "
                                  "boundary, and then the prompt's length no longer marks where the response starts"),
    "eos_missing": Mistake("build_example", "append tokenizer.eos_token_id after the response: without it the model "
                           "never learns to stop"),
    "eos_masked": Mistake("build_example", "the EOS after the response is a target: its label is its id, not -100 "
                          "(it is how the model learns to stop)"),
    "prompt_not_masked": Mistake("build_example", "set the labels of every prompt position to -100: the model is "
                                 "never asked to write the prompt"),
    "prompt_masked_with_zero": Mistake("build_example", "mask the prompt with -100 (cross_entropy's ignore_index), "
                                       "not 0: a label 0 trains the model to predict token 0"),
    "labels_pre_shifted": Mistake("build_example", "labels are aligned with input_ids (labels[t] is the label of "
                                  "input_ids[t]); the loss does the shift, so shifting here as well predicts two "
                                  "tokens ahead"),
    "first_response_token_masked": Mistake("build_example", "only the prompt positions get -100: the first response "
                                           "token is a target (the last prompt position's logits predict it)"),
    "truncated_from_left": Mistake("build_example", "keep the first max_length tokens: what does not fit is the end "
                                   "of the response, never the prompt"),
    "eos_forced_after_truncation": Mistake("build_example", "cut prompt + response + EOS to its first max_length "
                                           "tokens; a response cut short gets no EOS (the text did not end there)"),
    "bos_in_response": Mistake("build_example", "tokenize the response with add_special_tokens=False: a tokenizer "
                               "that adds a BOS token (Llama's do) otherwise puts one between the prompt and the "
                               "response"),
    "long_prompt_accepted": Mistake("build_example", "raise a ValueError when the prompt alone has max_length tokens "
                                    "or more: no response token fits, and an example without targets hides the "
                                    "problem"),
    "prompt_mask_one_short": Mistake("build_example", "mask every prompt position, the last one too: the first "
                                     "len(prompt_ids) labels are -100 (a label on the last prompt token trains the "
                                     "model to write the prompt; the first target is the first response token)"),
    "prompt_length_without_special_tokens": Mistake("build_example", "count the prompt as it is tokenized, with its "
                                                    "special tokens: len(tokenizer(prompt)['input_ids']). Counting it "
                                                    "with add_special_tokens=False misses the BOS, so the last prompt "
                                                    "token is left as a target"),
    "prompt_without_special_tokens": Mistake("build_example", "tokenize the prompt with the tokenizer's special tokens "
                                             "(tokenizer(prompt)): a tokenizer that adds a BOS token puts it at the "
                                             "start of the prompt; only the response gets add_special_tokens=False"),
    "eos_from_pad_token": Mistake("build_example", "end the response with tokenizer.eos_token_id, not pad_token_id: "
                                  "they are one token only where the pad token was set to EOS (GPT-2); a tokenizer "
                                  "with its own pad token would teach the model to end with padding"),
    # collate
    "labels_masked_by_pad_id": Mistake("collate", "pad the labels by position (append -100 for each padding "
                                       "position): comparing ids with pad_token_id also masks the real EOS that "
                                       "ends each response, since GPT-2's pad id is its EOS id"),
    "labels_padded_with_pad_id": Mistake("collate", "pad the labels with -100, not with pad_token_id: padding must "
                                         "not be predicted"),
    "attention_mask_not_padded": Mistake("collate", "the attention mask is 0 on padding: pad it with zeros, not "
                                         "ones"),
    "attention_mask_from_pad_id": Mistake("collate", "pad the attention mask by position (append 0 for each padding "
                                          "position): input_ids != pad_token_id also hides the real EOS from "
                                          "attention, since GPT-2's pad id is its EOS id"),
    "left_padding": Mistake("collate", "pad on the right: the examples start at position 0 and the padding follows "
                            "them"),
    "labels_copied_from_input_ids": Mistake("collate", "pad each example's own labels (prompt already -100); "
                                            "copying input_ids into the labels puts the prompt back into the loss"),
    "examples_padded_in_place": Mistake("collate", "build new lists (list(e['input_ids']) + padding): extending the "
                                        "examples' lists changes the caller's data"),
    "padded_past_longest": Mistake("collate", "pad to the length of the longest example, no further: T = max(len(e["
                                   "'input_ids']) for e in examples) (its EOS is already in it)"),
    "ids_padded_with_zero": Mistake("collate", "pad input_ids with the pad_token_id the function is given, not 0: 0 is "
                                    "a real token of the vocabulary, and the caller chose the pad id"),
    "attention_mask_padded_with_pad_id": Mistake("collate", "pad the attention mask with 0 whatever the pad id is: "
                                                 "pad_token_id belongs in input_ids only; the mask holds 1 (attend) "
                                                 "and 0 (padding)"),
    "examples_reordered": Mistake("collate", "keep the examples in the order given: row i of the batch is "
                                  "examples[i] (sorting them by length breaks the caller's pairing of rows and data)"),
    # sft_loss
    "no_shift": Mistake("sft_loss", "logits at position t predict the token at t+1: score logits[:, :-1] against "
                        "labels[:, 1:] (you scored each position's own token)"),
    "shift_backwards": Mistake("sft_loss", "the shift goes the other way: logits[:, :-1] predict labels[:, 1:], not "
                               "logits[:, 1:] against labels[:, :-1]"),
    "double_shift": Mistake("sft_loss", "shift once: logits[:, :-1] against labels[:, 1:] (you shifted twice, so "
                            "each position predicts the token two ahead)"),
    "mean_of_sequence_means": Mistake("sft_loss", "average over every target token of the batch at once; the mean of "
                                      "per-sequence means weighs a short response's tokens more (and a row without "
                                      "targets makes its mean 0/0)"),
    "summed_over_tokens": Mistake("sft_loss", "divide by the number of target tokens: you summed the token losses "
                                  "(per sequence, averaged over the batch), so the loss grows with response length"),
    "mean_over_all_positions": Mistake("sft_loss", "divide by the number of target tokens, not by every position: "
                                       "masked positions add 0 to the sum but must not count in the mean"),
    "summed_not_averaged": Mistake("sft_loss", "divide by the number of target tokens: you summed the token losses "
                                   "of the whole batch (reduction='sum'); F.cross_entropy's default reduction='mean' "
                                   "with ignore_index=-100 averages over the targets"),
    "last_target_dropped": Mistake("sft_loss", "score all T-1 pairs, logits[:, :-1] against labels[:, 1:]: cutting one "
                                   "more position drops the last column's target, the EOS of a row that fills the "
                                   "batch"),
    "cross_entropy_in_bf16": Mistake("sft_loss", "the cross-entropy ran in bfloat16 (or float16) and only the result "
                                     "was cast: upcast the logits (logits.float()) first"),
    "float16_not_upcast": Mistake("sft_loss", "upcast float16 logits too, not only bfloat16: logits.float() when "
                                  "logits.dtype is torch.float16 or torch.bfloat16 (float16's log-softmax loses "
                                  "precision too)"),
    "float64_downcast": Mistake("sft_loss", "float64 logits stay float64: upcast only float16 and bfloat16 (an "
                                "unconditional .float(), on the logits or on the loss, throws away float64's "
                                "precision)"),
    "labels_modified_in_place": Mistake("sft_loss", "do not write into labels: labels[:, 1:] is a view of the caller's "
                                        "tensor, so replacing its -100s in place changes the batch the caller trains "
                                        "on next; use ignore_index, or labels.clamp(min=0) / masked_fill, which return "
                                        "new tensors"),
    "empty_row_raises": Mistake("sft_loss", "raise only when the whole batch has no target token: a row without "
                                "targets (a response cut away, an empty slot) adds nothing to the sum and nothing to "
                                "the count, and the mean over the other rows is defined"),
    "log_of_softmax": Mistake("sft_loss", "log(softmax(x)) is log(0) = -inf where a probability underflows: use "
                              "log_softmax or F.cross_entropy on the logits"),
    "nll_on_logits": Mistake("sft_loss", "F.nll_loss expects log-probabilities: apply log_softmax first (or use "
                             "F.cross_entropy, which does both)"),
    "empty_batch_nan": Mistake("sft_loss", "a batch without target tokens has no mean: raise a ValueError instead of "
                               "returning NaN (0/0), which would ruin the weights at the next step"),
    # sft_step
    "no_train_mode": Mistake("sft_step", "call model.train() before the forward pass: dropout must be on while "
                             "training (the model may come in eval mode)"),
    "no_zero_grad": Mistake("sft_step", "gradients accumulate across steps: call optimizer.zero_grad() before "
                            "loss.backward()"),
    "zero_grad_after_step": Mistake("sft_step", "zero the gradients at the start of the step, before loss.backward(): "
                                    "zeroing them after optimizer.step() lets the first update add whatever gradients "
                                    "the model came with (here stale ones, as an earlier backward leaves them)"),
    "mean_of_row_losses": Mistake("sft_step", "call sft_loss once, on the whole batch: the mean of per-row losses is "
                                  "the mean of per-sequence means, which weighs a short response's tokens more than "
                                  "the per-token mean"),
    "zero_grad_after_backward": Mistake("sft_step", "the step changed nothing: no gradient was left when "
                                        "optimizer.step() ran. The order is zero_grad, backward, clip, step"),
    "no_clipping": Mistake("sft_step", "clip the gradient norm after loss.backward() and before optimizer.step(): "
                           "torch.nn.utils.clip_grad_norm_(model.parameters(), max_grad_norm)"),
    "clip_by_value": Mistake("sft_step", "clip the norm of the whole gradient (clip_grad_norm_), not each element "
                             "(clip_grad_value_)"),
    "max_grad_norm_ignored": Mistake("sft_step", "clip to the max_grad_norm the step was called with, not a fixed "
                                     "value"),
    "no_attention_mask": Mistake("sft_step", "pass attention_mask to the model: without it real tokens attend to "
                                 "padding (here a left-padded row)"),
    "labels_ignored": Mistake("sft_step", "compute the loss on batch['labels'] (prompt and padding -100), not on "
                              "input_ids, which counts every position"),
    "labels_shifted_in_step": Mistake("sft_step", "pass the labels as they are: sft_loss shifts them, so shifting "
                                      "them in the step as well predicts two tokens ahead"),
    "loss_after_update": Mistake("sft_step", "return the loss this step computed, before optimizer.step(), not the "
                                 "loss of a second forward pass after it"),
    "tokens_from_attention_mask": Mistake("sft_step", "tokens counts the targets of the loss (labels[:, 1:] != -100), "
                                          "not the attended positions (attention_mask.sum()), which include the "
                                          "prompts"),
    "tokens_unshifted": Mistake("sft_step", "count the targets the loss averaged over: labels[:, 1:] != -100 (the "
                                "label at position 0 is never predicted)"),
}

OBSERVATIONS = {
    "example_ids": "input_ids of each example (one row per case, -1 past its end)",
    "example_labels": "labels of each example (one row per case, -1 past its end)",
    "example_mask": "attention_mask of each example (one row per case, -1 past its end)",
    "batch_ids": "the padded input_ids",
    "batch_mask": "the padded attention_mask",
    "batch_labels": "the padded labels",
    "batch_ids_eos_pad": "the padded input_ids when the pad id is the EOS id",
    "batch_mask_eos_pad": "the padded attention_mask when the pad id is the EOS id",
    "batch_labels_eos_pad": "the padded labels when the pad id is the EOS id",
    "loss": "the loss",
    "grad_logits": "the gradient of the loss with respect to the logits",
    "loss_bf16": "the loss for bfloat16 logits, of the batch and of each row (computed in float32)",
    "loss_fp16": "the loss for float16 logits, of the batch and of each row (computed in float32)",
    "loss_fp64": "the loss for float64 logits",
    "loss_empty_row": "the loss of a batch in which one row has no target",
    "loss_extreme": "the loss when a target's probability underflows in float32",
    "step_losses": "the loss returned by each step",
    "step_tokens": "the target-token count returned by each step",
    "step_updates": "the change of the parameters after each step (8 fixed projections)",
    "step_train_mode": "the fraction of each step's forward passes run in train mode",
}


# --- build_example -----------------------------------------------------------------------------


def _tokenizer(ctx: Context):
    from grader.tiny_models import load_gpt2

    return load_gpt2(device=ctx.device).tokenizer


def _corpus_words() -> list[str]:
    from grader.model_cache import CORPUS

    return [w for w in CORPUS.read_text(encoding="utf-8").split() if w.isalpha()]


def _phrase(g: torch.Generator, words: list[str], n: int) -> str:
    start = int(torch.randint(0, len(words) - n, (1,), generator=g))
    return " ".join(words[start : start + n])


def _ids(tokenizer, text: str) -> list[int]:
    return tokenizer(text)["input_ids"]


def _split_word(g: torch.Generator, tokenizer, words: list[str]) -> tuple[str, str]:
    """A word cut in two whose halves tokenize differently apart than together (the boundary moves)."""
    long_words = [w for w in words if len(w) >= 6]
    while True:
        w = long_words[int(torch.randint(0, len(long_words), (1,), generator=g))]
        k = int(torch.randint(2, len(w) - 2, (1,), generator=g))
        if _ids(tokenizer, " " + w[:k]) + _ids(tokenizer, w[k:]) != _ids(tokenizer, " " + w):
            return w[:k], w[k:]


def llama_like_tokenizer(tokenizer):
    """A copy of ``tokenizer`` with BOS, EOS and pad tokens of its own that starts every text with its BOS token
    unless add_special_tokens=False, as the tokenizers of Llama and many chat models do (GPT-2's adds nothing, and
    its one special token is BOS, EOS and pad at once)."""
    from tokenizers.processors import TemplateProcessing

    tokenizer = copy.deepcopy(tokenizer)
    tokenizer.add_special_tokens({"bos_token": "<s>", "eos_token": "</s>", "pad_token": "<pad>"})
    tokenizer.backend_tokenizer.post_processor = TemplateProcessing(
        single=f"{tokenizer.bos_token} $A", special_tokens=[(tokenizer.bos_token, tokenizer.bos_token_id)])
    return tokenizer


def example_cases(ctx: Context, tokenizer) -> list[tuple[object, str, str, int]]:
    """(tokenizer, prompt, response, max_length): a word completed across the boundary (room to spare); a response
    cut by truncation; an exact fit (EOS is the last token that fits); room for one response token only; a Llama-like
    tokenizer (the prompt starts with its BOS, the response gets none, EOS and pad are different tokens), with room
    to spare and with the response cut after three tokens."""
    g = seeded(41)
    words = _corpus_words()
    head, tail = _split_word(g, tokenizer, words)
    cases = [(f"User: Finish the word.\n{_phrase(g, words, 3)} {head}", f"{tail} {_phrase(g, words, 4)}")]
    for _ in range(5):
        cases.append((f"User: {_phrase(g, words, 5)}?\nAssistant:", " " + _phrase(g, words, 6) + "."))
    llama_like = llama_like_tokenizer(tokenizer)
    tokenizers = [tokenizer] * 4 + [llama_like] * 2
    lengths = [(len(_ids(t, p)), len(_ids(t, r))) for t, (p, r) in zip(tokenizers, cases)]
    room = [lengths[0][0] + lengths[0][1] + 8, lengths[1][0] + lengths[1][1] - 2,  # EOS and two tokens cut
            lengths[2][0] + lengths[2][1] + 1, lengths[3][0] + 1, lengths[4][0] + lengths[4][1] + 4, lengths[5][0] + 3]
    return [(t, p, r, m) for t, (p, r), m in zip(tokenizers, cases, room)]


def _example(ctx: Context, out, max_length: int) -> list[list[int]]:
    keys = ("input_ids", "labels", "attention_mask")
    if not isinstance(out, dict) or not set(keys) <= set(out):
        raise CheckFailed("build_example must return a dict with input_ids, labels and attention_mask",
                          got=repr(out)[:200])
    rows = []
    for k in keys:
        v = out[k]
        if isinstance(v, torch.Tensor):
            v = v.tolist()
        if not isinstance(v, (list, tuple)) or not all(isinstance(x, int) for x in v):
            raise CheckFailed(f"build_example: {k} must be a list of ints", got=repr(v)[:200],
                              hint="return plain Python lists, e.g. tokenizer(text)['input_ids'] + [...]")
        rows.append(list(v))
    if len({len(r) for r in rows}) != 1:
        raise CheckFailed("build_example: input_ids, labels and attention_mask have different lengths",
                          got=str([len(r) for r in rows]), hint="one label and one mask value per token")
    if len(rows[0]) > max_length:
        raise CheckFailed(f"build_example: {len(rows[0])} tokens for max_length={max_length}",
                          expected=f"at most {max_length} tokens", got=f"{len(rows[0])} tokens",
                          hint="cut prompt + response + EOS to its first max_length tokens")
    return rows


def check_build_example(ctx: Context) -> dict:
    tokenizer = _tokenizer(ctx)
    cases = example_cases(ctx, tokenizer)
    width = max(m for *_, m in cases)
    obs = torch.full((3, len(cases), width), NO_POSITION, dtype=torch.long)
    for i, (tok, prompt, response, max_length) in enumerate(cases):
        for j, row in enumerate(_example(ctx, ctx.call("build_example", tok, prompt, response, max_length),
                                         max_length)):
            obs[j, i, : len(row)] = torch.tensor(row, dtype=torch.long)
    _, prompt, response, _ = cases[3]
    for max_length in (len(_ids(tokenizer, prompt)), len(_ids(tokenizer, prompt)) - 2):
        expect_value_error(lambda: ctx.fn("build_example")(tokenizer, prompt, response, max_length),
                           "build_example: a prompt that fills max_length", got=f"an example (max_length={max_length})",
                           hint=MISTAKES["long_prompt_accepted"].hint, mistake="long_prompt_accepted")
    return {"example_ids": obs[0], "example_labels": obs[1], "example_mask": obs[2]}


# --- collate ---------------------------------------------------------------------------------


def collate_examples(g: torch.Generator, prompts: list[int], responses: list[int], eos: int) -> list[dict]:
    """Examples as build_example makes them: prompt ids (labels -100), response ids and a final EOS."""
    examples = []
    for p, r in zip(prompts, responses):
        ids = torch.randint(1, 50, (p + r,), generator=g).tolist()
        ids[-1] = eos
        examples.append({"input_ids": ids, "labels": [IGNORE] * p + ids[p:], "attention_mask": [1] * (p + r)})
    return examples


def _batch(ctx: Context, examples: list[dict], pad_token_id: int) -> list[torch.Tensor]:
    before = copy.deepcopy(examples)
    out = ctx.call("collate", examples, pad_token_id)
    if examples != before:
        raise CheckFailed("collate changed the examples it was given", expected="the examples unchanged",
                          got="examples with padding added", hint=MISTAKES["examples_padded_in_place"].hint,
                          mistake="examples_padded_in_place")
    keys = ("input_ids", "attention_mask", "labels")
    if not isinstance(out, dict) or not set(keys) <= set(out):
        raise CheckFailed("collate must return a dict with input_ids, attention_mask and labels", got=repr(out)[:200])
    width = max(len(e["input_ids"]) for e in examples)
    for k in keys:
        v = out[k]
        if isinstance(v, torch.Tensor) and v.dim() == 2 and v.shape[0] == len(examples) and v.shape[1] != width:
            wider = v.shape[1] > width
            raise CheckFailed(f"collate: {k} has {v.shape[1]} columns; the longest example has {width} tokens",
                              expected=f"shape {(len(examples), width)}", got=f"shape {tuple(v.shape)}",
                              hint=MISTAKES["padded_past_longest"].hint if wider else "pad every example to the "
                              "longest one's length: no example is cut",
                              mistake="padded_past_longest" if wider else None)
        expect_tensor("collate", v, (len(examples), width), k)
        if out[k].dtype != torch.long:
            raise CheckFailed(f"collate: {k} must be a torch.long tensor", expected="torch.int64",
                              got=str(out[k].dtype), hint="torch.tensor(rows, dtype=torch.long): ids and labels are "
                              "indices, and the model and cross_entropy expect integers")
    return [out[k] for k in keys]


def check_collate(ctx: Context) -> dict:
    g = seeded(43)
    # Three examples of 7, 10 and 4 tokens with prompts of 3, 5 and 2: the second needs no padding.
    examples = collate_examples(g, [3, 5, 2], [4, 5, 2], eos=0)
    ids, mask, labels = _batch(ctx, examples, pad_token_id=0)  # GPT-2: the pad id is the EOS id
    examples = collate_examples(g, [4, 2, 3], [2, 6, 5], eos=0)
    ids_pad, mask_pad, labels_pad = _batch(ctx, examples, pad_token_id=57)  # a pad id that no example holds
    return {"batch_ids_eos_pad": ids, "batch_mask_eos_pad": mask, "batch_labels_eos_pad": labels,
            "batch_ids": ids_pad, "batch_mask": mask_pad, "batch_labels": labels_pad}


# --- sft_loss --------------------------------------------------------------------------------


def loss_inputs(ctx: Context) -> tuple[torch.Tensor, torch.Tensor]:
    """B=3, T=9, V=11: position-dependent logits; prompts of 2, 4 and 0 tokens; responses of 7, 3 and 7 labelled
    tokens, so 7, 3 and 6 targets (the first row fills every position, so the last column holds a target, as the
    longest row's EOS does in a right-padded batch; the third row's label at position 0 is a token that nothing
    predicts); 0, 2 and 2 padding positions."""
    g = seeded(45)
    B, T, V = 3, 9, 11
    position_bias = torch.linspace(-2.0, 2.0, T).view(1, T, 1) * torch.linspace(1.0, -1.0, V).view(1, 1, V)
    logits = 2.0 * torch.randn(B, T, V, generator=g) + 3.0 * position_bias
    ids = torch.randint(0, V, (B, T), generator=g)
    labels = torch.full((B, T), IGNORE, dtype=torch.long)
    for b, (prompt, response) in enumerate([(2, 7), (4, 3), (0, 7)]):
        labels[b, prompt : prompt + response] = ids[b, prompt : prompt + response]
    return logits, labels


def _loss(ctx: Context, logits: torch.Tensor, labels: torch.Tensor, what: str = "output",
          nonfinite_mistake: str | None = None) -> torch.Tensor:
    """A finite scalar from sft_loss on a copy of ``labels`` (on the logits' device), which must come back unchanged;
    ``nonfinite_mistake``: the catalogued slip that inf or NaN means here."""
    given, logits_before = labels.to(logits.device, copy=True), logits.detach().clone()
    out = ctx.call("sft_loss", logits, given)
    if not torch.equal(given.cpu(), labels.cpu()):
        raise CheckFailed("sft_loss changed the labels it was given", expected="the labels unchanged",
                          got="labels written into", hint=MISTAKES["labels_modified_in_place"].hint,
                          mistake="labels_modified_in_place")
    if not torch.equal(logits.detach(), logits_before):
        raise CheckFailed("sft_loss changed the logits it was given", expected="the logits unchanged",
                          got="logits written into", hint="compute on new tensors (logits - m, not logits -= m): "
                          "the caller's logits belong to the model's graph and to the caller")
    if nonfinite_mistake is None:
        return expect_tensor("sft_loss", out, (), what)
    try:
        return expect_tensor("sft_loss", out, (), what, MISTAKES[nonfinite_mistake].hint)
    except CheckFailed as failed:
        if isinstance(out, torch.Tensor) and out.shape == ():  # the shape was right: the value is inf or NaN
            failed.mistake = nonfinite_mistake
        raise


UPCAST_HINT = "upcast float16 and bfloat16 logits before the cross-entropy (logits.float()): the loss is float32"


def _low_precision_losses(ctx: Context, logits: torch.Tensor, labels: torch.Tensor, dtype: torch.dtype,
                          mistake: str | None) -> torch.Tensor:
    """(1 + B,) losses of bfloat16 or float16 logits (what a model in half precision returns), the batch and each row
    alone (several numbers, so that a half-precision slip shows in more than one); each must be at least float32.
    ``mistake``: the catalogued slip that a half-precision result means for this dtype."""
    low = logits.detach().to(dtype)
    name = str(dtype).removeprefix("torch.")
    lows = [_loss(ctx, x, y, f"output for {name} logits") for x, y in [(low, labels)] + [
        (low[b : b + 1], labels[b : b + 1]) for b in range(low.shape[0])]]
    if any(x.dtype not in (torch.float32, torch.float64) for x in lows):
        raise CheckFailed(f"sft_loss: {name} logits must give a float32 loss", expected="torch.float32",
                          got=str(lows[0].dtype), hint=MISTAKES[mistake].hint if mistake else UPCAST_HINT,
                          mistake=mistake)
    return torch.stack(lows).detach()


def check_sft_loss(ctx: Context) -> dict:
    logits, labels = loss_inputs(ctx)
    logits = ctx.tensor(logits, requires_grad=True)
    loss = _loss(ctx, logits, labels)
    if not loss.requires_grad:
        raise CheckFailed("sft_loss: the loss carries no gradient", hint="do not detach the loss or compute it under "
                          "torch.no_grad(); training back-propagates through it")
    (grad,) = torch.autograd.grad(loss, [logits])
    # Half precision (the spec: compute in float32); float16 after bfloat16, so that upcasting only bfloat16 is named.
    loss_bf16 = _low_precision_losses(ctx, logits, labels, torch.bfloat16, None)
    loss_fp16 = _low_precision_losses(ctx, logits, labels, torch.float16, "float16_not_upcast")
    # float64 stays float64 (on the CPU: not every device has float64).
    loss_fp64 = _loss(ctx, logits.detach().cpu().double(), labels, "output for float64 logits")
    if loss_fp64.dtype != torch.float64:
        raise CheckFailed("sft_loss: float64 logits must give a float64 loss", expected="torch.float64",
                          got=str(loss_fp64.dtype), hint=MISTAKES["float64_downcast"].hint, mistake="float64_downcast")
    # One target 150 nats below the best logit at its position: its softmax underflows to 0 in float32.
    extreme = logits.detach().clone()
    extreme[0, 3, labels[0, 4]] = extreme[0, 3].max() - 150.0
    loss_extreme = _loss(ctx, extreme, labels, "output when a target's probability underflows", "log_of_softmax")
    # The second row loses its targets (only its position 0, which nothing predicts, keeps a label): the mean over
    # the other rows' targets is defined, so no error.
    partial = labels.clone()
    partial[1] = IGNORE
    partial[1, 0] = labels[2, 0]
    try:
        # NaN here is a per-row mean's 0/0
        loss_empty_row = _loss(ctx, logits.detach(), partial, "output when one row has no target",
                               "mean_of_sequence_means")
    except LearnerError as exc:
        if not isinstance(exc.__cause__, ValueError):
            raise
        raise CheckFailed("sft_loss raised ValueError for a batch in which one row has no target (the others have)",
                          expected="the mean over the other rows' targets", got=str(exc.__cause__)[:200],
                          hint=MISTAKES["empty_row_raises"].hint, mistake="empty_row_raises") from None
    _expect_empty_batch_error(ctx, logits.detach(), labels)
    return {"loss": loss.detach(), "grad_logits": grad, "loss_bf16": loss_bf16, "loss_fp16": loss_fp16,
            "loss_fp64": loss_fp64.detach(), "loss_extreme": loss_extreme.detach(),
            "loss_empty_row": loss_empty_row.detach()}


def _expect_empty_batch_error(ctx: Context, logits: torch.Tensor, labels: torch.Tensor) -> None:
    """Labels with no target after position 0 (the label at 0 is a token, but nothing predicts it): ValueError."""
    empty = torch.full_like(labels, IGNORE)
    empty[:, 0] = labels[2, 0]
    try:
        out = ctx.fn("sft_loss")(logits, empty.to(ctx.device))
    except (ValueError, NotImplementedError):
        return
    except Exception as exc:  # noqa: BLE001
        raise CheckFailed("sft_loss: a batch without target tokens should raise ValueError",
                          got=f"{type(exc).__name__}: {exc}") from None
    raise CheckFailed("sft_loss: a batch without target tokens should raise ValueError", expected="ValueError",
                      got=repr(out)[:100], hint=MISTAKES["empty_batch_nan"].hint, mistake="empty_batch_nan")


# --- sft_step --------------------------------------------------------------------------------

STEPS = 3
STEP_LR = 1.0
# Below the gradient's norm (2.7 to 4.8) and below its largest element (0.18 to 0.71) at every step, on the public
# inputs and on every secret variant tried: norm clipping acts, and clipping each element instead differs from it.
MAX_GRAD_NORM = 0.1


def step_batch(ctx: Context, vocab: int) -> dict:
    """B=3, T=10. Row 0: prompt 3, response 5, 2 padding at the end. Row 1: 2 padding at the START (left padding:
    only the attention mask keeps the real tokens from attending to it), prompt 4, response 4. Row 2: no prompt
    (its label at position 0 is a token that nothing predicts), response 10."""
    g = seeded(47)
    T = 10
    ids = torch.randint(1, vocab, (3, T), generator=g)
    mask = torch.ones(3, T, dtype=torch.long)
    labels = ids.clone()
    ids[0, 8:], mask[0, 8:], labels[0, :3], labels[0, 8:] = 0, 0, IGNORE, IGNORE
    ids[1, :2], mask[1, :2], labels[1, :6] = 0, 0, IGNORE
    return {"input_ids": ids.to(ctx.device), "attention_mask": mask.to(ctx.device), "labels": labels.to(ctx.device)}


def _step_result(result) -> tuple[float, int]:
    if not isinstance(result, dict) or not {"loss", "tokens"} <= set(result):
        raise CheckFailed("sft_step must return a dict with loss and tokens", got=repr(result)[:200])
    if not isinstance(result["loss"], float):
        raise CheckFailed("sft_step: loss should be a Python float", expected="a float",
                          got=type(result["loss"]).__name__, hint="return loss.item()")
    if not isinstance(result["tokens"], int) or isinstance(result["tokens"], bool):
        raise CheckFailed("sft_step: tokens should be a Python int", expected="an int",
                          got=type(result["tokens"]).__name__, hint="return int(count), or count.item()")
    return result["loss"], result["tokens"]


def check_sft_step(ctx: Context) -> dict:
    from grader.tiny_models import load_gpt2

    model, _, _ = load_gpt2(device=ctx.device)
    model = model.to(ctx.dtype).eval()  # the step must switch to train mode itself
    modes: list[bool] = []
    model.register_forward_pre_hook(lambda module, args: modes.append(module.training))
    g = seeded(49)
    for _, p in sorted(model.named_parameters()):  # stale gradients, as a previous backward leaves them
        p.grad = torch.randn(p.shape, generator=g).to(p.device, p.dtype)
    params = [p for _, p in sorted(model.named_parameters())]
    optimizer = torch.optim.SGD(model.parameters(), lr=STEP_LR)
    batch = step_batch(ctx, model.config.vocab_size)
    directions = None
    losses, tokens, updates, train_mode = [], [], [], []
    for _ in range(STEPS):
        modes.clear()
        before = torch.cat([p.detach().flatten().cpu().double() for p in params])
        try:
            loss, count = _step_result(ctx.call("sft_step", model, optimizer, batch, max_grad_norm=MAX_GRAD_NORM))
        except LearnerError as exc:
            if "does not require grad" in str(exc):
                raise CheckFailed("sft_step: loss.backward() failed", got=str(exc),
                                  hint="compute the loss outside torch.no_grad(): it must carry a gradient") from None
            raise
        delta = torch.cat([p.detach().flatten().cpu().double() for p in params]) - before
        if not delta.any():
            raise CheckFailed("sft_step: the parameters did not change", expected="an update",
                              got="the parameters before the step", hint=MISTAKES["zero_grad_after_backward"].hint,
                              mistake="zero_grad_after_backward")
        if directions is None:  # the update, projected on 8 fixed random directions: small to store
            directions = torch.randn(8, delta.numel(), generator=seeded(51), dtype=torch.float64)
        losses.append(loss)
        tokens.append(count)
        updates.append(directions @ delta)
        train_mode.append(sum(modes) / max(len(modes), 1))
    return {"step_losses": torch.tensor(losses, dtype=torch.float64),
            "step_tokens": torch.tensor(tokens, dtype=torch.float64),
            "step_updates": torch.stack(updates), "step_train_mode": torch.tensor(train_mode, dtype=torch.float64)}


CHECKS = (
    Check("build_example", ("build_example",), check_build_example,
          "token ids, labels (-100 on the prompt) and mask; the boundary, BOS, EOS, truncation; a too-long prompt "
          "raises", points=2,
          generic_hint="compare your ids and labels position by position (shown above) with the exercise's rules: "
          "the prompt with its special tokens, then the response without them, then EOS; -100 on every prompt "
          "position; the first max_length tokens"),
    Check("collate", ("collate",), check_collate,
          "right padding of ids, mask and labels (-100 on padding, the EOS kept when the pad id is the EOS id)",
          points=1,
          generic_hint="compare the padded tensors position by position (shown above) with the exercise's rules: "
          "the examples in their order, each on the right padded with pad_token_id in input_ids, 0 in "
          "attention_mask and -100 in labels"),
    Check("sft_loss", ("sft_loss",), check_sft_loss,
          "shifted, masked per-token mean cross-entropy and its gradient; half, float64 and extreme logits; a row "
          "without targets; no targets raises", points=3),
    Check("sft_step", ("sft_step", "sft_loss"), check_sft_step,
          "three seeded steps on the tiny GPT-2: losses, token counts, updates (clipped), train mode",
          points=2, timeout_s=60,
          generic_hint="compare your step with the order the exercise states: train mode, zero_grad, the forward "
          "pass with the attention mask, sft_loss on the whole batch, backward, clip, step; return loss.item() "
          "of this batch before the update and the number of targets"),
)
