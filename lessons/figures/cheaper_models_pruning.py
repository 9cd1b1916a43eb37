"""Pruning the course's tiny GPT-2 (trained on the course corpus): held-out perplexity against sparsity.

The model is ``grader.compression.trained_gpt2()``, its Conv1D layers swapped for nn.Linear. Each of the eight
Linear layers inside the transformer blocks is pruned to the same fraction with ``torch.nn.utils.prune``,
with no retraining afterwards:

  unstructured   l1_unstructured: the weights with the smallest |w| are set to 0;
  structured     ln_structured(n=2, dim=0): whole output rows (neurons) with the smallest L2 norm are set to 0.

Embeddings, biases and layer norms are untouched. Every forward pass runs in float64 (deterministic on any CPU).

Run from the repo root:  python lessons/figures/cheaper_models_pruning.py
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

from grader.compression import conv1d_to_linear_, corpus_split, perplexity, prune_linears_, sparsity, trained_gpt2

torch.set_num_threads(1)
AMOUNTS = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)


def main():
    model, tok = trained_gpt2()
    model = conv1d_to_linear_(model)
    _, held = corpus_split(tok)
    results = {}
    print("pruned fraction of each block Linear:  held-out perplexity unstructured / structured")
    for structured in (False, True):
        results[structured] = []
        for amount in AMOUNTS:
            pruned = prune_linears_(copy.deepcopy(model), amount, structured)
            results[structured].append((sparsity(pruned), perplexity(pruned, held)))
    for amount, (s_u, p_u), (s_s, p_s) in zip(AMOUNTS, results[False], results[True]):
        print(f"  {amount:.1f}   sparsity {s_u:.3f} / {s_s:.3f}   perplexity {p_u:8.1f} / {p_s:8.1f}")

    fig, ax = plt.subplots(figsize=(6.8, 4.0))
    for structured, color, name in ((False, "C0", "unstructured (smallest |w|)"),
                                    (True, "C3", "structured (smallest-norm rows)")):
        xs, ys = zip(*results[structured])
        ax.plot(xs, ys, "o-", color=color, lw=1.8, label=name)
    uniform = model.config.vocab_size
    ax.axhline(uniform, color="k", lw=1, ls=":", label=f"uniform guess ({uniform})")
    ax.set_yscale("log")
    ticks = [40, 60, 100, 200, 500, 1000, 2000, 4000]
    ax.set_yticks(ticks, [str(t) for t in ticks])
    ax.minorticks_off()
    ax.set_xlabel("fraction of block Linear weights set to zero")
    ax.set_ylabel("held-out perplexity (log scale)")
    ax.set_title("Magnitude pruning of the tiny GPT-2, no retraining")
    ax.legend(frameon=False)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(Path(__file__).with_suffix(".png"), dpi=170, bbox_inches="tight", metadata={"Software": None})


if __name__ == "__main__":
    main()
