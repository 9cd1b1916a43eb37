"""Toy experiment: does minimising the DPO loss recover pi* = pi_ref * exp(r / beta) / Z?

One prompt, K = 5 possible responses, a tabular policy pi_theta = softmax(theta)
initialised at the reference. Pairs (i, j) are drawn from pi_ref x pi_ref, and we
minimise the *expected* loss over pairs and labels exactly (no sampling noise):

  (a) DPO, labels from Bradley-Terry with the true reward r  -> should reach pi*
  (b) DPO, deterministic labels (higher true reward always wins) -> h grows without bound
  (c) IPO, the same deterministic labels                        -> stays finite

Prints the final policies and the KL to the reference, and saves a bar chart.
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
import torch.nn.functional as F

torch.manual_seed(0)
BETA = 0.5
STEPS = 4000
pi_ref = torch.tensor([0.30, 0.25, 0.20, 0.15, 0.10], dtype=torch.float64)
r = torch.tensor([0.0, 0.5, 1.0, 0.2, 1.5], dtype=torch.float64)  # true reward
K = len(r)

log_ref = pi_ref.log()
pi_star = torch.softmax(log_ref + r / BETA, dim=0)  # analytic optimum

# all unordered pairs (i, j), i < j, weighted by how often pi_ref would sample them
ii, jj = torch.triu_indices(K, K, offset=1)
w = pi_ref[ii] * pi_ref[jj]
w = w / w.sum()
p_i_wins = torch.sigmoid(r[ii] - r[jj])  # Bradley-Terry preference probability
i_better = (r[ii] > r[jj]).double()  # deterministic label


def train(kind):
    theta = log_ref.clone().requires_grad_(True)
    opt = torch.optim.Adam([theta], lr=0.05)
    for step in range(1, STEPS + 1):
        g = torch.log_softmax(theta, dim=0) - log_ref  # log pi_theta - log pi_ref
        h_ij = g[ii] - g[jj]  # h with i as "chosen"
        if kind == "dpo_bt":
            loss = -(p_i_wins * F.logsigmoid(BETA * h_ij) + (1 - p_i_wins) * F.logsigmoid(-BETA * h_ij))
        else:
            h = torch.where(i_better.bool(), h_ij, -h_ij)  # h with the true winner as "chosen"
            if kind == "dpo_hard":
                loss = -F.logsigmoid(BETA * h)
            else:  # ipo_hard
                loss = (h - 1 / (2 * BETA)) ** 2
        loss = (w * loss).sum()
        opt.zero_grad()
        loss.backward()
        opt.step()
        if kind == "dpo_hard" and step in (500, 1000, 2000, 4000):
            with torch.no_grad():
                g = torch.log_softmax(theta, dim=0) - log_ref
                print(f"  DPO, deterministic labels, step {step:4d}: largest h = {(g.max() - g.min()).item():.1f}")
    with torch.no_grad():
        pi = torch.softmax(theta, dim=0)
        g = pi.log() - log_ref
        h_max = (g.max() - g.min()).item()
    return pi, h_max


def kl(p, q):
    return float((p * (p / q).log()).sum())


results = {"DPO, BT labels": train("dpo_bt"), "DPO, deterministic labels": train("dpo_hard"),
           "IPO, deterministic labels": train("ipo_hard")}

np.set_printoptions(precision=3, suppress=True)
print(f"beta = {BETA}, steps = {STEPS}")
print(f"{'pi_ref':28s}", pi_ref.numpy())
print(f"{'pi* (analytic)':28s}", pi_star.numpy(), f"KL to ref = {kl(pi_star, pi_ref):.3f}")
for name, (pi, h_max) in results.items():
    print(f"{name:28s}", pi.numpy(), f"KL to ref = {kl(pi, pi_ref):.3f}", f"largest h = {h_max:.2f}")
print("max |pi_DPO,BT - pi*| =", float((results["DPO, BT labels"][0] - pi_star).abs().max()))

fig, ax = plt.subplots(figsize=(7.5, 4))
bars = {"$\\pi_{\\mathrm{ref}}$": pi_ref, "$\\pi^*$ (closed form)": pi_star}
bars.update({name: pi for name, (pi, _) in results.items()})
width = 0.8 / len(bars)
x = np.arange(K)
for k, (name, p) in enumerate(bars.items()):
    ax.bar(x + (k - (len(bars) - 1) / 2) * width, p.numpy(), width, label=name)
ax.set_xticks(x, [f"$y_{i + 1}$\nr={r[i].item():.1f}" for i in range(K)])
ax.set_xlabel("response (true reward r)")
ax.set_ylabel("probability")
ax.set_title(f"Tabular DPO on one prompt, $\\beta$={BETA}, {STEPS} Adam steps")
ax.legend()
fig.savefig(Path(__file__).with_suffix(".png"), dpi=170, bbox_inches="tight", metadata={"Software": None})
