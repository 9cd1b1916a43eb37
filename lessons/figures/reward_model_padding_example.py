"""Where to read a reward: the same text scored with more and more padding in the batch.

Two untrained reward models, each a frozen tiny transformer from the course (``grader.load_bert()``
and ``grader.load_gpt2()``, built offline from a seed) with a seeded linear head ``Linear(64, 1)``:

  BERT (bidirectional):  tokenizer(prompt, response) = [CLS] prompt [SEP] response [SEP], then pads.
  GPT-2 (causal):        a 4-token text, then pads (GPT-2's pad token is EOS, masked by attention_mask).

For 0..5 extra pad tokens on the right (attention_mask 0 there), the script prints the reward read at
  - [CLS], position 0                      (the right choice for BERT),
  - the last real token, found from the attention mask   (the right choice for a causal LM),
  - position -1                            (a pad token as soon as there is padding),
  - a plain mean over all positions        (includes the padding; BERT only, drawn but not printed),
and draws the figure. The readings that are right do not move; the others change with the padding.

Run from the repo root:  python lessons/figures/reward_model_padding_example.py
"""
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

# Drawn about as wide as the website's text column (about 700 px), with fonts to match, and saved
# at twice that resolution so that the enlarged view (click on the figure) stays sharp.
plt.rcParams.update({"font.size": 11, "axes.titlesize": 11.5, "axes.labelsize": 11, "xtick.labelsize": 10,
                     "ytick.labelsize": 10, "legend.fontsize": 9.5, "figure.titlesize": 12})
import torch

from grader import load_bert, load_gpt2

PADS = range(6)  # extra pad tokens on the right
PROMPT, RESPONSE = "How do I cut an onion without crying?", "Use a very sharp knife."
GPT2_TEXT = "I like the day"  # four tokens for the tiny GPT-2 tokenizer (checked below)


def seeded_head(hidden: int, seed: int) -> torch.nn.Linear:
    gen = torch.Generator().manual_seed(seed)
    head = torch.nn.Linear(hidden, 1)
    with torch.no_grad():
        head.weight.copy_(torch.randn(1, hidden, generator=gen) / hidden**0.5)  # rewards of order 1
        head.bias.zero_()
    return head


def last_real_index(attention_mask: torch.Tensor) -> torch.Tensor:
    """(B, T) mask of 1s and 0s -> (B,) index of the last 1 in each row (works for any padding side)."""
    T = attention_mask.shape[1]
    return T - 1 - attention_mask.flip(-1).argmax(-1)


def readings(hidden: torch.Tensor, attention_mask: torch.Tensor, head: torch.nn.Linear) -> dict[str, float]:
    """hidden (1, T, H) -> the reward read at each candidate position, for the one sequence."""
    rows = torch.arange(hidden.shape[0])
    pooled = {
        "[CLS] (position 0)": hidden[:, 0],
        "last real token": hidden[rows, last_real_index(attention_mask)],
        "position -1": hidden[:, -1],
        "mean over all positions": hidden.mean(1),
    }
    return {name: head(h).squeeze(-1).item() for name, h in pooled.items()}


def padded(ids: torch.Tensor, n: int, pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(1, L) token ids -> (1, L + n) ids and attention mask with n pad tokens on the right."""
    pad = torch.full((1, n), pad_id, dtype=ids.dtype)
    mask = torch.cat([torch.ones_like(ids), torch.zeros_like(pad)], 1)
    return torch.cat([ids, pad], 1), mask


@torch.no_grad()
def sweep(encoder, ids: torch.Tensor, pad_id: int, head: torch.nn.Linear) -> dict[str, list[float]]:
    table: dict[str, list[float]] = {}
    for n in PADS:
        input_ids, mask = padded(ids, n, pad_id)
        hidden = encoder(input_ids=input_ids, attention_mask=mask).last_hidden_state
        for name, value in readings(hidden, mask, head).items():
            table.setdefault(name, []).append(value)
    return table


def show(title: str, table: dict[str, list[float]], keep: list[str]) -> None:
    print(title)
    print(f"  {'extra pad tokens':<26}" + "".join(f"{n:>8d}" for n in PADS))
    for name in keep:
        print(f"  {name:<26}" + "".join(f"{v:8.2f}" for v in table[name]))


def main():
    torch.manual_seed(0)
    bert, bert_tok, _ = load_bert(device="cpu")
    gpt2, gpt2_tok, _ = load_gpt2(device="cpu")

    bert_ids = bert_tok(PROMPT, RESPONSE, return_tensors="pt")["input_ids"]
    gpt2_ids = gpt2_tok(GPT2_TEXT, return_tensors="pt")["input_ids"]
    assert gpt2_ids.shape[1] == 4, gpt2_tok.convert_ids_to_tokens(gpt2_ids[0])

    bert_table = sweep(bert, bert_ids, bert_tok.pad_token_id, seeded_head(bert.config.hidden_size, seed=1))
    gpt2_table = sweep(gpt2.transformer, gpt2_ids, gpt2_tok.pad_token_id, seeded_head(gpt2.config.n_embd, seed=2))

    # The mean over positions is drawn but not printed: some of its values lie within float noise of a
    # rounding boundary at two decimals, and printed numbers must be the same on every CPU.
    show(f"BERT encoder, prompt + response = {bert_ids.shape[1]} tokens:", bert_table,
         ["[CLS] (position 0)", "position -1"])
    show(f"GPT-2 (causal), {gpt2_ids.shape[1]}-token text {GPT2_TEXT!r}:", gpt2_table,
         ["last real token", "position -1"])

    fig, axes = plt.subplots(1, 2, figsize=(8.5, 4.2), sharex=True)
    styles = {"[CLS] (position 0)": dict(color="C0", marker="o", lw=2.2),
              "last real token": dict(color="C0", marker="o", lw=2.2),
              "position -1": dict(color="C3", marker="s", ls="--"),
              "mean over all positions": dict(color="C1", marker="^", ls=":")}
    panels = [(axes[0], "BERT encoder: read [CLS]", bert_table, ["[CLS] (position 0)", "position -1",
                                                                   "mean over all positions"]),
              (axes[1], "GPT-2 (causal): read the last real token", gpt2_table,
               ["last real token", "position -1"])]
    for ax, title, table, keep in panels:
        for name in keep:
            ax.plot(list(PADS), table[name], label=name, **styles[name])
        ax.set_title(title, fontsize=12)
        ax.set_xlabel("extra pad tokens on the right", fontsize=11)
        ax.legend(fontsize=10, loc="upper center", bbox_to_anchor=(0.5, -0.2), frameon=False)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("reward of the same text", fontsize=11)
    fig.suptitle("Untrained tiny models with a seeded linear head: only the right position ignores padding",
                 fontsize=12)
    fig.tight_layout()
    fig.savefig(Path(__file__).with_suffix(".png"), dpi=170, bbox_inches="tight", metadata={"Software": None})


if __name__ == "__main__":
    main()
