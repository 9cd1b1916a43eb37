"""The SFT loss on the course's tiny GPT-2: which tokens it counts, and what masking the prompt changes.

Left panel: one demonstration, a prompt and a response in a simple chat template, ending in EOS. The
black line is the next-token cross-entropy -log p(token | earlier tokens) under the untrained tiny GPT-2
(``grader.load_gpt2()``, built offline from a seed), read with the shift (logits at position t predict
token t+1); the bars are the same after the response-only training of the right panel. Prompt tokens are
grey: the SFT loss masks them (label -100). The first token has no value, because nothing predicts it.

Right panel: two copies of the same model trained for STEPS Adam steps on the same four padded
demonstrations, one with the loss on response tokens only (prompt and padding masked), one with the loss
on every real token (only padding masked). Both curves show the mean loss on response tokens, the part a
chat model is used for, and the dashed ones the mean loss on prompt tokens.

The script prints the numbers the lesson quotes, at 3 significant digits, and draws the figure.

Run from the repo root:  python lessons/figures/sft_masked_loss.py
"""
import copy
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

# Drawn about as wide as the website's text column (about 700 px), with fonts to match, and saved
# at twice that resolution so that the enlarged view (click on the figure) stays sharp.
plt.rcParams.update({"font.size": 11, "axes.titlesize": 11.5, "axes.labelsize": 11, "xtick.labelsize": 10,
                     "ytick.labelsize": 10, "legend.fontsize": 9.5, "figure.titlesize": 12})
import torch
import torch.nn.functional as F

from grader import load_gpt2

TEMPLATE = "User: {prompt}\nAssistant:"
EXAMPLE = ("What do you drink in the morning?", " I make a cup of tea.")
DEMOS = [EXAMPLE,
         ("Where is the bus stop?", " It is ten minutes from the house."),
         ("What is in your bag?", " My lunch, a pen and a notebook."),
         ("What does your sister do before breakfast?", " She goes for a short walk.")]
STEPS, LR, IGNORE = 40, 3e-3, -100


def encode(tok, prompt: str, response: str) -> tuple[list[int], list[int]]:
    """Token ids of template(prompt) + response + EOS, and the labels: -100 on the prompt, ids on the response."""
    p = tok(TEMPLATE.format(prompt=prompt))["input_ids"]
    r = tok(response)["input_ids"] + [tok.eos_token_id]
    return p + r, [IGNORE] * len(p) + r


def batch(tok, demos, prompt_loss: bool):
    """Right-padded (B, T) input_ids, attention_mask and labels; padding is always -100."""
    rows = [encode(tok, p, r) for p, r in demos]
    T = max(len(ids) for ids, _ in rows)
    input_ids, mask, labels = [], [], []
    for ids, lab in rows:
        n = T - len(ids)
        input_ids.append(ids + [tok.pad_token_id] * n)
        mask.append([1] * len(ids) + [0] * n)
        labels.append((ids if prompt_loss else lab) + [IGNORE] * n)
    return torch.tensor(input_ids), torch.tensor(mask), torch.tensor(labels)


def token_losses(model, input_ids, mask, labels) -> torch.Tensor:
    """(B, T-1) cross-entropy of token t+1 given tokens <= t; 0 where the label is -100."""
    logits = model(input_ids=input_ids, attention_mask=mask).logits
    return F.cross_entropy(logits[:, :-1].transpose(1, 2), labels[:, 1:], ignore_index=IGNORE, reduction="none")


def sft_loss(model, input_ids, mask, labels) -> torch.Tensor:
    """Mean over every counted token in the batch (Hugging Face's convention for causal-LM labels)."""
    n = (labels[:, 1:] != IGNORE).sum()
    return token_losses(model, input_ids, mask, labels).sum() / n


def train(model, tok, prompt_loss: bool):
    ids, mask, labels = batch(tok, DEMOS, prompt_loss)
    response_labels = batch(tok, DEMOS, prompt_loss=False)[2]
    all_labels = batch(tok, DEMOS, prompt_loss=True)[2]
    prompt_labels = torch.where(response_labels == IGNORE, all_labels, IGNORE)  # prompt tokens only
    opt = torch.optim.Adam(model.parameters(), lr=LR)
    resp, prom = [], []
    for step in range(STEPS + 1):
        with torch.no_grad():
            resp.append(sft_loss(model, ids, mask, response_labels).item())
            prom.append(sft_loss(model, ids, mask, prompt_labels).item())
        if step == STEPS:
            break
        loss = sft_loss(model, ids, mask, labels)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return resp, prom, model


def shown(token: str) -> str:
    return token.replace("Ġ", "·").replace("Ċ", "\\n").replace("<|endoftext|>", "EOS")


def main():
    torch.manual_seed(0)
    model, tok, _ = load_gpt2(device="cpu")
    model.eval()  # no dropout: the printed numbers are deterministic

    ids, labels = encode(tok, *EXAMPLE)
    x, y = torch.tensor([ids]), torch.tensor([labels])
    with torch.no_grad():
        per_token = token_losses(model, x, torch.ones_like(x), torch.tensor([ids]))[0]  # every token, for the bars
        logits = model(input_ids=x, attention_mask=torch.ones_like(x)).logits[0]
    is_resp = y[0, 1:] != IGNORE
    n_prompt, n_resp = int((y[0] == IGNORE).sum()), int(is_resp.sum())
    resp_sum = per_token[is_resp].sum().item()
    no_shift = F.cross_entropy(logits[is_resp.nonzero()[:, 0] + 1], x[0, 1:][is_resp]).item()
    print(f"demonstration: {len(ids)} tokens = {n_prompt} prompt (template included) + {n_resp} response (EOS included)")
    print(f"  response tokens, summed loss          {resp_sum:.3g}")
    print(f"  response tokens, mean loss            {resp_sum / n_resp:.3g}")
    print(f"  every token (prompt unmasked), mean   {per_token.mean().item():.3g}")
    print(f"  response tokens without the shift     {no_shift:.3g}")
    print(f"  uniform guess, log {model.config.vocab_size}                {torch.log(torch.tensor(float(model.config.vocab_size))).item():.3g}")

    runs, trained = {}, {}
    for prompt_loss in (False, True):
        *runs[prompt_loss], trained[prompt_loss] = train(copy.deepcopy(model), tok, prompt_loss)  # dropout off
    with torch.no_grad():
        after = token_losses(trained[False], x, torch.ones_like(x), torch.tensor([ids]))[0]
    print(f"{STEPS} Adam steps (lr {LR}) on {len(DEMOS)} demonstrations,\n  mean loss on response / prompt tokens of the batch:")
    for prompt_loss, name in ((False, "response-only loss"), (True, "loss on all tokens")):
        resp, prom = runs[prompt_loss]
        print(f"  {name:<20} start {resp[0]:.3g} / {prom[0]:.3g}   step 10 {resp[10]:.3g} / {prom[10]:.3g}   "
              f"end {resp[-1]:.3g} / {prom[-1]:.3g}")
    print(f"the demonstration above after response-only training: mean loss {after[is_resp].mean().item():.3g} on its "
          f"response, {after[~is_resp].mean().item():.3g} on its prompt")

    fig, axes = plt.subplots(1, 2, figsize=(10, 4.3), gridspec_kw={"width_ratios": [1.55, 1]})
    ax = axes[0]
    pos = range(1, len(ids))
    colors = ["C0" if r else "0.7" for r in is_resp.tolist()]
    ax.bar(pos, after.tolist(), color=colors, width=0.8, label=f"after {STEPS} steps, response-only loss")
    ax.step(pos, per_token.tolist(), where="mid", color="k", lw=1, label="untrained")
    ax.axvline(n_prompt - 0.5, color="k", lw=1, ls=":")
    ax.set_xticks(list(pos))
    ax.set_xticklabels([shown(t) for t in tok.convert_ids_to_tokens(ids[1:])], rotation=90, fontsize=8.5)
    ax.set_ylabel("next-token loss (nats)")
    ax.set_title("Demonstration 1: grey = prompt (label -100), blue = counted")
    ax.set_ylim(0, 8.6)
    ax.legend(loc="upper left", fontsize=9, ncol=2, frameon=False)
    ax.grid(axis="y", alpha=0.3)

    ax = axes[1]
    for prompt_loss, color, name in ((False, "C0", "response-only loss"), (True, "C3", "loss on all tokens")):
        resp, prom = runs[prompt_loss]
        ax.plot(range(STEPS + 1), resp, color=color, lw=2.2, label=f"{name}: response tokens")
        ax.plot(range(STEPS + 1), prom, color=color, lw=1.4, ls="--", label=f"{name}: prompt tokens")
    ax.set_xlabel("Adam step")
    ax.set_ylabel("mean loss (nats)")
    ax.set_title("Training on 4 demonstrations")
    ax.legend(fontsize=9, loc="upper center", bbox_to_anchor=(0.5, -0.18), frameon=False)
    ax.grid(alpha=0.3)
    fig.suptitle("The SFT loss on the course's tiny GPT-2, which starts untrained", fontsize=12)
    fig.tight_layout()
    fig.savefig(Path(__file__).with_suffix(".png"), dpi=170, bbox_inches="tight", metadata={"Software": None})


if __name__ == "__main__":
    main()
