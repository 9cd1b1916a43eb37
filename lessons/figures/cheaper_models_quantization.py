"""Quantizing the course's tiny GPT-2 (trained on the course corpus): perplexity and size.

The model is ``grader.compression.trained_gpt2()``, its Conv1D layers swapped for nn.Linear. Only the eight
Linear layers inside the two transformer blocks are quantized; the embeddings (tied with the LM head), biases
and layer norms stay in floating point. Weights are quantized with the course's own round-to-nearest
arithmetic (``grader.compression``), symmetric, one scale per matrix ("per tensor") or one per output row
("per channel"), and every forward pass runs in float64, so the numbers do not depend on the CPU's int8
kernels. The W8A8 point also quantizes each Linear's input on the fly, per tensor, to 8 bits
(``DynamicInt8Linear``: dynamic quantization, computed exactly).

Left: held-out perplexity against the weights' bit width. Right: bytes needed to store the model, with the
block weights packed at 8 or 4 bits plus one float32 scale per output row, and everything else in float32.

Run from the repo root:  python lessons/figures/cheaper_models_quantization.py
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

from grader.compression import (block_linears, conv1d_to_linear_, corpus_split, divergences, dynamic_int8_,
                                perplexity, quantize_weights_, trained_gpt2, weight_bytes)

torch.set_num_threads(1)
BITS = (8, 6, 4, 3)


def main():
    model, tok = trained_gpt2()
    model = conv1d_to_linear_(model)
    _, held = corpus_split(tok)
    base = perplexity(model, held)
    print(f"float64 weights: held-out perplexity {base:.2f}")
    ppl, kl = {}, {}
    for per_channel in (False, True):
        for bits in BITS:
            quantized = quantize_weights_(copy.deepcopy(model), bits, per_channel)
            ppl[per_channel, bits] = perplexity(quantized, held)
            kl[per_channel, bits] = divergences(model, quantized, held)[0]
        print(f"weight-only, {'per channel' if per_channel else 'per tensor '}: " +
              "   ".join(f"{b} bits {ppl[per_channel, b]:.2f}" for b in BITS))
        print("    mean per-token KL(float || quantized), nats: " +
              "   ".join(f"{b} bits {kl[per_channel, b]:.1e}" for b in BITS))
    dynamic = dynamic_int8_(copy.deepcopy(model), per_channel=True)
    w8a8 = perplexity(dynamic, held)
    print(f"dynamic W8A8 (int8 per-channel weights, activations per tensor): {w8a8:.2f}, "
          f"KL(float || W8A8) {divergences(model, dynamic, held)[0]:.1e} nats")

    linears = [m for _, m in block_linears(model)]
    n_block = sum(m.weight.numel() for m in linears)
    n_rows = sum(m.weight.shape[0] for m in linears)
    n_all = sum(p.numel() for p in model.parameters())  # the tied embedding / LM head is counted once
    rest = 4 * (n_all - n_block)
    sizes = {"float32": (rest, weight_bytes(n_block, 32)),
             "int8 weights": (rest, weight_bytes(n_block, 8, n_rows)),
             "int4 weights": (rest, weight_bytes(n_block, 4, n_rows))}
    print(f"{n_all} parameters, {n_block} of them in block Linear weights ({n_rows} output rows)")
    for name, (other, blk) in sizes.items():
        print(f"  {name:<13} block weights {blk:>7} bytes ({sizes['float32'][1] / blk:.2f}x smaller)   "
              f"whole model {other + blk:>7} bytes ({sum(sizes['float32']) / (other + blk):.2f}x smaller)")

    fig, axes = plt.subplots(1, 3, figsize=(12.5, 4.0), gridspec_kw={"width_ratios": [1, 1, 1]})
    for ax, values, w8a8_value, ylabel in ((axes[0], ppl, w8a8, "held-out perplexity"),
                                           (axes[1], kl, divergences(model, dynamic, held)[0],
                                            "KL(float || quantized) per token")):
        for per_channel, color, name in ((False, "C3", "per tensor"), (True, "C0", "per channel (row)")):
            ax.plot(BITS, [values[per_channel, b] for b in BITS], "o-", color=color, lw=1.8,
                    label=f"weight-only, {name}")
        ax.plot([8], [w8a8_value], "s", color="C2", ms=8, label="W8A8 dynamic")
        ax.set_xticks(BITS)
        ax.invert_xaxis()
        ax.set_xlabel("bits per block weight")
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
    axes[0].axhline(base, color="k", lw=1, ls=":", label=f"float weights ({base:.1f})")
    axes[0].set_title("Perplexity")
    axes[0].legend(frameon=False, fontsize=9)
    axes[1].set_yscale("log")
    axes[1].set_title("Distance from the float model (nats)")

    ax = axes[2]
    names = list(sizes)
    kib = lambda b: b / 1024
    ax.bar(names, [kib(o) for o, _ in sizes.values()], color="0.7", label="embeddings, norms, biases (float32)")
    ax.bar(names, [kib(b) for _, b in sizes.values()], bottom=[kib(o) for o, _ in sizes.values()], color="C0",
           label="block Linear weights (+ scales)")
    for i, (o, b) in enumerate(sizes.values()):
        ax.text(i, kib(o + b) + 8, f"{kib(o + b):.0f} KiB", ha="center")
    ax.set_ylabel("KiB")
    ax.set_ylim(0, kib(sum(sizes["float32"])) * 1.4)
    ax.set_title("Storage of the tiny GPT-2")
    ax.legend(frameon=False, loc="upper center", fontsize=9)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(Path(__file__).with_suffix(".png"), dpi=170, bbox_inches="tight", metadata={"Software": None})


if __name__ == "__main__":
    main()
