"""Realistic wrong implementations for the RLAIF exercise, keyed by catalogue id."""

import torch
import torch.nn.functional as F

from tests.reference import solution

REF = solution("rlaif")
ENDING, HHH_PREAMBLE = REF["ENDING"], REF["HHH_PREAMBLE"]
format_judge_prompt, label_token_ids, label_probs, judge_probs = (
    REF["format_judge_prompt"], REF["label_token_ids"], REF["label_probs"], REF["judge_probs"])


# --- format_judge_prompt ----------------------------------------------------------------------

def _block(p, r1, r2):
    return f"Prompt - {p}\nResponse 1 - {r1}\nResponse 2 - {r2}\n{ENDING}"


def _solved(exemplars, label=True):
    return [_block(e["prompt"], e["response_1"], e["response_2"]) + (e["preferred"] if label else "")
            for e in exemplars]


def responses_swapped(prompt, response_1, response_2, preamble=HHH_PREAMBLE, exemplars=()):
    return "\n\n".join([preamble, *_solved(exemplars), _block(prompt, response_2, response_1)])


def exemplar_label_missing(prompt, response_1, response_2, preamble=HHH_PREAMBLE, exemplars=()):
    return "\n\n".join([preamble, *_solved(exemplars, label=False), _block(prompt, response_1, response_2)])


def exemplars_ignored(prompt, response_1, response_2, preamble=HHH_PREAMBLE, exemplars=()):
    return "\n\n".join([preamble, _block(prompt, response_1, response_2)])


def preamble_missing(prompt, response_1, response_2, preamble=HHH_PREAMBLE, exemplars=()):
    return "\n\n".join([*_solved(exemplars), _block(prompt, response_1, response_2)])


def single_newline_between_parts(prompt, response_1, response_2, preamble=HHH_PREAMBLE, exemplars=()):
    return "\n".join([preamble, *_solved(exemplars), _block(prompt, response_1, response_2)])


def text_after_ending(prompt, response_1, response_2, preamble=HHH_PREAMBLE, exemplars=()):
    return "\n\n".join([preamble, *_solved(exemplars), _block(prompt, response_1, response_2)]) + " "


# --- label_token_ids --------------------------------------------------------------------------

def label_without_context(tokenizer, text, labels=("1", "2")):
    return torch.tensor([tokenizer.encode(label)[0] for label in labels], dtype=torch.long)


def last_token_in_context(tokenizer, text, labels=("1", "2")):
    ids = [tokenizer(text + label)["input_ids"][-1] for label in labels]
    if len(set(ids)) != len(ids):
        raise ValueError("two labels share a token id")
    return torch.tensor(ids, dtype=torch.long)


def label_stripped(tokenizer, text, labels=("1", "2")):
    return REF["label_token_ids"](tokenizer, text, tuple(label.strip() for label in labels))


def convert_tokens_to_ids(tokenizer, text, labels=("1", "2")):
    return torch.tensor(tokenizer.convert_tokens_to_ids(list(labels)), dtype=torch.long)


def _in_context(tokenizer, text, labels, prefix=True, length=True, distinct=True):
    base = tokenizer(text)["input_ids"]
    ids = []
    for label in labels:
        full = tokenizer(text + label)["input_ids"]
        if prefix and full[: len(base)] != base:
            raise ValueError("the label changes the text's tokens")
        if length and len(full) != len(base) + 1:
            raise ValueError("the label is not one token")
        ids.append(full[len(base)] if len(full) > len(base) else full[-1])
    if distinct and len(set(ids)) != len(ids):
        raise ValueError("two labels share a token id")
    return torch.tensor(ids, dtype=torch.long)


def prefix_not_checked(tokenizer, text, labels=("1", "2")):
    base = tokenizer(text)["input_ids"]
    ids = []
    for label in labels:
        full = tokenizer(text + label)["input_ids"]
        if len(full) != len(base) + 1:
            raise ValueError("the label is not one token")
        ids.append(full[-1])
    if len(set(ids)) != len(ids):
        raise ValueError("two labels share a token id")
    return torch.tensor(ids, dtype=torch.long)


def length_not_checked(tokenizer, text, labels=("1", "2")):
    return _in_context(tokenizer, text, labels, length=False)


def duplicate_ids_allowed(tokenizer, text, labels=("1", "2")):
    return _in_context(tokenizer, text, labels, distinct=False)


# --- label_probs ------------------------------------------------------------------------------

def _last(attention_mask):
    positions = torch.arange(attention_mask.shape[1], device=attention_mask.device)
    return (positions * (attention_mask > 0)).argmax(-1)


def _upcast(f):
    """Each mistake is the reference with one slip, so it upcasts bfloat16 logits as the reference does."""
    def wrapped(logits, attention_mask, label_ids):
        return f(logits.float() if logits.dtype == torch.bfloat16 else logits, attention_mask, label_ids)
    return wrapped


def _rows(logits):
    return torch.arange(logits.shape[0], device=logits.device)


@_upcast
def last_column(logits, attention_mask, label_ids):
    return torch.softmax(logits[:, -1][:, label_ids], dim=-1)


@_upcast
def mask_sum_index(logits, attention_mask, label_ids):
    last = attention_mask.sum(-1) - 1
    return torch.softmax(logits[_rows(logits), last][:, label_ids], dim=-1)


@_upcast
def whole_vocab_softmax(logits, attention_mask, label_ids):
    return torch.softmax(logits[_rows(logits), _last(attention_mask)], dim=-1)[:, label_ids]


@_upcast
def log_probs_returned(logits, attention_mask, label_ids):
    return torch.log_softmax(logits[_rows(logits), _last(attention_mask)][:, label_ids], dim=-1)


@_upcast
def exp_overflow(logits, attention_mask, label_ids):
    e = torch.exp(logits[_rows(logits), _last(attention_mask)][:, label_ids])
    return e / e.sum(-1, keepdim=True)


@_upcast
def softmax_over_batch(logits, attention_mask, label_ids):
    return torch.softmax(logits[_rows(logits), _last(attention_mask)][:, label_ids], dim=0)


@_upcast
def independent_sigmoids(logits, attention_mask, label_ids):
    return torch.sigmoid(logits[_rows(logits), _last(attention_mask)][:, label_ids])


def softmax_in_bf16(logits, attention_mask, label_ids):
    return torch.softmax(logits[_rows(logits), _last(attention_mask)][:, label_ids], dim=-1).float()


# --- judge_probs ------------------------------------------------------------------------------

def no_position_ids(model, input_ids, attention_mask, label_ids):
    with torch.no_grad():
        logits = model(input_ids=input_ids, attention_mask=attention_mask).logits
    return label_probs(logits, attention_mask, label_ids)


def no_attention_mask(model, input_ids, attention_mask, label_ids):
    position_ids = (attention_mask.cumsum(-1) - 1).clamp(min=0)
    with torch.no_grad():
        logits = model(input_ids=input_ids, position_ids=position_ids).logits
    return label_probs(logits, attention_mask, label_ids)


def positions_from_one(model, input_ids, attention_mask, label_ids):
    with torch.no_grad():
        logits = model(input_ids=input_ids, attention_mask=attention_mask,
                       position_ids=attention_mask.cumsum(-1).clamp(min=0)).logits
    return label_probs(logits, attention_mask, label_ids)


def judge_builds_graph(model, input_ids, attention_mask, label_ids):
    position_ids = (attention_mask.cumsum(-1) - 1).clamp(min=0)
    logits = model(input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids).logits
    return label_probs(logits, attention_mask, label_ids)


# --- judge_preference -------------------------------------------------------------------------

def _both_orders(model, tokenizer, prompts, a, b, preamble, exemplars, second_swapped=True):
    first = [format_judge_prompt(p, x, y, preamble, exemplars) for p, x, y in zip(prompts, a, b)]
    second = [format_judge_prompt(p, y, x, preamble, exemplars) if second_swapped
              else format_judge_prompt(p, x, y, preamble, exemplars) for p, x, y in zip(prompts, a, b)]
    device = next(model.parameters()).device
    ids = label_token_ids(tokenizer, first[0]).to(device)
    batch = tokenizer(first + second, padding=True, return_tensors="pt")
    probs = judge_probs(model, batch["input_ids"].to(device), batch["attention_mask"].to(device), ids)
    return probs[: len(first)], probs[len(first):]


def one_order_only(model, tokenizer, prompts, responses_a, responses_b, preamble=HHH_PREAMBLE, exemplars=()):
    first, _ = _both_orders(model, tokenizer, prompts, responses_a, responses_b, preamble, exemplars)
    return first[:, 0]


def orders_not_swapped(model, tokenizer, prompts, responses_a, responses_b, preamble=HHH_PREAMBLE, exemplars=()):
    first, second = _both_orders(model, tokenizer, prompts, responses_a, responses_b, preamble, exemplars)
    return (first[:, 0] + second[:, 0]) / 2


def same_order_twice(model, tokenizer, prompts, responses_a, responses_b, preamble=HHH_PREAMBLE, exemplars=()):
    first, second = _both_orders(model, tokenizer, prompts, responses_a, responses_b, preamble, exemplars,
                                 second_swapped=False)
    return (first[:, 0] + second[:, 1]) / 2


def log_odds_averaged(model, tokenizer, prompts, responses_a, responses_b, preamble=HHH_PREAMBLE, exemplars=()):
    first, second = _both_orders(model, tokenizer, prompts, responses_a, responses_b, preamble, exemplars)
    return torch.sigmoid((torch.logit(first[:, 0]) + torch.logit(second[:, 1])) / 2)


def preamble_not_passed(model, tokenizer, prompts, responses_a, responses_b, preamble=HHH_PREAMBLE, exemplars=()):
    first, second = _both_orders(model, tokenizer, prompts, responses_a, responses_b, HHH_PREAMBLE, ())
    return (first[:, 0] + second[:, 1]) / 2


def exemplars_not_passed(model, tokenizer, prompts, responses_a, responses_b, preamble=HHH_PREAMBLE, exemplars=()):
    first, second = _both_orders(model, tokenizer, prompts, responses_a, responses_b, preamble, ())
    return (first[:, 0] + second[:, 1]) / 2


# --- ai_preference_pairs ----------------------------------------------------------------------

def _pairs(prompts, a, b, p_a, min_confidence, keep, chosen_a, soft):
    if not 0.5 < min_confidence <= 1.0:
        raise ValueError(min_confidence)
    records = []
    for prompt, x, y, p in zip(prompts, a, b, p_a):
        p = float(p)
        if not keep(p, min_confidence):
            continue
        a_wins = chosen_a(p)
        records.append({"prompt": prompt, "chosen": x if a_wins else y, "rejected": y if a_wins else x,
                        "p_chosen": soft(p, a_wins)})
    return records


def _confidence(p, a_wins):
    return max(p, 1.0 - p)


def strict_threshold(prompts, responses_a, responses_b, p_a, min_confidence=0.6):
    return _pairs(prompts, responses_a, responses_b, p_a, min_confidence, lambda p, t: max(p, 1 - p) > t,
                  lambda p: p > 0.5, _confidence)


def one_sided_threshold(prompts, responses_a, responses_b, p_a, min_confidence=0.6):
    return _pairs(prompts, responses_a, responses_b, p_a, min_confidence, lambda p, t: p >= t,
                  lambda p: p > 0.5, _confidence)


def chosen_always_a(prompts, responses_a, responses_b, p_a, min_confidence=0.6):
    return _pairs(prompts, responses_a, responses_b, p_a, min_confidence, lambda p, t: max(p, 1 - p) >= t,
                  lambda p: True, _confidence)


def soft_label_not_flipped(prompts, responses_a, responses_b, p_a, min_confidence=0.6):
    return _pairs(prompts, responses_a, responses_b, p_a, min_confidence, lambda p, t: max(p, 1 - p) >= t,
                  lambda p: p > 0.5, lambda p, a_wins: p)


def threshold_on_margin(prompts, responses_a, responses_b, p_a, min_confidence=0.6):
    return _pairs(prompts, responses_a, responses_b, p_a, min_confidence, lambda p, t: abs(p - 0.5) >= t,
                  lambda p: p > 0.5, _confidence)


# --- soft_label_loss --------------------------------------------------------------------------

def hard_labels(chosen_rewards, rejected_rewards, p_chosen):
    return -F.logsigmoid(chosen_rewards - rejected_rewards)


def label_weights_swapped(chosen_rewards, rejected_rewards, p_chosen):
    d = chosen_rewards - rejected_rewards
    return -((1 - p_chosen) * F.logsigmoid(d) + p_chosen * F.logsigmoid(-d))


def loss_sign_flipped(chosen_rewards, rejected_rewards, p_chosen):
    d = chosen_rewards - rejected_rewards
    return p_chosen * F.logsigmoid(d) + (1 - p_chosen) * F.logsigmoid(-d)


def bce_on_sigmoid(chosen_rewards, rejected_rewards, p_chosen):
    return F.binary_cross_entropy(torch.sigmoid(chosen_rewards - rejected_rewards), p_chosen, reduction="none")


def log_sigmoid_overflow(chosen_rewards, rejected_rewards, p_chosen):
    d = chosen_rewards - rejected_rewards
    return -(p_chosen * torch.log(torch.sigmoid(d)) + (1 - p_chosen) * torch.log(torch.sigmoid(-d)))


def mse_on_sigmoid(chosen_rewards, rejected_rewards, p_chosen):
    return (torch.sigmoid(chosen_rewards - rejected_rewards) - p_chosen) ** 2


def confidence_weighted(chosen_rewards, rejected_rewards, p_chosen):
    return -p_chosen * F.logsigmoid(chosen_rewards - rejected_rewards)
