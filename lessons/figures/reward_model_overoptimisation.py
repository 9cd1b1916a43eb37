"""TOY MODEL of reward over-optimisation under best-of-n sampling (a cartoon, not real data).

Each response of the initial policy has two independent standard-normal features:
  g = "real quality", z = standardised length.
Gold (true) reward:    gold  = g + 0.5 z - 0.6 z^2   (a bit longer helps, much longer hurts)
Proxy reward model:    proxy = g + z                 (learned a linear length bonus)
The "optimised policy" is best-of-n on the proxy: draw n responses, keep the one with the
highest proxy reward. For a continuous proxy, KL(best-of-n || initial) = log n - (n - 1)/n.
Expectations are computed exactly (numerical integration over the distribution of the
maximum of n Gaussians and Gaussian conditioning), so there is no sampling noise.
Run from the repo root:  python lessons/figures/reward_model_overoptimisation.py
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
import torch

A, C, BETA = 0.5, 0.6, 1.0          # gold = g + A z - C z^2 ; proxy = g + BETA z
S2 = 1.0 + BETA**2                  # variance of the proxy under the initial policy

x = torch.linspace(-10, 10, 40001, dtype=torch.float64)     # standardised proxy value
log_phi = -0.5 * x**2 - 0.5 * np.log(2 * np.pi)
log_Phi = torch.special.log_ndtr(x)
r = np.sqrt(S2) * x                                          # proxy value
# Gaussian conditioning on the proxy value r
e_g = r / S2
e_z = BETA * r / S2
e_z2 = e_z**2 + 1.0 / S2
gold_given_r = e_g + A * e_z - C * e_z2
gold_initial = -C                                            # E[g + A z - C z^2] with z ~ N(0, 1)

ns = np.unique(np.round(np.logspace(0, 5, 80)).astype(int))
kl, gold, proxy, length = [], [], [], []
for n in ns:
    # density of the max of n standard normals: n phi(x) Phi(x)^(n-1)
    w = torch.exp(np.log(n) + log_phi + (n - 1) * log_Phi)
    w = w / w.sum()
    kl.append(np.log(n) - (n - 1) / n)
    gold.append((w * gold_given_r).sum().item() - gold_initial)
    proxy.append((w * r).sum().item())
    length.append((w * e_z).sum().item())
kl, gold, proxy, length = map(np.array, (kl, gold, proxy, length))

i_peak = int(gold.argmax())
after = np.where((np.arange(len(gold)) > i_peak) & (gold < 0))[0]
print(f"gold gain peaks at KL = {kl[i_peak]:.2f} nats (n = {ns[i_peak]}): gold +{gold[i_peak]:.2f}, "
      f"proxy +{proxy[i_peak]:.2f}, mean length z = {length[i_peak]:.2f}")
if len(after):
    j = after[0]
    print(f"gold falls below the initial policy at KL = {kl[j]:.2f} nats (n = {ns[j]})")
print(f"at n = {ns[-1]} (KL = {kl[-1]:.2f}): gold {gold[-1]:+.2f}, proxy +{proxy[-1]:.2f}, "
      f"mean length z = {length[-1]:.2f}")

fig, ax = plt.subplots(figsize=(7.5, 4.5))
ax.plot(kl, proxy, "-", color="C1", label=r"proxy reward $g + z$ (what is optimised)")
ax.plot(kl, gold, "-", color="C0", lw=2, label=r"gold reward $g + 0.5z - 0.6z^2$")
ax.plot(kl, length, ":", color="grey", label="mean length feature $z$ of chosen response")
ax.axhline(0, color="black", lw=0.6)
ax.plot(kl[i_peak], gold[i_peak], "o", color="C0")
ax.annotate("best gold reward", xy=(kl[i_peak], gold[i_peak]), xytext=(kl[i_peak] + 0.6, gold[i_peak] + 1.6),
            arrowprops=dict(arrowstyle="->", color="C0"), color="C0")
ax.set_xlabel(r"KL(best-of-$n$ $\|$ initial policy) = $\log n - (n-1)/n$  [nats]")
ax.set_ylabel("change from initial policy")
ax.set_title("TOY MODEL: over-optimising a proxy reward (best-of-n sampling)")
ax.grid(alpha=0.3)
ax.legend(loc="upper left")
top = ax.secondary_xaxis("top", functions=(lambda k: k, lambda k: k))
tick_n = [1, 10, 100, 1000, 10000, 100000]
top.set_xticks([np.log(n) - (n - 1) / n for n in tick_n])
top.set_xticklabels([f"n={n:g}" for n in tick_n], fontsize=10)
fig.tight_layout()
fig.savefig(Path(__file__).with_suffix(".png"), dpi=170, bbox_inches="tight", metadata={"Software": None})
