"""Checks for the RLAIF exercise (``solutions/rlaif.py``): an LLM judge scored from its label tokens.

Inputs are chosen to separate mistakes: judge prompts with and without exemplars, built from the shipped
pairs; label tokens after ``=`` and after ``:`` (where a label carries its space), labels that are two tokens
in context, a text whose trailing space merges with the label, duplicate labels; logits for batches padded
on the left and on the right (rows of unequal length), a tie between the label logits and logits of 1e4
(where exp overflows); a perturbed tiny GPT-2 as the judge (so that padding, position ids and the order of
the responses change its verdicts), with a longer position table so the course's full preamble fits;
judge probabilities exactly at the confidence threshold on both sides, a tie at 0.5 and values just below the
threshold; soft labels of 0, 1 and in between, reward margins of both signs, a zero margin and margins of
+-150 and +-200 (where log(sigmoid(.)) and binary cross-entropy on a sigmoid break).
"""

from __future__ import annotations

import json

import torch

from grader.checking import (Check, CheckFailed, Context, LearnerError, Mistake, expect_tensor, seeded,
                             weighted_grads)
from grader.preferences import check_record, load_preferences

ENDING = "Preferred Response="  # the exercise's ending (solutions/rlaif.py)

MISTAKES: dict[str, Mistake] = {
    # format_judge_prompt
    "responses_swapped": Mistake("format_judge_prompt", "response_1 goes after 'Response 1 - ' and response_2 "
                                 "after 'Response 2 - ': the label the judge gives names the position"),
    "exemplar_label_missing": Mistake("format_judge_prompt", "each exemplar block ends with its label: "
                                      "'Preferred Response=' followed by the exemplar's \"preferred\" (\"1\" or \"2\")"),
    "exemplars_ignored": Mistake("format_judge_prompt", "the exemplars are missing: one solved block per exemplar, "
                                 "between the preamble and the pair to label"),
    "preamble_missing": Mistake("format_judge_prompt", "the prompt starts with the preamble, then a blank line"),
    "single_newline_between_parts": Mistake("format_judge_prompt", "separate the preamble, each exemplar and the "
                                            "sample by a blank line (\"\\n\\n\"), not a single newline"),
    "text_after_ending": Mistake("format_judge_prompt", "the prompt must end with 'Preferred Response=' and "
                                 "nothing after it: a trailing space or newline changes which token the label is"),
    # label_token_ids
    "label_without_context": Mistake("label_token_ids", "a label looked up on its own is not the token it becomes "
                                     "after the text: tokenize text + label, check that it is the text's tokens "
                                     "plus exactly one, and take that one (here ' B' alone is a space token, then B)"),
    "last_token_in_context": Mistake("label_token_ids", "the last token of text + label is not always the label's: "
                                     "raise ValueError when the label is more than one token after the text, or "
                                     "when appending it changes the text's own tokens"),
    "label_stripped": Mistake("label_token_ids", "keep each label as given, leading space included: after ':' "
                              "the label ' a' is the token 'Ġa', not 'a'"),
    "convert_tokens_to_ids": Mistake("label_token_ids", "convert_tokens_to_ids looks up a vocabulary entry by "
                                     "its spelling (a space is 'Ġ' there) and returns the unknown-token id for the "
                                     "rest: tokenize text + label instead"),
    "prefix_not_checked": Mistake("label_token_ids", "check that text + label starts with the tokens of text: "
                                  "after a trailing space the label merges with it ('Ġ' + 'A' -> 'ĠA'), and the "
                                  "model would never see the text you score"),
    "length_not_checked": Mistake("label_token_ids", "raise ValueError when a label is more than one token after "
                                  "the text: its first token alone (often a bare space) does not stand for it"),
    "duplicate_ids_allowed": Mistake("label_token_ids", "two labels with the same token id cannot be told apart: "
                                     "raise ValueError"),
    # label_probs
    "last_column": Mistake("label_probs", "logits[:, -1] is a padding position in right-padded rows: read each "
                           "row at its last position whose attention mask is 1"),
    "mask_sum_index": Mistake("label_probs", "attention_mask.sum(-1) - 1 is the last real position only with right "
                          "padding: with left padding the last real token is the last column; use the index of "
                          "each row's last 1"),
    "whole_vocab_softmax": Mistake("label_probs", "the softmax runs over the label logits only: softmax over the "
                                   "whole vocabulary, then picking the labels, leaves probabilities that do not "
                                   "sum to 1"),
    "log_probs_returned": Mistake("label_probs", "return probabilities (softmax), not log-probabilities"),
    "exp_overflow": Mistake("label_probs", "exp of a large logit overflows to inf (inf / inf is NaN): use "
                            "torch.softmax, which subtracts the maximum first"),
    "softmax_over_batch": Mistake("label_probs", "the softmax runs over the labels (dim=-1), not over the batch"),
    "independent_sigmoids": Mistake("label_probs", "a sigmoid of each label's logit on its own is not a "
                                    "distribution over the labels: take the softmax over the K label logits"),
    "softmax_in_bf16": Mistake("label_probs", "the softmax ran in bfloat16 and only the result was cast: upcast "
                               "the logits (logits.float()) first"),
    # judge_probs
    "no_position_ids": Mistake("judge_probs", "with left padding GPT-2 puts a row's real tokens at shifted "
                               "positions: pass position_ids = (attention_mask.cumsum(-1) - 1).clamp(min=0)"),
    "no_attention_mask": Mistake("judge_probs", "pass attention_mask to the model: without it the real tokens of a "
                                 "left-padded row attend to the padding"),
    "positions_from_one": Mistake("judge_probs", "positions count from 0: position_ids = attention_mask.cumsum(-1) "
                                  "- 1, clamped at 0"),
    "judge_builds_graph": Mistake("judge_probs", "scoring needs no gradient: run the model under torch.no_grad() "
                                  "(a graph per call keeps every activation in memory)"),
    # judge_preference
    "one_order_only": Mistake("judge_preference", "score both orders: with A first P(A) is P('1'), with B first it "
                              "is P('2'); average the two (one order keeps the judge's position bias)"),
    "orders_not_swapped": Mistake("judge_preference", "in the swapped order A is response 2: its probability is "
                                  "P('2') there, not P('1') (averaging P('1') measures position bias)"),
    "same_order_twice": Mistake("judge_preference", "the second text must show B first and A second: "
                                "format_judge_prompt(p, b, a, ...)"),
    "log_odds_averaged": Mistake("judge_preference", "average the two orders' probabilities (Lee et al.), not "
                                 "their log-odds"),
    "preamble_not_passed": Mistake("judge_preference", "pass preamble (and exemplars) on to format_judge_prompt"),
    "exemplars_not_passed": Mistake("judge_preference", "pass exemplars on to format_judge_prompt"),
    # ai_preference_pairs
    "strict_threshold": Mistake("ai_preference_pairs", "a pair whose confidence equals min_confidence is kept: "
                                "skip only those below it (confidence >= min_confidence)"),
    "one_sided_threshold": Mistake("ai_preference_pairs", "the judge is confident about B when p_a is small: the "
                                   "confidence is max(p, 1 - p), and B becomes chosen"),
    "chosen_always_a": Mistake("ai_preference_pairs", "when p_a < 0.5 the judge prefers B: make B chosen and A "
                               "rejected"),
    "soft_label_not_flipped": Mistake("ai_preference_pairs", "p_chosen is the probability that chosen is better: "
                                      "1 - p_a when B is chosen"),
    "threshold_on_margin": Mistake("ai_preference_pairs", "min_confidence is a probability compared with "
                                   "max(p, 1 - p), not a distance from 0.5"),
    # soft_label_loss
    "hard_labels": Mistake("soft_label_loss", "the soft label is not used: the loss is "
                           "-[p log sigma(d) + (1 - p) log sigma(-d)], which is -log sigma(d) only when p = 1"),
    "label_weights_swapped": Mistake("soft_label_loss", "p weighs log sigma(d), the log-probability that chosen "
                                     "is better; 1 - p weighs log sigma(-d)"),
    "loss_sign_flipped": Mistake("soft_label_loss", "the cross-entropy is MINUS the expected log-likelihood: "
                                 "-[p log sigma(d) + (1 - p) log sigma(-d)] >= 0"),
    "bce_on_sigmoid": Mistake("soft_label_loss", "binary_cross_entropy on sigmoid(d) clamps each log at -100 and "
                              "loses the large margins: use binary_cross_entropy_with_logits(d, p) or F.logsigmoid"),
    "log_sigmoid_overflow": Mistake("soft_label_loss", "log(sigmoid(d)) becomes log(0) = -inf once |d| is large "
                                    "(0 * -inf is NaN where p is 0 or 1): use F.logsigmoid"),
    "mse_on_sigmoid": Mistake("soft_label_loss", "the soft-label loss is a cross-entropy, not the squared error "
                              "between sigmoid(d) and p"),
    "confidence_weighted": Mistake("soft_label_loss", "p * (-log sigma(d)) weighs the hard-label loss by the "
                                   "confidence; the soft label also puts 1 - p on the reversed order: "
                                   "-[p log sigma(d) + (1 - p) log sigma(-d)]"),
}

OBSERVATIONS = {
    "prompt_length": "the length in bytes of each judge prompt (0: the defaults; 1: another preamble, two exemplars)",
    "prompt_bytes": "the UTF-8 bytes of each judge prompt (row 0: the defaults; row 1: another preamble, two "
                    "exemplars), -1 after the end",
    "ids_after_equals": "the label ids after 'Preferred Response='",
    "ids_after_colon": "the label ids of three labels with a leading space after ':'",
    "raises": "whether each bad label set raises ValueError (0: a label of two tokens; 1: a text ending in a "
              "space; 2: duplicate labels)",
    "ids_when_no_error": "the ids returned for the bad label sets (-1 where ValueError was raised)",
    "probs": "the label probabilities (B, 2)",
    "grad_logits": "the gradient with respect to the logits",
    "probs_three_labels": "the probabilities over three labels",
    "probs_bf16": "the label probabilities for bfloat16 logits (computed in float32)",
    "probs_right_padded": "the judge's probabilities for a right-padded batch",
    "probs_left_padded": "the judge's probabilities for the same batch padded on the left",
    "p_sum": "P(A better) + P(B better) from the two calls with A and B swapped (exactly 1 when both orders "
             "are scored and averaged)",
    "p_a": "P(A better) with the default preamble, right padding",
    "p_a_left_padded": "P(A better) with the tokenizer padding on the left",
    "p_a_custom": "P(A better) with another preamble and two exemplars",
    "p_a_single": "P(A better) for a batch of one pair",
    "verdicts": "which response each pair's record chose (+1 A, -1 B, 0 skipped; row 0: min_confidence=0.75, "
                "row 1: the default)",
    "p_chosen": "the soft label p_chosen of each pair's record (0 where skipped; row 0: min_confidence=0.75, "
                "row 1: the default)",
    "losses": "the per-pair soft-label losses",
    "grad_chosen": "the gradient with respect to the chosen rewards",
    "grad_rejected": "the gradient with respect to the rejected rewards",
    "losses_extreme": "the losses at reward margins of +-150 and +-200",
}

JUDGE_POSITIONS = 512  # the check's judge: the tiny GPT-2 with a longer position table (the default preamble fits)
JUDGE_NOISE = 0.2  # added to every weight: the untrained tiny GPT-2 barely tells one order of the pair from the other


# --- inputs ----------------------------------------------------------------------------------


def _corpus_words() -> list[str]:
    from grader.model_cache import CORPUS

    return CORPUS.read_text(encoding="utf-8").split()


def _phrase(g: torch.Generator, low: int, high: int) -> str:
    """A run of ``low`` to ``high`` words from the shipped corpus."""
    words = _corpus_words()
    n = int(torch.randint(low, high + 1, (1,), generator=g))
    start = int(torch.randint(0, len(words) - n, (1,), generator=g))
    return " ".join(words[start : start + n])


def _tokenizer(ctx: Context):
    from grader.tiny_models import load_gpt2

    return load_gpt2(device=ctx.device).tokenizer


def _judge(ctx: Context, seed: int):
    """The tiny GPT-2, perturbed (so that its verdicts depend on what it reads) and given JUDGE_POSITIONS
    positions (rows beyond the tiny model's 128 drawn like the others), in eval mode, on the check's device."""
    from transformers import GPT2LMHeadModel

    from grader.tiny_models import load_gpt2

    tiny, tokenizer, _ = load_gpt2(device="cpu")
    config = tiny.config.__class__.from_dict({**tiny.config.to_dict(), "n_positions": JUDGE_POSITIONS})
    judge = GPT2LMHeadModel(config)
    g = seeded(seed)
    state = {k: v.clone() for k, v in tiny.state_dict().items()}
    extra = 0.02 * torch.randn(JUDGE_POSITIONS - tiny.config.n_positions, config.n_embd, generator=g)
    state["transformer.wpe.weight"] = torch.cat([state["transformer.wpe.weight"], extra])
    judge.load_state_dict(state)
    judge.tie_weights()
    with torch.no_grad():
        for _, p in sorted(judge.named_parameters()):
            p.add_(JUDGE_NOISE * torch.randn(p.shape, generator=g))
    tokenizer.model_max_length = JUDGE_POSITIONS  # texts longer than the tiny model's 128 tokens fit this judge
    return judge.to(ctx.device, ctx.dtype).eval(), tokenizer


def _text(name: str, out) -> str:
    if not isinstance(out, str):
        raise CheckFailed(f"{name} must return a str", expected="a str", got=type(out).__name__)
    return out


def _as_bytes(texts: list[str], width: int) -> torch.Tensor:
    """(len(texts), width) UTF-8 bytes, -1 after each text's end (a text longer than width is cut; its length
    is observed on its own)."""
    out = torch.full((len(texts), width), -1, dtype=torch.int16)
    for i, t in enumerate(texts):
        b = list(t.encode("utf-8"))[:width]
        out[i, : len(b)] = torch.tensor(b, dtype=torch.int16)
    return out


# --- format_judge_prompt -------------------------------------------------------------------------


def check_format_judge_prompt(ctx: Context) -> dict:
    pairs = load_preferences("train")
    g = seeded(21)
    picks = [pairs[int(i)] for i in torch.randperm(len(pairs), generator=g)[:4]]
    preamble = _phrase(g, 8, 14) + "."
    exemplars = [{"prompt": picks[1]["prompt"], "response_1": picks[1]["rejected"],
                  "response_2": picks[1]["chosen"], "preferred": "2"},
                 {"prompt": picks[2]["prompt"], "response_1": picks[2]["chosen"],
                  "response_2": picks[2]["rejected"], "preferred": "1"}]
    texts = [
        _text("format_judge_prompt", ctx.call("format_judge_prompt", picks[0]["prompt"], picks[0]["chosen"],
                                                   picks[0]["rejected"])),
        _text("format_judge_prompt", ctx.call("format_judge_prompt", picks[3]["prompt"], picks[3]["rejected"],
                                                   picks[3]["chosen"], preamble=preamble, exemplars=exemplars)),
    ]
    for t in texts:
        if not t.endswith(ENDING) and t.rstrip().endswith(ENDING):
            raise CheckFailed("format_judge_prompt: something follows the ending", expected=f"... {ENDING!r}",
                              got=f"... {t[-len(ENDING) - 4:]!r}", hint=MISTAKES["text_after_ending"].hint,
                              mistake="text_after_ending")
        if not t.endswith(ENDING):
            raise CheckFailed("format_judge_prompt: the prompt must end with the ending", expected=f"... {ENDING!r}",
                              got=f"... {t[-len(ENDING) - 4:]!r}", hint="the last block is the pair to label, and its "
                              "last line is 'Preferred Response=' with nothing after it")
    # Room for every input string, the custom preamble twice and 512 bytes of layout and default preamble: the
    # same width for everyone, so that the observations of right and wrong texts have one shape.
    width = sum(len(s.encode("utf-8")) for p in picks for s in p.values()) + 2 * len(preamble) + 512
    return {"prompt_length": torch.tensor([len(t.encode("utf-8")) for t in texts]),
            "prompt_bytes": _as_bytes(texts, width)}


# --- label_token_ids -----------------------------------------------------------------------------


def _one_token_with_space(tokenizer) -> tuple[list[str], list[str]]:
    """Letters whose spaced form (' a') is one token of the tiny tokenizer, and those for which it is two."""
    letters = [chr(c) for c in (*range(ord("a"), ord("z") + 1), *range(ord("A"), ord("Z") + 1))]
    one = [x for x in letters if len(tokenizer(" " + x)["input_ids"]) == 1]
    two = [x for x in letters if len(tokenizer(" " + x)["input_ids"]) == 2]
    return one, two


def _pick(g: torch.Generator, pool: list[str], k: int) -> list[str]:
    return [pool[int(i)] for i in torch.randperm(len(pool), generator=g)[:k]]


def _ids(ctx: Context, tokenizer, text: str, labels, k: int):
    """The learner's ids, or None when it raises ValueError (the spec's signal)."""
    try:
        out = ctx.call("label_token_ids", tokenizer, text, tuple(labels))
    except LearnerError as exc:
        if isinstance(exc.__cause__, ValueError):
            return None
        raise
    expect_tensor("label_token_ids", out, (k,))
    if out.dtype != torch.long:
        raise CheckFailed("label_token_ids must return a torch.long tensor", expected="torch.int64",
                          got=str(out.dtype), hint="torch.tensor(ids, dtype=torch.long): token ids index the logits")
    return out.cpu()


def check_label_token_ids(ctx: Context) -> dict:
    tokenizer = _tokenizer(ctx)
    g = seeded(31)
    spaced, split = _one_token_with_space(tokenizer)
    after_equals = _ids(ctx, tokenizer, f"{_phrase(g, 4, 9)}\n{ENDING}", _pick(g, list("123456789"), 2), 2)
    after_colon = _ids(ctx, tokenizer, f"{_phrase(g, 4, 9)} Answer:", [" " + x for x in _pick(g, spaced, 3)], 3)
    for name, out in (("a label after '='", after_equals), ("three labels with a space after ':'", after_colon)):
        if out is None:
            raise CheckFailed(f"label_token_ids raised ValueError for {name}", expected="their ids",
                              got="ValueError", hint="each of these labels is exactly one token after the text")
    digit = _pick(g, list("123456789"), 1)[0]
    bad = [(f"{_phrase(g, 4, 9)} Answer:", [" " + _pick(g, spaced, 1)[0], " " + _pick(g, split, 1)[0]]),
           # the text's trailing space merges with the label's letter (' a' is one token), its digit follows:
           (f"{_phrase(g, 4, 9)} Answer: ", [x + d for x, d in zip(_pick(g, spaced, 2), _pick(g, list("123456789"), 2))]),
           (f"{_phrase(g, 4, 9)}\n{ENDING}", [digit, digit])]
    raises, returned = [], []
    for text, labels in bad:
        out = _ids(ctx, tokenizer, text, labels, 2)
        raises.append(out is None)
        returned.append(torch.full((2,), -1) if out is None else out)
    return {"ids_after_equals": after_equals, "ids_after_colon": after_colon,
            "raises": torch.tensor(raises, dtype=torch.int8), "ids_when_no_error": torch.stack(returned)}


# --- label_probs ---------------------------------------------------------------------------------

# Rows: right padding (2), left padding (3), no padding, right padding (4), left padding (1).
MASK = [[1, 1, 1, 1, 1, 0, 0], [0, 0, 0, 1, 1, 1, 1], [1] * 7, [1, 1, 1, 0, 0, 0, 0], [0, 1, 1, 1, 1, 1, 1]]
EXTREME_ROW, TIE_ROW = 2, 3
PROB_WEIGHTS = torch.tensor([[1.0, -0.5], [0.75, 2.0], [-1.5, 0.25], [0.5, 1.25], [-2.0, 1.5]])


def label_probs_inputs(ctx: Context):
    g = seeded(41)
    B, T, V = len(MASK), len(MASK[0]), 13
    logits = 3.0 * torch.randn(B, T, V, generator=g)
    label_ids = torch.randperm(V, generator=g)[:3]
    mask = torch.tensor(MASK)
    last = [max(i for i, m in enumerate(row) if m) for row in MASK]
    # 1e4 and -1e4 at the extreme row's labels: exp overflows to inf there (and underflows to 0).
    logits[EXTREME_ROW, last[EXTREME_ROW], label_ids[0]] = 1e4
    logits[EXTREME_ROW, last[EXTREME_ROW], label_ids[1]] = -1e4
    # a tie between the first two labels: P = 0.5 each
    logits[TIE_ROW, last[TIE_ROW], label_ids[1]] = logits[TIE_ROW, last[TIE_ROW], label_ids[0]]
    return ctx.tensor(logits, requires_grad=True), mask.to(ctx.device), label_ids.to(ctx.device)


def _probs(ctx: Context, logits, mask, ids, what: str = "output"):
    out = ctx.call("label_probs", logits, mask, ids)
    if isinstance(out, torch.Tensor) and tuple(out.shape) == (len(MASK), len(ids)) and out.is_floating_point():
        bad = ~torch.isfinite(out.detach()).all(-1).cpu()
        if bad.any():
            only_extreme = bool(bad[EXTREME_ROW]) and int(bad.sum()) == 1
            raise CheckFailed(f"label_probs: {what} contains inf or NaN", got=out,
                              hint=MISTAKES["exp_overflow"].hint if only_extreme else
                              "an overflow or a division by zero: use torch.softmax",
                              mistake="exp_overflow" if only_extreme else None)
    return expect_tensor("label_probs", out, (len(MASK), len(ids)), what)


def check_label_probs(ctx: Context) -> dict:
    logits, mask, ids = label_probs_inputs(ctx)
    probs = _probs(ctx, logits, mask, ids[:2])
    (grad,) = weighted_grads("label_probs", probs, [logits], PROB_WEIGHTS.to(ctx.device, probs.dtype))
    three = _probs(ctx, logits.detach(), mask, ids, "output for three labels")
    low = _probs(ctx, logits.detach().to(torch.bfloat16), mask, ids[:2], "output for bfloat16 logits")
    if low.dtype != torch.float32:
        raise CheckFailed("label_probs: bfloat16 logits must give float32 probabilities", expected="torch.float32",
                          got=str(low.dtype), hint="upcast the logits with logits.float() before the softmax")
    return {"probs": probs.detach(), "grad_logits": grad, "probs_three_labels": three.detach(),
            "probs_bf16": low.detach()}


# --- judge_probs ---------------------------------------------------------------------------------


def _padded(tokenizer, texts: list[str], side: str, ctx: Context):
    tokenizer.padding_side = side
    batch = tokenizer(texts, padding=True, return_tensors="pt")
    return batch["input_ids"].to(ctx.device), batch["attention_mask"].to(ctx.device)


def _judge_out(ctx: Context, out, shape, name: str = "judge_probs") -> torch.Tensor:
    expect_tensor(name, out, shape)
    if out.requires_grad:
        raise CheckFailed(f"{name}: the probabilities carry a graph", expected="a tensor without grad_fn",
                          got=f"grad_fn={type(out.grad_fn).__name__}", hint=MISTAKES["judge_builds_graph"].hint,
                          mistake="judge_builds_graph" if name == "judge_probs" else None)
    return out


def check_judge_probs(ctx: Context) -> dict:
    model, tokenizer = _judge(ctx, 51)
    g = seeded(52)
    # rows of clearly different lengths, so that each padding side pads most rows
    texts = [f"{_phrase(g, low, low + 2)}\n{ENDING}" for low in (3, 14, 8, 20)]
    ids = torch.tensor([tokenizer(d)["input_ids"][0] for d in _pick(g, list("123456789"), 2)], device=ctx.device)
    right = _judge_out(ctx, ctx.call("judge_probs", model, *_padded(tokenizer, texts, "right", ctx), ids), (4, 2))
    left = _judge_out(ctx, ctx.call("judge_probs", model, *_padded(tokenizer, texts, "left", ctx), ids), (4, 2))
    return {"probs_right_padded": right, "probs_left_padded": left}


# --- judge_preference ----------------------------------------------------------------------------


def check_judge_preference(ctx: Context) -> dict:
    model, tokenizer = _judge(ctx, 61)
    g = seeded(62)
    prompts = [_phrase(g, 3, 8) + "?" for _ in range(3)]
    a = [_phrase(g, 2, 12) + "." for _ in range(3)]
    b = [_phrase(g, 2, 12) + "." for _ in range(3)]
    preamble = _phrase(g, 5, 9) + "."
    exemplars = [{"prompt": _phrase(g, 2, 5) + "?", "response_1": _phrase(g, 2, 6) + ".",
                  "response_2": _phrase(g, 2, 6) + ".", "preferred": label} for label in ("2", "1")]

    def call(side, first, second, n=3, **kwargs):
        tokenizer.padding_side = side
        out = ctx.call("judge_preference", model, tokenizer, prompts[:n], first[:n], second[:n], **kwargs)
        return _judge_out(ctx, out, (n,), "judge_preference").detach()

    p_a = call("right", a, b)
    p_b = call("right", b, a)
    left = call("left", a, b)
    custom = call("right", a, b, preamble=preamble, exemplars=exemplars)
    single = call("right", a, b, n=1)  # a batch of one pair: two rows, no padding
    return {"p_sum": p_a + p_b, "p_a": p_a, "p_a_left_padded": left, "p_a_custom": custom, "p_a_single": single}


# --- ai_preference_pairs -------------------------------------------------------------------------

THRESHOLD = 0.75
# Exactly at the threshold on both sides (0.75, 0.25: exact in binary), a tie, just below it on both sides,
# between the default 0.6 and 0.75 on both sides; then three drawn clear verdicts per side.
FIXED_P = [0.75, 0.25, 0.5, 0.74, 0.26, 0.65, 0.3]


def pairs_inputs(ctx: Context):
    g = seeded(71)
    drawn = (0.8 + 0.19 * torch.rand(6, generator=g)).tolist()
    p = FIXED_P + drawn[:3] + [1 - x for x in drawn[3:]]
    order = torch.randperm(len(p), generator=g).tolist()
    p = torch.tensor([p[i] for i in order], dtype=torch.float32)
    n = len(p)
    prompts = [f"{i}. {_phrase(g, 3, 7)}?" for i in range(n)]
    a = [f"A{i}: {_phrase(g, 2, 6)}." for i in range(n)]
    b = [f"B{i}: {_phrase(g, 2, 6)}." for i in range(n)]
    return prompts, a, b, p


def _records(ctx: Context, out, prompts, a, b) -> tuple[list[int], list[float]]:
    """Per input pair: +1 when A was chosen, -1 when B was, 0 when skipped; and p_chosen (0 when skipped)."""
    if not isinstance(out, list):
        raise CheckFailed("ai_preference_pairs must return a list of dicts", got=type(out).__name__)
    verdicts, soft = [0] * len(prompts), [0.0] * len(prompts)
    seen = []
    for n, record in enumerate(out):
        try:
            check_record(record, f"record {n}")
        except ValueError as exc:
            raise CheckFailed(f"ai_preference_pairs: {exc}", hint="each record is a dict with the strings prompt, "
                              "chosen and rejected (TRL's format) and the float p_chosen") from None
        if record["prompt"] not in prompts:
            raise CheckFailed(f"ai_preference_pairs: record {n} has a prompt that is not one of the inputs",
                              got=repr(record["prompt"][:60]))
        i = prompts.index(record["prompt"])
        if {record["chosen"], record["rejected"]} != {a[i], b[i]}:
            raise CheckFailed(f"ai_preference_pairs: record {n}'s chosen and rejected are not the two responses "
                              f"of its prompt", hint="chosen is the response the judge prefers, rejected the other")
        p_chosen = record.get("p_chosen")
        if isinstance(p_chosen, bool) or not isinstance(p_chosen, float):
            raise CheckFailed("ai_preference_pairs: p_chosen must be a Python float", expected="a float",
                              got=type(p_chosen).__name__, hint="float(p) of a tensor element: a tensor does not "
                              "go into a JSON file, and neither does a NumPy float32")
        if i in seen:
            raise CheckFailed(f"ai_preference_pairs: pair {i} appears twice", hint="one record per kept pair")
        if seen and i < seen[-1]:
            raise CheckFailed("ai_preference_pairs: the records are not in the order of the inputs",
                              hint="go through the pairs in order and append the ones you keep")
        seen.append(i)
        verdicts[i], soft[i] = (1 if record["chosen"] == a[i] else -1), p_chosen
    try:
        json.dumps(out)
    except (TypeError, ValueError) as exc:
        raise CheckFailed(f"ai_preference_pairs: the records are not JSON ({exc})",
                          hint="use Python strings and floats, so that save_preferences can write them") from None
    return verdicts, soft


def check_ai_preference_pairs(ctx: Context) -> dict:
    prompts, a, b, p = pairs_inputs(ctx)
    at_threshold = _records(ctx, ctx.call("ai_preference_pairs", prompts, a, b, p.to(ctx.device),
                                          min_confidence=THRESHOLD), prompts, a, b)
    default = _records(ctx, ctx.call("ai_preference_pairs", prompts, a, b, p.tolist()), prompts, a, b)
    for bad in (0.5, 1.5):
        try:
            ctx.call("ai_preference_pairs", prompts, a, b, p.tolist(), min_confidence=bad)
        except LearnerError as exc:
            if not isinstance(exc.__cause__, ValueError):
                raise
        else:
            raise CheckFailed(f"ai_preference_pairs with min_confidence={bad} should raise ValueError",
                              got="no error", hint="min_confidence must be in (0.5, 1]: at 0.5 a tie would be kept "
                              "with an arbitrary side as chosen")
    return {"verdicts": torch.tensor([at_threshold[0], default[0]], dtype=torch.int8),
            "p_chosen": torch.tensor([at_threshold[1], default[1]], dtype=torch.float64)}


# --- soft_label_loss -----------------------------------------------------------------------------

LOSS_WEIGHTS = torch.tensor([1.0, -0.5, 0.75, 2.0, -1.25, 0.5])
SOFT_P = [0.9, 0.3, 0.5, 1.0, 0.0, 0.7]  # probabilities stay as they are in every variant


def loss_inputs(ctx: Context, extreme: bool = False):
    if extreme:  # margins +-200 and +-150: sigma underflows to 0 in float32, and BCE clamps its logs at -100
        chosen, rejected, p = [200.0, -200.0, 150.0, 0.0], [0.0, 0.0, 0.0, 150.0], [1.0, 0.0, 0.9, 0.2]
    else:  # margins of both signs, one zero margin (2.0 - 2.0), with p of 0, 1 and in between
        chosen, rejected, p = [1.5, -0.5, 2.0, 0.3, -1.2, 0.8], [0.5, 0.7, 2.0, -1.1, 0.4, -0.4], SOFT_P
    return (ctx.literal(chosen, requires_grad=True), ctx.literal(rejected, requires_grad=True),
            ctx.tensor(p))


def _loss(ctx: Context, inputs, n: int, what: str = "output"):
    out = ctx.call("soft_label_loss", *inputs)
    if isinstance(out, torch.Tensor) and tuple(out.shape) == (n,) and not torch.isfinite(out.detach()).all():
        margin = (inputs[0] - inputs[1]).detach().abs().cpu()
        bad = ~torch.isfinite(out.detach()).cpu()
        overflow = bool(bad[margin > 88.8].all() and not bad[margin < 88.8].any())
        raise CheckFailed(f"soft_label_loss: {what} contains inf or NaN", got=out,
                          hint=MISTAKES["log_sigmoid_overflow"].hint if overflow else
                          "an overflow: use F.logsigmoid (or binary_cross_entropy_with_logits)",
                          mistake="log_sigmoid_overflow" if overflow else None)
    return expect_tensor("soft_label_loss", out, (n,), what)


def check_soft_label_loss(ctx: Context) -> dict:
    inputs = loss_inputs(ctx)
    losses = _loss(ctx, inputs, 6)
    grads = weighted_grads("soft_label_loss", losses, list(inputs[:2]), LOSS_WEIGHTS.to(ctx.device, losses.dtype))
    extreme = _loss(ctx, loss_inputs(ctx, extreme=True), 4, "output at large margins")
    return {"losses": losses.detach(), "grad_chosen": grads[0], "grad_rejected": grads[1],
            "losses_extreme": extreme.detach()}


CHECKS = (
    Check("format_judge_prompt", ("format_judge_prompt",), check_format_judge_prompt,
          "the judge's prompt: preamble, exemplars with their labels, the pair, the ending", points=1),
    Check("label_token_ids", ("label_token_ids",), check_label_token_ids,
          "label ids in context: after '=' and ':', two-token labels, a trailing space, duplicates", points=1),
    Check("label_probs", ("label_probs",), check_label_probs,
          "softmax over the label logits at each row's last real position (left and right padding), gradient, "
          "extreme logits, bfloat16", points=2),
    Check("judge_probs", ("judge_probs", "label_probs"), check_judge_probs,
          "the judge's label probabilities on a tiny GPT-2 are the same with left and right padding", points=2),
    Check("judge_preference", ("judge_preference", "format_judge_prompt", "label_token_ids", "judge_probs",
                               "label_probs"), check_judge_preference,
          "both orders scored and averaged: swapping A and B gives 1 - P, whatever the padding side", points=2),
    Check("ai_preference_pairs", ("ai_preference_pairs",), check_ai_preference_pairs,
          "TRL-format records with soft labels; near-ties skipped, exactly at the threshold kept", points=1),
    Check("soft_label_loss", ("soft_label_loss",), check_soft_label_loss,
          "cross-entropy with the judge's soft labels: values, gradients, large margins", points=2),
)
