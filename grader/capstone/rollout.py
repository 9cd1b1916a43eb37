"""Sampling from a causal LM on prompts of different lengths, and the per-token quantities RLHF needs.

Prompts are **left**-padded so that every response starts at the same column ``P``; position ids follow
the attention mask, so a padded prompt is read exactly as the same prompt alone. Sampling (a KV-cached forward,
one token at a time) and scoring (one full forward) use the same positions and mask, so the log-probabilities
PPO treats as "old" are those the tokens were drawn with (equal to about 1e-6 in float32).
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass

import torch


@dataclass
class Rollout:
    prompts: list[str]  # as the task states them (the reward model reads these), before any chat template
    ids: torch.Tensor  # (B, P + T) long: left-padded prompt, then the response
    attention: torch.Tensor  # (B, P + T) long: 0 on prompt padding, 1 elsewhere
    mask: torch.Tensor  # (B, T) float: 1 on response tokens up to and including the first EOS
    P: int  # prompt width: response token t sits at column P + t

    @property
    def response(self) -> torch.Tensor:  # (B, T)
        return self.ids[:, self.P:]


def encode_prompts(tokenizer, prompts: list[str], device) -> tuple[torch.Tensor, torch.Tensor]:
    """Left-padded prompt ids and attention mask, both (B, P)."""
    rows = [tokenizer(p)["input_ids"] for p in prompts]
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), tokenizer.pad_token_id, dtype=torch.long)
    attention = torch.zeros(len(rows), width, dtype=torch.long)
    for i, r in enumerate(rows):
        ids[i, width - len(r):] = torch.tensor(r, dtype=torch.long)
        attention[i, width - len(r):] = 1
    return ids.to(device), attention.to(device)


def forward(model, ids: torch.Tensor, attention: torch.Tensor, **kwargs):
    """The model on left-padded rows, positions counted from each row's first real token."""
    positions = (attention.cumsum(-1) - 1).clamp(min=0)
    return model(input_ids=ids, attention_mask=attention, position_ids=positions, **kwargs)


def _cache_kwarg(model, out) -> dict:
    """The key/value cache of ``out`` as the next call's keyword: transformers 5.2x renamed
    ``past_key_values`` to ``cache``; earlier 5.x versions take the old name."""
    name = "cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values"
    return {name: out["cache"] if "cache" in out else out["past_key_values"]}


@torch.no_grad()
def sample(model, tokenizer, prompts: list[str], max_new_tokens: int, template=None,
           temperature: float = 1.0) -> Rollout:
    """One sampled response per prompt (repeat a prompt in ``prompts`` for several). Seed torch first.

    template: prompt -> the text the model continues (the policy's chat template); None: the prompt itself.
    """
    device = next(model.parameters()).device
    ids, attention = encode_prompts(tokenizer, [template(p) if template else p for p in prompts], device)
    P = ids.shape[1]
    out = forward(model, ids, attention, use_cache=True)  # the prompt once; then one token at a time, cached
    for step in range(max_new_tokens):
        logits = out.logits[:, -1].float() / temperature  # (B, V)
        token = torch.multinomial(torch.softmax(logits, -1), 1)  # (B, 1)
        ids = torch.cat([ids, token], dim=1)
        attention = torch.cat([attention, torch.ones_like(token)], dim=1)
        if step + 1 < max_new_tokens:
            position = attention.sum(-1, keepdim=True) - 1  # (B, 1): the new token's position in its row
            out = model(input_ids=token, attention_mask=attention, position_ids=position, use_cache=True,
                        **_cache_kwarg(model, out))
    is_eos = (ids[:, P:] == tokenizer.eos_token_id).long()
    mask = (is_eos.cumsum(1) - is_eos == 0).float()  # valid up to and including the first EOS
    return Rollout(list(prompts), ids, attention, mask, P)


def response_texts(tokenizer, rollout: Rollout) -> list[str]:
    """Each response's valid tokens as text, without the EOS."""
    out = []
    for row, valid in zip(rollout.response, rollout.mask):
        tokens = [t for t in row[valid.bool()].tolist() if t != tokenizer.eos_token_id]
        out.append(tokenizer.decode(tokens).split("\nUser:")[0].strip())  # a run-on into a new turn is cut
    return out


def response_logits(model, rollout: Rollout, **kwargs):
    """(logits (B, T, V) that score each response token, the model's output)."""
    out = forward(model, rollout.ids, rollout.attention, **kwargs)
    return out.logits[:, rollout.P - 1: -1], out
