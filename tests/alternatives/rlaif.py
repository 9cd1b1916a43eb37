"""Alternative correct RLAIF implementations: string building line by line, ids from offsets, a gather over the
flipped mask, float64 softmax, one forward per row, a loop over the pairs, binary cross-entropy with logits."""

import torch
import torch.nn.functional as F

from tests.reference import solution

REF = solution("rlaif")
ENDING, HHH_PREAMBLE = REF["ENDING"], REF["HHH_PREAMBLE"]


def format_judge_prompt_lines(prompt, response_1, response_2, preamble=HHH_PREAMBLE, exemplars=()):
    """Line by line, with += (exemplars given as a list or a tuple)."""
    text = preamble + "\n"
    for e in list(exemplars) + [None]:
        p, r1, r2 = (prompt, response_1, response_2) if e is None else (e["prompt"], e["response_1"], e["response_2"])
        text += "\n" + "Prompt - " + p + "\n" + "Response 1 - " + r1 + "\n" + "Response 2 - " + r2 + "\n" + ENDING
        if e is not None:
            text += e["preferred"] + "\n"
    return text


def label_token_ids_offsets(tokenizer, text, labels=("1", "2")):
    """With add_special_tokens=False and the tokens compared as a tuple; the id is the one after the prefix."""
    base = tuple(tokenizer(text, add_special_tokens=False)["input_ids"])
    out = []
    for label in labels:
        full = tuple(tokenizer(text + label, add_special_tokens=False)["input_ids"])
        if len(full) - len(base) != 1 or full[:-1] != base:
            raise ValueError(f"label {label!r} is not one token after the text")
        out.append(full[len(base)])
    if len(out) != len(set(out)):
        raise ValueError("duplicate label ids")
    return torch.as_tensor(out).long()


def label_probs_flip(logits, attention_mask, label_ids):
    """The last 1 found from the right (flip + argmax), a gather, and a float64 softmax."""
    T = attention_mask.shape[1]
    last = T - 1 - attention_mask.flip(-1).long().argmax(-1)
    at_last = logits.gather(1, last.view(-1, 1, 1).expand(-1, 1, logits.shape[-1])).squeeze(1)
    chosen = at_last.index_select(-1, label_ids).double()
    return (chosen - chosen.logsumexp(-1, keepdim=True)).exp().float()


def judge_probs_row_by_row(model, input_ids, attention_mask, label_ids):
    """Each row alone, its padding cut away: positions need no care then."""
    out = []
    with torch.inference_mode():
        for ids, mask in zip(input_ids, attention_mask):
            real = ids[mask.bool()].unsqueeze(0)
            logits = model(input_ids=real).logits[0, -1]
            out.append(torch.softmax(logits[label_ids].float(), -1))
    return torch.stack(out)


def judge_preference_separate_batches(model, tokenizer, prompts, responses_a, responses_b, preamble=HHH_PREAMBLE,
                                      exemplars=()):
    """Two batches (one per order), label ids from each order's own first text, and a 1 - p form."""
    fmt, judge_probs, label_token_ids = REF["format_judge_prompt"], REF["judge_probs"], REF["label_token_ids"]
    device = next(model.parameters()).device
    results = []
    for first, second in ((responses_a, responses_b), (responses_b, responses_a)):
        texts = [fmt(p, x, y, preamble=preamble, exemplars=exemplars) for p, x, y in zip(prompts, first, second)]
        ids = label_token_ids(tokenizer, texts[0]).to(device)
        batch = tokenizer(texts, padding=True, return_tensors="pt").to(device)
        results.append(judge_probs(model, batch["input_ids"], batch["attention_mask"], ids))
    return 0.5 * (results[0][:, 0] + (1 - results[1][:, 0]))


def ai_preference_pairs_margin(prompts, responses_a, responses_b, p_a, min_confidence=0.6):
    """The threshold as a distance from 0.5, on a tensor; the soft label as 0.5 + |p - 0.5|."""
    if min_confidence <= 0.5 or min_confidence > 1:
        raise ValueError("min_confidence must be in (0.5, 1]")
    p_all = torch.as_tensor(p_a, dtype=torch.float64).cpu()
    records = []
    for i in range(len(prompts)):
        p = p_all[i].item()
        if abs(p - 0.5) < min_confidence - 0.5:
            continue
        a_first = p > 0.5
        records.append({"prompt": prompts[i], "chosen": responses_a[i] if a_first else responses_b[i],
                        "rejected": responses_b[i] if a_first else responses_a[i], "p_chosen": 0.5 + abs(p - 0.5)})
    return records


def soft_label_loss_bce_with_logits(chosen_rewards, rejected_rewards, p_chosen):
    return F.binary_cross_entropy_with_logits(chosen_rewards - rejected_rewards, p_chosen, reduction="none")


def soft_label_loss_softplus(chosen_rewards, rejected_rewards, p_chosen):
    """-log sigma(d) = softplus(-d), in float64."""
    d = (chosen_rewards - rejected_rewards).double()
    p = p_chosen.double()
    return (p * F.softplus(-d) + (1 - p) * F.softplus(d)).to(chosen_rewards.dtype)


ALTERNATIVES = {
    "format_judge_prompt": [format_judge_prompt_lines],
    "label_token_ids": [label_token_ids_offsets],
    "label_probs": [label_probs_flip],
    "judge_probs": [judge_probs_row_by_row],
    "judge_preference": [judge_preference_separate_batches],
    "ai_preference_pairs": [ai_preference_pairs_margin],
    "soft_label_loss": [soft_label_loss_bce_with_logits, soft_label_loss_softplus],
}
