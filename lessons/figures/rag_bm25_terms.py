"""The three parts of the BM25 score of one term (the lesson's formula).

Left: the IDF weight against the fraction of documents containing the term, ln(1 + (N - n + 0.5)/(n + 0.5)) (the
lesson's, as in Lucene) beside the classic Robertson-Sparck Jones form ln((N - n + 0.5)/(n + 0.5)), which turns
negative for a term in more than half the documents.
Middle: the term-frequency part f (k1 + 1) / (f + k1) for a document of average length: it saturates at k1 + 1.
Right: the same part at f = 2 against the document's length relative to the average, for several b.
"""
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

N = 100
n = np.arange(1, N + 1)
fig, (ax1, ax2, ax3) = plt.subplots(1, 3, figsize=(13, 3.8))
ax1.plot(n / N, np.log(1 + (N - n + 0.5) / (n + 0.5)), label="$\\ln(1 + \\frac{N-n+0.5}{n+0.5})$ (lesson, Lucene)")
ax1.plot(n / N, np.log((N - n + 0.5) / (n + 0.5)), ls="--", label="$\\ln\\frac{N-n+0.5}{n+0.5}$ (Robertson-Sparck Jones)")
ax1.axhline(0, color="gray", lw=0.8)
ax1.set_xlabel("n(t) / N   (fraction of documents containing t)")
ax1.set_ylabel("IDF(t)")
ax1.set_title(f"IDF, N = {N}")
ax1.legend(fontsize=8)

f = np.arange(0, 11)
for k1 in (0.5, 1.2, 1.5, 2.0):
    ax2.plot(f, f * (k1 + 1) / (f + k1), marker="o", ms=3, label=f"$k_1$ = {k1}")
ax2.plot(f, f, color="gray", ls=":", label="raw count f")
ax2.set_ylim(0, 4)
ax2.set_xlabel("f(t, d)   (occurrences in the document)")
ax2.set_ylabel("term-frequency part")
ax2.set_title("Saturation ($|d|$ = avgdl): limit $k_1 + 1$")
ax2.legend(fontsize=8)

ratio = np.linspace(0.1, 4, 200)
k1, f2 = 1.5, 2
for b in (0.0, 0.5, 0.75, 1.0):
    ax3.plot(ratio, f2 * (k1 + 1) / (f2 + k1 * (1 - b + b * ratio)), label=f"b = {b}")
ax3.axvline(1, color="gray", lw=0.8, ls=":")
ax3.set_xlabel("|d| / avgdl")
ax3.set_ylabel("term-frequency part at f = 2")
ax3.set_title(f"Length normalisation ($k_1$ = {k1})")
ax3.legend(fontsize=8)

fig.tight_layout()
fig.savefig(Path(__file__).with_suffix(".png"), dpi=110, bbox_inches="tight", metadata={"Software": None})
