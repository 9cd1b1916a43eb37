"""The capstone's training commands, added to ``rlhf-course capstone`` by ``grader.capstone.cli``:

    run        feedback (simulated labeller) -> reward model -> PPO and DPO -> report, non-interactive
    continue   train a PPO or DPO checkpoint further, from its saved optimizer state
    scale      the exported pairs through TRL's RewardTrainer and DPOTrainer (Accelerate), for real models

torch is imported only inside the commands.
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

from grader.capstone import DB_NAME, work_dir


def _threads() -> None:
    """One thread per process on a small CPU: several busy threads on two shared cores mostly wait for each other."""
    import os

    import torch

    if "OMP_NUM_THREADS" not in os.environ and (os.cpu_count() or 1) <= 4:
        torch.set_num_threads(1)


def cmd_run(args) -> int:
    from grader.capstone.cli import CapstoneError, _store
    from grader.capstone.feedback import FeedbackDBError

    db = args.db or args.out / DB_NAME
    _store(db).close()  # a bad database is one line before torch loads
    from grader.capstone.pipeline import run
    from grader.capstone.settings import DPOConfig, PPOConfig, RunConfig

    _threads()
    cfg = RunConfig(out=args.out, db=db, seed=args.seed,
                    device=getattr(args, "device", None), model=args.model, reward_model=args.reward_model,
                    feedback=args.feedback, noise=args.noise, rm_steps=args.rm_steps,
                    eval_per_prompt=args.eval_per_prompt, force_reference=args.reference,
                    ppo=PPOConfig(steps=args.ppo_steps, beta=args.beta), dpo=DPOConfig(steps=args.dpo_steps))
    try:
        summary = run(cfg, command="rlhf-course " + shlex.join(sys.argv[1:]))
    except (OSError, ValueError, FeedbackDBError) as exc:
        raise CapstoneError(str(exc).splitlines()[0]) from None
    ev = summary["evaluation"]
    before = ev["SFT (reference)"]
    print(f"{'policy':<16} {'RM reward':>10} {'pref. score':>12} {'KL (nats)':>10} {'distinct-2':>11}")
    for name, m in ev.items():
        print(f"{name:<16} {m['reward']:>+10.3f} {m['preference_score']:>+12.3f} {m['kl']:>10.3f} "
              f"{m['distinct_2']:>11.3f}")
    for name in ("PPO", "DPO"):
        print(f"{name}: preference_score {ev[name]['preference_score'] - before['preference_score']:+.3f}, "
              f"reward-model reward {ev[name]['reward'] - before['reward']:+.3f} at KL {ev[name]['kl']:.2f} nats")
    print(f"report: {cfg.out / 'report.md'}  ({summary['seconds']:.0f} s)")
    return 0


def cmd_continue(args) -> int:
    from grader.capstone.checkpoints import META
    from grader.capstone.cli import CapstoneError

    if not (args.checkpoint / META).is_file():
        raise CapstoneError(f"{args.checkpoint} is not a capstone checkpoint (no {META}); "
                            f"`rlhf-course capstone run` writes them under capstone/checkpoints/")
    from grader.capstone.pipeline import resume

    _threads()
    try:
        meta = resume(args.checkpoint, args.steps, args.to, getattr(args, "device", None), args.reference)
    except (OSError, ValueError, KeyError) as exc:
        raise CapstoneError(str(exc).splitlines()[0]) from None
    m = meta["metrics"]
    print(f"{meta['kind'].upper()}: {meta['steps_done']} steps done; preference_score {m['preference_score']:+.3f}, "
          f"reward-model reward {m['reward']:+.3f}, KL {m['kl']:.2f} nats -> {args.to or args.checkpoint}")
    return 0


def cmd_scale(args) -> int:
    from grader.capstone import trl_scale
    from grader.capstone.cli import CapstoneError

    if not Path(args.pairs).is_file():
        raise CapstoneError(f"no preference pairs at {args.pairs}; run `rlhf-course capstone run` or "
                            f"`rlhf-course capstone export` first, or give --pairs")
    try:
        trl_scale.scale_and_print(args)
    except (OSError, ValueError) as exc:
        raise CapstoneError(str(exc).splitlines()[0]) from None
    return 0


def add_commands(commands, parents=(), command=lambda f: f) -> None:
    """Add run / continue / scale to the capstone's subparsers; ``command`` wraps each (one-line errors)."""
    from grader.capstone import trl_scale
    from grader.capstone.cli import _positive_int, _probability
    from grader.capstone.settings import DPOConfig, PPOConfig, RunConfig

    text = "the whole loop, non-interactive: simulated feedback -> reward model -> PPO and DPO -> report"
    r = commands.add_parser("run", help=text, parents=list(parents), description=text + ". Writes report.md, "
                            "ppo.png, dpo.png, pairs.jsonl, summary.json and checkpoints/ under --out.")
    r.add_argument("--out", type=Path, default=work_dir(), help=f"the output folder (default {work_dir()})")
    r.add_argument("--db", type=Path, default=None, help=f"the feedback database (default OUT/{DB_NAME})")
    r.add_argument("--model", default="tiny", help="the policy: tiny (built on first use), gpt2, or a folder")
    r.add_argument("--reward-model", default="tiny", help="the reward model's encoder: tiny, bert-base-uncased, "
                   "or a folder")
    r.add_argument("--feedback", choices=("comparisons", "ratings"), default="comparisons",
                   help="A/B comparisons and the pairwise loss, or ratings and the rating loss (default comparisons)")
    r.add_argument("--noise", type=_probability, default=RunConfig.noise,
                   help="the simulated labeller's probability of a random answer (default %(default)s)")
    r.add_argument("--rm-steps", type=_positive_int, default=RunConfig.rm_steps,
                   help="reward-model steps (default %(default)s)")
    r.add_argument("--ppo-steps", type=_positive_int, default=PPOConfig.steps,
                   help="PPO iterations (default %(default)s)")
    r.add_argument("--dpo-steps", type=_positive_int, default=DPOConfig.steps, help="DPO steps (default %(default)s)")
    r.add_argument("--beta", type=float, default=PPOConfig.beta,
                   help="PPO's per-token KL coefficient (default %(default)s)")
    r.add_argument("--eval-per-prompt", type=_positive_int, default=RunConfig.eval_per_prompt,
                   help="responses per held-out prompt in the before/after (default %(default)s)")
    r.add_argument("--seed", type=int, default=RunConfig.seed)
    r.add_argument("--reference", action="store_true",
                   help="train with the reference solutions even where your exercises pass their checks")
    r.set_defaults(func=command(cmd_run))

    text = "train a PPO or DPO checkpoint further (its optimizer state and step count restored)"
    c = commands.add_parser("continue", help=text, parents=list(parents), description=text + ".")
    c.add_argument("checkpoint", type=Path, help="e.g. capstone/checkpoints/ppo")
    c.add_argument("--steps", type=_positive_int, default=10, help="more steps (default 10)")
    c.add_argument("--to", type=Path, default=None, help="save here instead of over the checkpoint")
    c.add_argument("--reference", action="store_true", help="train with the reference solutions")
    c.set_defaults(func=command(cmd_continue))

    text = "train the exported pairs with TRL (RewardTrainer, DPOTrainer) on Accelerate, for real models and GPUs"
    s = commands.add_parser("scale", help=text, parents=list(parents), description=text + ". Needs "
                            "pip install -e \".[scale]\"; `accelerate launch -m grader.capstone.trl_scale` runs it "
                            "on several GPUs.")
    trl_scale.add_arguments(s, device=not parents)
    s.set_defaults(func=command(cmd_scale))

