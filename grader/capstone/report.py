"""The before/after report: reward and KL per step as PNGs (matplotlib's Agg backend, no display needed) and
a Markdown page with the numbers, the samples side by side and links to the plots and checkpoints."""

from __future__ import annotations

from pathlib import Path

METRICS = (  # key, label, format
    ("reward", "reward-model reward (raw)", "{:+.3f}"),
    ("preference_score", "task preference_score", "{:+.3f}"),
    ("kl", "KL to the reference (nats per response)", "{:.3f}"),
    ("distinct_1", "distinct-1", "{:.3f}"),
    ("distinct_2", "distinct-2", "{:.3f}"),
    ("perplexity_under_reference", "perplexity under the reference", "{:.2f}"),
    ("mean_tokens", "response length (tokens)", "{:.1f}"),
)


def plot_curves(history: list[dict], title: str, xlabel: str, path: Path, kl_label: str) -> Path:
    """Reward-model reward, the task's score and KL per step, in two panels."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [h for h in history if "kl" in h]
    steps = [h["step"] for h in rows]
    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.2))
    left.plot(steps, [h["reward"] for h in rows], marker=".", label="reward model (raw)")
    left.plot(steps, [h["preference_score"] for h in rows], marker=".", label="task preference_score")
    left.set(xlabel=xlabel, ylabel="mean per response", title=f"{title}: reward")
    left.legend(fontsize=8)
    right.plot(steps, [h["kl"] for h in rows], marker=".", color="tab:red")
    right.set(xlabel=xlabel, ylabel="nats per response", title=f"{title}: {kl_label}")
    fig.tight_layout()
    fig.savefig(path, dpi=110, bbox_inches="tight", metadata={"Software": None})
    plt.close(fig)
    return path


def _cell(text: str) -> str:
    return (text or "(empty)").replace("|", "\\|").replace("\n", " ")


def write(out: Path, summary: dict, samples: dict[str, list[str]], prompts: list[str], show: int = 8) -> Path:
    """``summary``: what the run produced (see ``grader.capstone.pipeline``); ``samples``: policy -> texts."""
    ev, rm, fb = summary["evaluation"], summary["reward_model"], summary["feedback"]
    load = summary.get("load_average") or [None, None]
    load_text = (f" The machine's load average was {load[0]:.1f} at the start and {load[1]:.1f} at the end "
                 f"(other work on it slows the run)." if None not in load else "")
    policies = list(ev)
    lines = [
        "# Capstone report: the RLHF loop on the tiny GPT-2", "",
        f"Made by `{summary['command']}` in {summary['seconds']:.0f} s on {summary['device']} "
        f"(seed {summary['seed']}): " + ", ".join(f"{k} {v:.0f} s" for k, v in summary["stage_seconds"].items())
        + "." + load_text,
        "", "## Implementations used", "",
        *[f"- **{name}**: {d}" for name, d in summary["implementations"].items()],
        "", "## Feedback and reward model", "",
        f"- {fb['pairs']} preference pairs from {fb['labeller']} on {fb['prompts']} training prompts "
        f"({fb['train']} to train the reward model, {fb['held_out']} held out); stored in `{fb['db']}`, "
        f"exported as TRL pairs to `{fb['export']}`.",
        f"- Reward model ({rm['loss']} loss, {rm['steps']} steps): loss {rm['first_loss']:.3f} -> "
        f"{rm['last_loss']:.3f}; held-out preference accuracy {rm['held_out_accuracy']:.3f}.",
        "", f"## Before and after ({summary['eval_responses']} responses on {len(prompts)} held-out prompts)", "",
        "| metric | " + " | ".join(policies) + " |", "|---|" + "---:|" * len(policies),
        *[f"| {label} | " + " | ".join(fmt.format(ev[p][key]) for p in policies) + " |" for key, label, fmt in METRICS],
        "", "The gain and the KL at which it was bought:", "",
        *[f"- **{p}**: reward-model reward {ev[p]['reward'] - ev[policies[0]]['reward']:+.3f}, "
          f"preference_score {ev[p]['preference_score'] - ev[policies[0]]['preference_score']:+.3f}, "
          f"KL {ev[p]['kl']:.3f} nats" for p in policies[1:]],
        "", "## Training curves", "",
        "![PPO: reward and KL per iteration](ppo.png)", "",
        "![DPO: reward and KL per step](dpo.png)", "",
        "## Samples (the same seed for every policy)", "",
        "| prompt | " + " | ".join(policies) + " |", "|---|" + "---|" * len(policies),
        *[f"| {_cell(prompts[i])} | " + " | ".join(_cell(samples[p][i]) for p in policies) + " |"
          for i in range(min(show, len(prompts)))],
        "", "## Checkpoints", "",
        *[f"- {name}: `{path}`" for name, path in summary["checkpoints"].items()],
        "", "Each holds `save_pretrained` weights and `capstone.json` (hyper-parameters, seed, metrics, versions, "
        "implementation); `rlhf-course capstone continue <checkpoint>` trains it further.", "",
    ]
    path = out / "report.md"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path
