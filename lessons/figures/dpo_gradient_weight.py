"""Per-pair gradient weight of the DPO loss.

dL/dh = -beta * sigma(-beta*h). Left: the weight sigma(-beta*h) for several beta.
Right: the full slope beta * sigma(-beta*h), i.e. how hard each pair pushes h up.
"""
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

# Drawn about as wide as the website's text column (about 700 px), with fonts to match, and saved
# at twice that resolution so that the enlarged view (click on the figure) stays sharp.
plt.rcParams.update({"font.size": 11, "axes.titlesize": 11.5, "axes.labelsize": 11, "xtick.labelsize": 10,
                     "ytick.labelsize": 10, "legend.fontsize": 9.5, "figure.titlesize": 12})
import numpy as np


def sigmoid(z):
    return 0.5 * (1.0 + np.tanh(0.5 * z))  # stable for large |z|


h = np.linspace(-30, 30, 601)
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(8.5, 3.4))
for beta in (0.1, 0.25, 0.5, 1.0):
    ax1.plot(h, sigmoid(-beta * h), label=f"$\\beta$ = {beta}")
    ax2.plot(h, beta * sigmoid(-beta * h), label=f"$\\beta$ = {beta}")
ax1.axhline(0.5, color="gray", lw=0.8, ls=":")
ax1.axvline(0.0, color="gray", lw=0.8, ls=":")
ax1.set_xlabel("h   [nats]   (h < 0: implicit reward ranks the pair wrongly)")
ax1.set_ylabel("weight $\\sigma(-\\beta h)$")
ax1.set_title("Gradient weight $\\sigma(-\\beta h)$")
ax1.legend()
ax2.set_xlabel("h   [nats]")
ax2.set_ylabel("$|\\partial L / \\partial h| = \\beta\\,\\sigma(-\\beta h)$")
ax2.set_title("Slope of the loss in h (weight times $\\beta$)")
ax2.legend()
fig.tight_layout()
fig.savefig(Path(__file__).with_suffix(".png"), dpi=170, bbox_inches="tight", metadata={"Software": None})
