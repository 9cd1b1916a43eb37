"""Realistic wrong implementations for the SFT exercise, keyed by catalogue id."""

import torch
import torch.nn.functional as F

from tests.reference import solution

REF = solution("sft")
IGNORE = -100
sft_loss = REF["sft_loss"]


# --- build_example ---------------------------------------------------------------------------

def _build(tokenizer, prompt, response, max_length, *, eos=True, eos_label=True, prompt_label=IGNORE, extra_mask=0,
           check_length=True, response_specials=False, prompt_specials=True, eos_id="eos_token_id"):
    """The reference with one slip at a time."""
    prompt_ids = tokenizer(prompt, add_special_tokens=prompt_specials)["input_ids"]
    if check_length and len(prompt_ids) >= max_length:
        raise ValueError("prompt too long")
    response_ids = tokenizer(response, add_special_tokens=response_specials)["input_ids"]
    response_labels = list(response_ids)
    if eos:
        response_ids = response_ids + [getattr(tokenizer, eos_id)]
        response_labels = response_labels + [getattr(tokenizer, eos_id) if eos_label else IGNORE]
    ids = prompt_ids + response_ids
    if prompt_label is None:
        labels = prompt_ids + response_labels
    else:
        labels = [prompt_label] * len(prompt_ids) + response_labels
    labels[len(prompt_ids) : len(prompt_ids) + extra_mask] = [IGNORE] * extra_mask
    return {"input_ids": ids[:max_length], "labels": labels[:max_length], "attention_mask": [1] * len(ids[:max_length])}


def joint_tokenization(tokenizer, prompt, response, max_length):
    n_prompt = len(tokenizer(prompt)["input_ids"])
    if n_prompt >= max_length:
        raise ValueError("prompt too long")
    ids = tokenizer(prompt + response)["input_ids"] + [tokenizer.eos_token_id]
    labels = [IGNORE] * n_prompt + ids[n_prompt:]
    return {"input_ids": ids[:max_length], "labels": labels[:max_length], "attention_mask": [1] * len(ids[:max_length])}


def eos_missing(tokenizer, prompt, response, max_length):
    return _build(tokenizer, prompt, response, max_length, eos=False)


def eos_masked(tokenizer, prompt, response, max_length):
    return _build(tokenizer, prompt, response, max_length, eos_label=False)


def prompt_not_masked(tokenizer, prompt, response, max_length):
    return _build(tokenizer, prompt, response, max_length, prompt_label=None)


def prompt_masked_with_zero(tokenizer, prompt, response, max_length):
    return _build(tokenizer, prompt, response, max_length, prompt_label=0)


def labels_pre_shifted(tokenizer, prompt, response, max_length):
    out = _build(tokenizer, prompt, response, max_length)
    out["labels"] = out["labels"][1:] + [IGNORE]  # "the label of position t is the next token"
    return out


def first_response_token_masked(tokenizer, prompt, response, max_length):
    return _build(tokenizer, prompt, response, max_length, extra_mask=1)


def _untruncated(tokenizer, prompt, response, max_length, **kwargs):
    """The whole example (the prompt-length check done as the reference does it), for a slip in the cut."""
    if len(tokenizer(prompt)["input_ids"]) >= max_length:
        raise ValueError("prompt too long")
    return _build(tokenizer, prompt, response, 10**9, **kwargs)


def truncated_from_left(tokenizer, prompt, response, max_length):
    out = _untruncated(tokenizer, prompt, response, max_length)
    return {k: v[-max_length:] for k, v in out.items()}


def eos_forced_after_truncation(tokenizer, prompt, response, max_length):
    out = _untruncated(tokenizer, prompt, response, max_length, eos=False)
    eos = tokenizer.eos_token_id
    return {"input_ids": out["input_ids"][: max_length - 1] + [eos], "labels": out["labels"][: max_length - 1] + [eos],
            "attention_mask": [1] * min(len(out["input_ids"]) + 1, max_length)}


def bos_in_response(tokenizer, prompt, response, max_length):
    return _build(tokenizer, prompt, response, max_length, response_specials=True)


def long_prompt_accepted(tokenizer, prompt, response, max_length):
    return _build(tokenizer, prompt, response, max_length, check_length=False)


def prompt_mask_one_short(tokenizer, prompt, response, max_length):
    out = _build(tokenizer, prompt, response, max_length)
    n = len(tokenizer(prompt)["input_ids"])
    out["labels"][n - 1] = out["input_ids"][n - 1]  # "-100 up to the last prompt token", one too few
    return out


def prompt_length_without_special_tokens(tokenizer, prompt, response, max_length):
    out = _build(tokenizer, prompt, response, max_length)
    n = len(tokenizer(prompt, add_special_tokens=False)["input_ids"])
    out["labels"] = [IGNORE] * n + out["input_ids"][n:]
    return out


def prompt_without_special_tokens(tokenizer, prompt, response, max_length):
    return _build(tokenizer, prompt, response, max_length, prompt_specials=False)


def eos_from_pad_token(tokenizer, prompt, response, max_length):
    return _build(tokenizer, prompt, response, max_length, eos_id="pad_token_id")


# --- collate ---------------------------------------------------------------------------------

def _pad(examples, pad_token_id, *, label_pad=IGNORE, mask_pad=0, left=False, labels_from="labels", extra=0,
         ids_pad=None):
    width = max(len(e["input_ids"]) for e in examples) + extra
    rows = {"input_ids": [], "attention_mask": [], "labels": []}
    for e in examples:
        n = width - len(e["input_ids"])
        labels = list(e[labels_from])
        for key, values, fill in (("input_ids", e["input_ids"], pad_token_id if ids_pad is None else ids_pad),
                                  ("attention_mask", e["attention_mask"],
                                  mask_pad), ("labels", labels, label_pad)):
            rows[key].append([fill] * n + list(values) if left else list(values) + [fill] * n)
    return {k: torch.tensor(v, dtype=torch.long) for k, v in rows.items()}


def labels_masked_by_pad_id(examples, pad_token_id):
    batch = _pad(examples, pad_token_id)
    batch["labels"] = batch["labels"].masked_fill(batch["input_ids"] == pad_token_id, IGNORE)
    return batch


def labels_padded_with_pad_id(examples, pad_token_id):
    return _pad(examples, pad_token_id, label_pad=pad_token_id)


def attention_mask_not_padded(examples, pad_token_id):
    return _pad(examples, pad_token_id, mask_pad=1)


def attention_mask_from_pad_id(examples, pad_token_id):
    batch = _pad(examples, pad_token_id)
    batch["attention_mask"] = (batch["input_ids"] != pad_token_id).long()
    return batch


def left_padding(examples, pad_token_id):
    return _pad(examples, pad_token_id, left=True)


def labels_copied_from_input_ids(examples, pad_token_id):
    return _pad(examples, pad_token_id, labels_from="input_ids")


def padded_past_longest(examples, pad_token_id):
    return _pad(examples, pad_token_id, extra=1)  # "one more for the EOS"


def ids_padded_with_zero(examples, pad_token_id):
    return _pad(examples, pad_token_id, ids_pad=0)


def attention_mask_padded_with_pad_id(examples, pad_token_id):
    return _pad(examples, pad_token_id, mask_pad=pad_token_id)


def examples_reordered(examples, pad_token_id):
    return _pad(sorted(examples, key=lambda e: -len(e["input_ids"])), pad_token_id)


def examples_padded_in_place(examples, pad_token_id):
    width = max(len(e["input_ids"]) for e in examples)
    for e in examples:
        n = width - len(e["input_ids"])
        e["input_ids"].extend([pad_token_id] * n)
        e["attention_mask"].extend([0] * n)
        e["labels"].extend([IGNORE] * n)
    keys = ("input_ids", "attention_mask", "labels")
    return {k: torch.tensor([e[k] for e in examples], dtype=torch.long) for k in keys}


# --- sft_loss --------------------------------------------------------------------------------

HALF = (torch.float16, torch.bfloat16)


def _upcast(f):
    """Each mistake is the reference with one slip: it upcasts half precision and refuses an empty batch as it does."""
    def wrapped(logits, labels):
        if not (labels[:, 1:] != IGNORE).any():
            raise ValueError("no target token")
        return f(logits.float() if logits.dtype in HALF else logits, labels)
    return wrapped


def _ce(logits, labels):
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels.reshape(-1), ignore_index=IGNORE)


@_upcast
def no_shift(logits, labels):
    return _ce(logits, labels)


@_upcast
def shift_backwards(logits, labels):
    return _ce(logits[:, 1:], labels[:, :-1])


@_upcast
def double_shift(logits, labels):
    return _ce(logits[:, :-2], labels[:, 2:])


def _token_losses(logits, labels):
    """(B, T-1) per-token losses (0 where ignored) and the (B, T-1) mask of targets."""
    targets = labels[:, 1:]
    losses = F.cross_entropy(logits[:, :-1].transpose(1, 2), targets, ignore_index=IGNORE, reduction="none")
    return losses, (targets != IGNORE).to(losses.dtype)


@_upcast
def mean_of_sequence_means(logits, labels):
    losses, mask = _token_losses(logits, labels)
    counts = mask.sum(-1)
    return ((losses * mask).sum(-1)[counts > 0] / counts[counts > 0]).mean()  # rows without targets left out


@_upcast
def summed_over_tokens(logits, labels):
    losses, mask = _token_losses(logits, labels)
    return (losses * mask).sum(-1).mean()


@_upcast
def summed_not_averaged(logits, labels):
    return F.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]), labels[:, 1:].reshape(-1),
                           ignore_index=IGNORE, reduction="sum")


@_upcast
def last_target_dropped(logits, labels):
    return _ce(logits[:, :-2], labels[:, 1:-1])


@_upcast
def labels_modified_in_place(logits, labels):
    targets = labels[:, 1:]
    mask = targets != IGNORE
    targets[~mask] = 0  # in place, to gather with: a view of the caller's labels
    losses = F.cross_entropy(logits[:, :-1].transpose(1, 2), targets, reduction="none")
    return (losses * mask).sum() / mask.sum()


def float16_not_upcast(logits, labels):
    if not (labels[:, 1:] != IGNORE).any():
        raise ValueError("no target token")
    return _ce((logits.float() if logits.dtype == torch.bfloat16 else logits)[:, :-1], labels[:, 1:])


def float64_downcast(logits, labels):
    return sft_loss(logits.float(), labels)


def empty_row_raises(logits, labels):
    if not (labels[:, 1:] != IGNORE).any(dim=1).all():
        raise ValueError("a sequence has no target token")
    return sft_loss(logits, labels)


@_upcast
def mean_over_all_positions(logits, labels):
    losses, mask = _token_losses(logits, labels)
    return (losses * mask).mean()


def cross_entropy_in_bf16(logits, labels):
    if not (labels[:, 1:] != IGNORE).any():
        raise ValueError("no target token")
    loss = _ce(logits[:, :-1], labels[:, 1:])
    return loss.float() if logits.dtype in HALF else loss


@_upcast
def log_of_softmax(logits, labels):
    logp = torch.log(torch.softmax(logits[:, :-1], dim=-1))
    return F.nll_loss(logp.reshape(-1, logp.shape[-1]), labels[:, 1:].reshape(-1), ignore_index=IGNORE)


@_upcast
def nll_on_logits(logits, labels):
    x = logits[:, :-1]
    return F.nll_loss(x.reshape(-1, x.shape[-1]), labels[:, 1:].reshape(-1), ignore_index=IGNORE)


def empty_batch_nan(logits, labels):
    logits = logits.float() if logits.dtype in HALF else logits
    return _ce(logits[:, :-1], labels[:, 1:])


# --- sft_step --------------------------------------------------------------------------------

def _step(model, optimizer, batch, max_grad_norm, *, train=True, zero=True, clip="norm", mask=True, labels="labels",
          shift_labels=False, count="labels"):
    if train:
        model.train()
    if zero:
        optimizer.zero_grad()
    kwargs = {"attention_mask": batch["attention_mask"]} if mask else {}
    logits = model(input_ids=batch["input_ids"], **kwargs).logits
    y = batch[labels]
    if shift_labels:
        y = torch.cat([y[:, 1:], torch.full_like(y[:, :1], IGNORE)], dim=1)
    loss = sft_loss(logits, y)
    loss.backward()
    if clip == "norm":
        torch.nn.utils.clip_grad_norm_(model.parameters(), max_grad_norm)
    elif clip == "value":
        torch.nn.utils.clip_grad_value_(model.parameters(), max_grad_norm)
    elif clip == "fixed":
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    optimizer.step()
    tokens = {"labels": batch["labels"][:, 1:] != IGNORE, "mask": batch["attention_mask"],
              "unshifted": batch["labels"] != IGNORE}[count]
    return {"loss": loss.item(), "tokens": int(tokens.sum())}


def zero_grad_after_step(model, optimizer, batch, max_grad_norm=1.0):
    out = _step(model, optimizer, batch, max_grad_norm, zero=False)
    optimizer.zero_grad()  # "clean up for the next step"
    return out


def mean_of_row_losses(model, optimizer, batch, max_grad_norm=1.0):
    model.train()
    optimizer.zero_grad()
    logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    loss = torch.stack([sft_loss(logits[b : b + 1], batch["labels"][b : b + 1]) for b in range(logits.shape[0])]).mean()
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), max_grad_norm)
    optimizer.step()
    return {"loss": loss.item(), "tokens": int((batch["labels"][:, 1:] != IGNORE).sum())}


def no_train_mode(model, optimizer, batch, max_grad_norm=1.0):
    return _step(model, optimizer, batch, max_grad_norm, train=False)


def no_zero_grad(model, optimizer, batch, max_grad_norm=1.0):
    return _step(model, optimizer, batch, max_grad_norm, zero=False)


def zero_grad_after_backward(model, optimizer, batch, max_grad_norm=1.0):
    model.train()
    logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    loss = sft_loss(logits, batch["labels"])
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), max_grad_norm)
    optimizer.zero_grad()
    optimizer.step()
    return {"loss": loss.item(), "tokens": int((batch["labels"][:, 1:] != IGNORE).sum())}


def no_clipping(model, optimizer, batch, max_grad_norm=1.0):
    return _step(model, optimizer, batch, max_grad_norm, clip=None)


def clip_by_value(model, optimizer, batch, max_grad_norm=1.0):
    return _step(model, optimizer, batch, max_grad_norm, clip="value")


def max_grad_norm_ignored(model, optimizer, batch, max_grad_norm=1.0):
    return _step(model, optimizer, batch, max_grad_norm, clip="fixed")


def no_attention_mask(model, optimizer, batch, max_grad_norm=1.0):
    return _step(model, optimizer, batch, max_grad_norm, mask=False)


def labels_ignored(model, optimizer, batch, max_grad_norm=1.0):
    return _step(model, optimizer, batch, max_grad_norm, labels="input_ids")


def labels_shifted_in_step(model, optimizer, batch, max_grad_norm=1.0):
    return _step(model, optimizer, batch, max_grad_norm, shift_labels=True)


def loss_after_update(model, optimizer, batch, max_grad_norm=1.0):
    out = _step(model, optimizer, batch, max_grad_norm)
    with torch.no_grad():
        logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
        out["loss"] = sft_loss(logits, batch["labels"]).item()
    return out


def tokens_from_attention_mask(model, optimizer, batch, max_grad_norm=1.0):
    return _step(model, optimizer, batch, max_grad_norm, count="mask")


def tokens_unshifted(model, optimizer, batch, max_grad_norm=1.0):
    return _step(model, optimizer, batch, max_grad_norm, count="unshifted")
