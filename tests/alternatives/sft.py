"""Alternative correct SFT implementations: tokenizer calls with options, tensors built by filling, losses by
hand or by Hugging Face's own labels, manual clipping."""

import torch
import torch.nn.functional as F

from tests.reference import solution

REF = solution("sft")
IGNORE = -100


def build_example_plain_calls(tokenizer, prompt, response, max_length):
    """tokenizer.encode, the EOS appended before a shared cut, labels built by a comprehension."""
    prompt_ids = tokenizer.encode(prompt)
    if len(prompt_ids) >= max_length:
        raise ValueError("the prompt fills max_length")
    ids = (prompt_ids + tokenizer.encode(response, add_special_tokens=False) + [tokenizer.eos_token_id])[:max_length]
    labels = [IGNORE if i < len(prompt_ids) else t for i, t in enumerate(ids)]
    return {"input_ids": ids, "labels": labels, "attention_mask": [1 for _ in ids]}


def build_example_truncate_response_first(tokenizer, prompt, response, max_length):
    """Cuts the response (with its EOS) to the room the prompt leaves, then concatenates."""
    prompt_ids = tokenizer(prompt)["input_ids"]
    room = max_length - len(prompt_ids)
    if room <= 0:
        raise ValueError(f"no room for the response: {len(prompt_ids)} prompt tokens, max_length {max_length}")
    response_ids = (tokenizer(response, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id])[:room]
    return {"input_ids": prompt_ids + response_ids, "labels": [IGNORE] * len(prompt_ids) + response_ids,
            "attention_mask": [1] * (len(prompt_ids) + len(response_ids))}


def collate_filled(examples, pad_token_id):
    """Preallocated tensors filled row by row."""
    B, T = len(examples), max(len(e["input_ids"]) for e in examples)
    ids = torch.full((B, T), pad_token_id, dtype=torch.long)
    mask = torch.zeros(B, T, dtype=torch.long)
    labels = torch.full((B, T), IGNORE, dtype=torch.long)
    for b, e in enumerate(examples):
        n = len(e["input_ids"])
        ids[b, :n] = torch.tensor(e["input_ids"])
        mask[b, :n] = torch.tensor(e["attention_mask"])
        labels[b, :n] = torch.tensor(e["labels"])
    return {"input_ids": ids, "attention_mask": mask, "labels": labels}


def collate_pad_sequence(examples, pad_token_id):
    """torch.nn.utils.rnn.pad_sequence, one call per field."""
    from torch.nn.utils.rnn import pad_sequence

    def pad(key, value):
        return pad_sequence([torch.tensor(e[key], dtype=torch.long) for e in examples], batch_first=True,
                            padding_value=value)

    return {"input_ids": pad("input_ids", pad_token_id), "attention_mask": pad("attention_mask", 0),
            "labels": pad("labels", IGNORE)}


def sft_loss_by_hand(logits, labels):
    """log_softmax and gather, masked sum over the target count, in float64."""
    targets = labels[:, 1:]
    mask = targets != IGNORE
    if not mask.any():
        raise ValueError("no target token")
    logp = torch.log_softmax(logits[:, :-1].double(), dim=-1)
    token = logp.gather(-1, targets.clamp(min=0).unsqueeze(-1)).squeeze(-1)
    loss = -(token * mask).sum() / mask.sum()
    return loss if logits.dtype == torch.float64 else loss.float()


def sft_loss_sum_reduction(logits, labels):
    """reduction='sum' divided by the number of targets."""
    logits = logits.to(torch.promote_types(logits.dtype, torch.float32))
    targets = labels[:, 1:].reshape(-1)
    n = int((targets != IGNORE).sum())
    if n == 0:
        raise ValueError("no target token")
    return F.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]), targets, ignore_index=IGNORE,
                           reduction="sum") / n


def sft_loss_transposed(logits, labels):
    """cross_entropy on (B, V, T-1) logits against (B, T-1) targets, its mean over the non-ignored ones."""
    if (labels[:, 1:] == IGNORE).all():
        raise ValueError("no target token")
    if logits.dtype in (torch.float16, torch.bfloat16):
        logits = logits.float()
    return F.cross_entropy(logits[:, :-1].transpose(1, 2), labels[:, 1:])


def sft_step_hf_labels(model, optimizer, batch, max_grad_norm=1.0):
    """The model computes the loss itself from unshifted labels (it shifts and averages per token)."""
    model.train()
    optimizer.zero_grad(set_to_none=True)
    out = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], labels=batch["labels"])
    out.loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm=max_grad_norm)
    optimizer.step()
    return {"loss": float(out.loss.detach()), "tokens": (batch["labels"][:, 1:] != IGNORE).sum().item()}


def sft_step_manual_clip(model, optimizer, batch, max_grad_norm=1.0):
    """Clipping written out: scale every gradient by min(1, max_norm / total norm)."""
    model.train()
    for p in model.parameters():
        p.grad = None
    logits = model(**{k: batch[k] for k in ("input_ids", "attention_mask")}).logits
    loss = REF["sft_loss"](logits, batch["labels"])
    loss.backward()
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    norm = torch.sqrt(sum((g.double() ** 2).sum() for g in grads))
    scale = min(1.0, max_grad_norm / (float(norm) + 1e-6))
    for g in grads:
        g.mul_(scale)
    optimizer.step()
    return {"loss": loss.item(), "tokens": int(batch["labels"][:, 1:].ne(IGNORE).sum())}


ALTERNATIVES = {
    "build_example": [build_example_plain_calls, build_example_truncate_response_first],
    "collate": [collate_filled, collate_pad_sequence],
    "sft_loss": [sft_loss_by_hand, sft_loss_sum_reduction, sft_loss_transposed],
    "sft_step": [sft_step_hf_labels, sft_step_manual_clip],
}
