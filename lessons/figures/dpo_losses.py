"""DPO loss -log sigma(beta*h) as a function of the log-ratio difference h.

Left: the sigmoid (standard DPO) loss for several beta.
Right: for one beta, standard DPO vs conservative (label-smoothed) DPO, IPO and hinge.
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


def neg_logsigmoid(z):
    # -log sigma(z) = softplus(-z), computed stably
    return np.logaddexp(0.0, -z)


h = np.linspace(-15, 15, 601)
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(8.5, 3.6))

for beta in (0.1, 0.25, 0.5, 1.0):
    ax1.plot(h, neg_logsigmoid(beta * h), label=f"$\\beta$ = {beta}")
ax1.axhline(np.log(2), color="gray", lw=0.8, ls=":")
ax1.annotate("log 2 = loss at h = 0", (1.0, np.log(2) + 0.08), fontsize=10, color="gray")
ax1.set_xlabel("h = log-ratio(chosen) - log-ratio(rejected)   [nats]")
ax1.set_ylabel("loss")
ax1.set_ylim(0, 4)
ax1.set_title("DPO loss $-\\log\\sigma(\\beta h)$")
ax1.legend()

beta, eps = 0.5, 0.1
ax2.plot(h, neg_logsigmoid(beta * h), label="sigmoid (DPO)")
ax2.plot(h, (1 - eps) * neg_logsigmoid(beta * h) + eps * neg_logsigmoid(-beta * h),
         label=f"conservative DPO, $\\varepsilon$ = {eps}")
ax2.plot(h, (h - 1 / (2 * beta)) ** 2, label="IPO $(h - 1/(2\\beta))^2$")
ax2.plot(h, np.maximum(0.0, 1 - beta * h), label="hinge $\\max(0, 1-\\beta h)$")
ax2.axvline(1 / (2 * beta), color="C2", lw=0.8, ls=":")
ax2.axvline(1 / beta, color="C3", lw=0.8, ls=":")
ax2.axvline(np.log((1 - eps) / eps) / beta, color="C1", lw=0.8, ls=":")
ax2.set_xlabel("h   [nats]")
ax2.set_ylabel("loss")
ax2.set_ylim(0, 4)
ax2.set_title(f"Variants at $\\beta$ = {beta}\n(dotted: where each stops pushing)")
ax2.legend()

fig.tight_layout()
fig.savefig(Path(__file__).with_suffix(".png"), dpi=170, bbox_inches="tight", metadata={"Software": None})
