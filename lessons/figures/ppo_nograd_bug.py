"""The no_grad reward bug, reproduced on a one-step categorical "language model".

Policy: pi_theta = softmax(theta) over 8 tokens. Reference: a fixed softmax(ref_logits).
Reward model: a fixed lookup table r[token], evaluated under torch.no_grad on *sampled* tokens,
exactly as an RLHF pipeline scores sampled text. The objective to maximise is

    J(theta) = E_{y ~ pi}[r(y)] - beta * KL(pi || pi_ref),

whose maximiser is pi*(y) proportional to pi_ref(y) * exp(r(y) / beta).

Three training losses, same seed, same samples budget (N per step), Adam:
  (a) buggy:           -mean(R) + beta * KL          (R has no graph: only the KL term trains)
  (b) score function:  -mean((R - b) * log pi(y)) + beta * KL   (b = leave-one-out mean)
  (c) RLHF form:       -mean((R - beta*k1 - b) * log pi(y)),  k1 = log pi(y) - log pi_ref(y) (detached),
                       i.e. the KL folded into the reward, as PPO for RLHF does.
The KL in (a) and (b) is the exact KL over the 8 tokens.

Everything runs in float64 and tokens are drawn by inverting the CDF at seeded uniforms, rather than
with torch.multinomial: in float32, rounding differences between CPUs (and between the vectorised code
paths torch picks on them) flip an occasional sample, and variant (b), which never stops moving, then
ends on visibly different numbers. In float64 the runs agree to about 1e-10 across torch's CPU code
paths (ATEN_CPU_CAPABILITY=default, avx2, avx512), far below the three decimals printed.

Run from the repo root:  python lessons/figures/ppo_nograd_bug.py
"""
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import torch

V = 8            # vocabulary size
BETA = 0.2       # KL coefficient
N = 64           # samples per step
STEPS = 300
LR = 0.05
SEED = 0

DTYPE = torch.float64

reward_table = torch.tensor([0.0, 0.2, 0.1, 1.0, 0.3, 0.0, 0.6, 0.1], dtype=DTYPE)
ref_logits = torch.tensor([1.5, 1.0, 0.5, -1.0, 0.8, 0.3, -0.5, 0.0], dtype=DTYPE)
ref_logp = torch.log_softmax(ref_logits, -1)


def reward_model(tokens):
    """A frozen 'reward model': scores sampled tokens. Callers run it under torch.no_grad."""
    return reward_table[tokens]


def exact_kl(logp):
    return (logp.exp() * (logp - ref_logp)).sum()


def expected_reward(logp):
    return (logp.exp() * reward_table).sum()


def sample(probs, n, gen):
    """n tokens from a categorical distribution, by inverting its CDF at seeded uniforms."""
    u = torch.rand(n, generator=gen, dtype=DTYPE)
    cdf = torch.cumsum(probs, 0)
    return torch.searchsorted(cdf, u, right=True).clamp(max=len(probs) - 1)


def train(variant):
    gen = torch.Generator().manual_seed(SEED)
    theta = torch.zeros(V, dtype=DTYPE, requires_grad=True)  # start from the uniform policy
    opt = torch.optim.Adam([theta], lr=LR)
    hist = {"reward": [], "kl": []}
    reward_grad_norm = None
    for step in range(STEPS):
        logp = torch.log_softmax(theta, -1)
        with torch.no_grad():
            hist["reward"].append(expected_reward(logp).item())
            hist["kl"].append(exact_kl(logp).item())
        y = sample(logp.exp().detach(), N, gen)
        with torch.no_grad():
            R = reward_model(y)                          # (N,), no autograd graph
        if variant == "buggy":
            reward_term = -R.mean()
            kl_term = BETA * exact_kl(logp)
            loss = reward_term + kl_term
            if step == 0:
                # Gradient of the reward part = grad(total) - grad(KL part). It is exactly zero.
                g_total = torch.autograd.grad(loss, theta, retain_graph=True)[0]
                g_kl = torch.autograd.grad(kl_term, theta, retain_graph=True)[0]
                reward_grad_norm = (g_total - g_kl).norm().item()
                print(f"[buggy] reward_term.requires_grad = {reward_term.requires_grad}")
        elif variant == "score":
            baseline = (R.sum() - R) / (N - 1)           # leave-one-out mean: unbiased
            loss = -((R - baseline) * logp[y]).mean() + BETA * exact_kl(logp)
        elif variant == "rlhf":
            k1 = (logp[y] - ref_logp[y]).detach()        # per-sample KL estimate, as a reward penalty
            total = R - BETA * k1
            baseline = (total.sum() - total) / (N - 1)
            loss = -((total - baseline) * logp[y]).mean()
        else:
            raise ValueError(variant)
        opt.zero_grad()
        loss.backward()
        opt.step()
    logp = torch.log_softmax(theta, -1).detach()
    hist["final_reward"] = expected_reward(logp).item()
    hist["final_kl"] = exact_kl(logp).item()
    return hist, reward_grad_norm


def main():
    torch.manual_seed(SEED)
    opt_logp = torch.log_softmax(ref_logp + reward_table / BETA, -1)   # pi* ∝ pi_ref exp(r / beta)
    ref_reward = expected_reward(ref_logp).item()
    opt_reward, opt_kl = expected_reward(opt_logp).item(), exact_kl(opt_logp).item()

    runs = {}
    runs["buggy"], gnorm = train("buggy")
    runs["score"], _ = train("score")
    runs["rlhf"], _ = train("rlhf")

    print(f"[buggy] grad norm of the reward part at step 0 = {gnorm}")
    print(f"reference policy : E[r] = {ref_reward:.3f}, KL = 0")
    print(f"optimum pi*      : E[r] = {opt_reward:.3f}, KL = {opt_kl:.3f}, "
          f"J = {opt_reward - BETA * opt_kl:.3f}")
    for name, h in runs.items():
        j = h["final_reward"] - BETA * h["final_kl"]
        print(f"{name:6s} after {STEPS} steps: E[r] = {h['final_reward']:.3f}, KL = {max(h['final_kl'], 0.0):.3f}, J = {j:.3f}")

    labels = {"buggy": "(a) buggy: -R.mean() + beta*KL, R under no_grad",
              "score": "(b) score function: -(R-b) log pi(y) + beta*KL",
              "rlhf": "(c) KL folded into reward: -(R - beta*k1 - b) log pi(y)"}
    styles = {"buggy": dict(color="C3", lw=2.2), "score": dict(color="C0", lw=1.8),
              "rlhf": dict(color="C2", lw=1.4, ls="--")}
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.3))
    for name, h in runs.items():
        axes[0].plot(h["reward"], label=labels[name], **styles[name])
        axes[1].plot(h["kl"], label=labels[name], **styles[name])
    axes[0].axhline(opt_reward, color="k", ls=":", lw=1.2, label=r"optimum $\pi^* \propto \pi_{ref}\,e^{r/\beta}$")
    axes[0].axhline(ref_reward, color="0.5", ls="-.", lw=1.2, label=r"reference policy $\pi_{ref}$")
    axes[1].axhline(opt_kl, color="k", ls=":", lw=1.2, label=r"optimum $\pi^*$")
    axes[0].set_title("Expected reward under the policy")
    axes[1].set_title(r"KL$(\pi_\theta \,\|\, \pi_{ref})$ (exact)")
    for ax in axes:
        ax.set_xlabel("training step")
    axes[0].set_ylabel(r"$\mathbb{E}_{y\sim\pi_\theta}[r(y)]$")
    axes[1].set_ylabel("KL (nats)")
    axes[0].legend(fontsize=8, loc="center right")
    axes[1].legend(fontsize=8, loc="center right")
    fig.suptitle(f"8-token policy, beta = {BETA}, {N} samples/step, Adam lr {LR}, seed {SEED}: "
                 "the buggy loss only learns to imitate the reference")
    fig.tight_layout()
    fig.savefig(Path(__file__).with_suffix(".png"), dpi=110, bbox_inches="tight", metadata={"Software": None})


if __name__ == "__main__":
    main()
