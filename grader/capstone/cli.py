"""``rlhf-course capstone <command>``: the RLHF loop on a laptop, from feedback to aligned policies.

    rate      rate the policy's completions in the terminal (1 good, 2 neutral, 3 bad, q quit)
    compare   pick the better of two completions in the terminal (a, b, s skip, q quit)
    label     label without a person: the simulated labeller (a stated preference, optional noise) or the RLAIF judge
    export    write the ratings and the preference pairs (TRL's prompt/chosen/rejected) as JSON Lines
    run       the whole loop, non-interactive: feedback -> reward model -> PPO and DPO -> report
    continue  train a PPO or DPO checkpoint further
    scale     the exported pairs through TRL (RewardTrainer, DPOTrainer) on Accelerate, for real models

Every command reads and writes one feedback database (``--db``, default ``capstone/feedback.sqlite``); a
session stopped in any way resumes when the same command runs again. torch is imported only inside commands.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from grader.capstone import default_db, work_dir

PROG = "rlhf-course capstone"


class CapstoneError(Exception):
    """A problem the user can fix (a bad database, a missing model): printed as one line, exit code 1."""


def command(fn):
    """A capstone command: a ``CapstoneError`` it raises is one line on stderr and exit code 1."""
    def run(args) -> int:
        try:
            return fn(args)
        except CapstoneError as exc:
            print(f"{PROG}: error: {exc}", file=sys.stderr)
            return 1

    run.__doc__ = fn.__doc__
    return run


def _store(path: Path, must_exist: bool = False):
    from grader.capstone.feedback import FeedbackDBError, FeedbackStore

    if must_exist and not path.exists():
        raise CapstoneError(f"no feedback database at {path}; collect some first with `{PROG} rate` or "
                            f"`{PROG} label`, or give --db")
    try:
        return FeedbackStore(path)
    except FeedbackDBError as exc:
        raise CapstoneError(str(exc)) from None


def _policy_samples(args, n_per_prompt: int) -> tuple[list[str], list[list[str]]]:
    """(prompts, completions per prompt) from the policy; the same arguments give the same samples."""
    from grader.capstone import task
    from grader.capstone.policy import COMPLETION_TOKENS, generate, load_policy

    prompts = list(task.TRAIN_PROMPTS if args.prompts == "train" else task.EVAL_PROMPTS)
    print(f"Sampling {n_per_prompt} completions for each of {len(prompts)} {args.prompts} prompts from the policy "
          f"({args.model}; seed {args.seed}) ...", file=sys.stderr, flush=True)
    try:
        model, tokenizer, _ = load_policy(device=getattr(args, "device", None), name=args.model)
    except OSError as exc:
        raise CapstoneError(str(exc).splitlines()[0]) from None
    return prompts, generate(model, tokenizer, prompts, n_per_prompt, args.max_new_tokens or COMPLETION_TOKENS,
                             args.seed)


def reward_scorer(directory: Path | None, device=None):
    """``scorer(prompt, completion) -> float`` from a reward model saved by the capstone's training, or None
    when there is none yet. ``directory`` None: the pipeline's, ``<work dir>/checkpoints/reward_model``."""
    directory = Path(directory) if directory else work_dir() / "checkpoints" / "reward_model"
    if not (directory / "capstone.json").is_file():
        return None
    from grader.capstone import implementations, reward

    model, tokenizer, _ = reward.load(implementations.choose("reward_model", device), directory, device or "cpu")
    encode = implementations.reference("reward_model")["encode"]

    def scorer(prompt: str, completion: str) -> float:
        import torch

        with torch.no_grad():
            return float(reward.score(model, tokenizer, encode, [prompt], [completion])[0])

    return scorer


def _interactive_scorer(args):
    scorer = reward_scorer(args.reward_model, getattr(args, "device", None))
    if scorer is None and args.reward_model:
        raise CapstoneError(f"{args.reward_model} holds no capstone reward model (no capstone.json)")
    return scorer


@command
def cmd_rate(args) -> int:
    from grader.capstone.interactive import rate_loop

    with _store(args.db) as store:  # opened first: a bad database is reported before any sampling
        prompts, samples = _policy_samples(args, args.n_per_prompt)
        items = [(p, c) for p, cs in zip(prompts, samples) for c in cs]
        rate_loop(store, items, args.labeller, _interactive_scorer(args))
    return 0


@command
def cmd_compare(args) -> int:
    from grader.capstone.interactive import compare_loop

    with _store(args.db) as store:
        prompts, samples = _policy_samples(args, 2 * args.pairs_per_prompt)
        items = [(p, cs[i], cs[i + 1]) for p, cs in zip(prompts, samples) for i in range(0, len(cs), 2)]
        compare_loop(store, items, args.labeller, _interactive_scorer(args))
    return 0


@command
def cmd_label(args) -> int:
    from grader.capstone.labellers import JudgeLabeller, SimulatedLabeller, label_samples

    args.mode = args.mode or ("both" if args.labeller == "simulated" else "comparisons")
    if args.labeller == "judge" and args.mode != "comparisons":
        raise CapstoneError("the judge compares two completions; use --mode comparisons with --labeller judge")
    with _store(args.db) as store:
        if args.labeller == "simulated":
            labeller = SimulatedLabeller(args.noise, args.labeller_seed)
        else:
            try:
                labeller = JudgeLabeller(args.judge_model, getattr(args, "device", None))
            except OSError as exc:  # a judge model that cannot be loaded, or no clone of the course
                raise CapstoneError(str(exc).splitlines()[0]) from None
            print(f"judge: {args.judge_model}; its functions from {labeller.source}", file=sys.stderr)
        prompts, samples = _policy_samples(args, args.n_per_prompt)
        saved = label_samples(store, labeller, prompts, samples, args.mode, progress=True)
        print(f"{labeller.name}: {saved['ratings']} ratings and {saved['comparisons']} comparisons saved in "
              f"{store.path} ({len(store.ratings())} and {len(store.comparisons())} in all); "
              f"{len(store.preference_pairs())} preference pairs")
    return 0


@command
def cmd_export(args) -> int:
    with _store(args.db, must_exist=True) as store:
        ratings = store.export_ratings(args.ratings)
        pairs = store.export_pairs(args.pairs)
        print(f"{len(store.ratings())} ratings -> {ratings}\n{len(store.preference_pairs())} preference pairs "
              f"(TRL prompt/chosen/rejected; grader.load_preferences reads them) -> {pairs}")
    return 0


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number of at least 1 (got {text!r})")
    return value


def _probability(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be a probability between 0 and 1 (got {text!r})")
    return value


def add_parser(sub, parents=()) -> argparse.ArgumentParser:
    """Add ``capstone`` and its commands to the ``rlhf-course`` subparsers ``sub``; ``parents`` add --device."""
    text = "the capstone: feedback, a reward model, PPO and DPO on the tiny GPT-2 (see `capstone --help`)"
    cap = sub.add_parser("capstone", help=text, description="The whole RLHF loop on a laptop. Feedback goes to "
                         f"one SQLite database (--db, default {default_db()}; $RLHF_CAPSTONE_DIR moves the "
                         "capstone folder).")
    commands = cap.add_subparsers(dest="capstone_command", metavar="COMMAND", parser_class=type(cap),
                                  help="what to do (each has its own --help)")
    cap.set_defaults(func=lambda args: cap.error("choose a command, e.g. `capstone label`"))

    db = argparse.ArgumentParser(add_help=False)
    db.add_argument("--db", type=Path, default=default_db(), help=f"the feedback database (default {default_db()})")
    sampling = argparse.ArgumentParser(add_help=False)
    sampling.add_argument("--model", default="tiny", help="the policy: tiny (the SFT'd tiny GPT-2, built on first "
                          "use), a hub name such as gpt2, or a folder (a checkpoint) (default tiny)")
    sampling.add_argument("--prompts", choices=("train", "eval"), default="train",
                          help="which of the task's prompts to sample for (default train)")
    sampling.add_argument("--max-new-tokens", type=_positive_int, default=None,
                          help="new tokens per completion (default: enough for most answers to end, "
                          "grader.capstone.policy.COMPLETION_TOKENS)")
    sampling.add_argument("--seed", type=int, default=0, help="the sampling seed (default 0): the same seed gives "
                          "the same completions, so a stopped session resumes")
    person = argparse.ArgumentParser(add_help=False)
    person.add_argument("--labeller", default="human", help="your name in the database (default human)")
    person.add_argument("--reward-model", type=Path, default=None, help="score completions with this reward model "
                        "(default: the pipeline's, under the capstone folder, if trained)")

    text = "rate the policy's completions in the terminal: 1 good, 2 neutral, 3 bad, q quit"
    r = commands.add_parser("rate", help=text, description=text + ". Each rating is saved at once.",
                            parents=[db, sampling, person, *parents])
    r.add_argument("--n-per-prompt", type=_positive_int, default=2, help="completions per prompt (default 2)")
    r.set_defaults(func=cmd_rate)

    text = "compare two of the policy's completions in the terminal: a, b, s skip, q quit"
    c = commands.add_parser("compare", help=text, description=text + ". Each answer is saved at once.",
                            parents=[db, sampling, person, *parents])
    c.add_argument("--pairs-per-prompt", type=_positive_int, default=1, help="pairs per prompt (default 1)")
    c.set_defaults(func=cmd_compare)

    text = "label without a person: the simulated labeller or the RLAIF judge"
    lab = commands.add_parser("label", help=text, parents=[db, sampling, *parents],
                              description=text + ". The simulated labeller rates by the task's word list (kind "
                              "minus rude words); the judge is the RLAIF exercise's (yours if it passes its checks).")
    lab.add_argument("--labeller", choices=("simulated", "judge"), default="simulated",
                     help="simulated (the task's stated preference) or judge (the RLAIF judge) (default simulated)")
    lab.add_argument("--mode", choices=("ratings", "comparisons", "both"), default=None,
                     help="what to collect (default: both for the simulated labeller, comparisons for the judge)")
    lab.add_argument("--noise", type=_probability, default=0.0,
                     help="simulated: the probability of a random answer (default 0)")
    lab.add_argument("--labeller-seed", type=int, default=0, help="simulated: the noise's seed (default 0)")
    lab.add_argument("--judge-model", default="tiny", help="judge: tiny (mechanics only), gpt2 or a folder")
    lab.add_argument("--n-per-prompt", type=_positive_int, default=4,
                     help="completions per prompt; consecutive ones are compared (default 4)")
    lab.set_defaults(func=cmd_label)

    text = "write the ratings and the preference pairs as JSON Lines"
    e = commands.add_parser("export", help=text, parents=[db], description=text + ": pairs in TRL's "
                            "prompt/chosen/rejected format (best vs worst rated per prompt; each A/B choice).")
    e.add_argument("--ratings", type=Path, default=work_dir() / "ratings.jsonl",
                   help=f"where the ratings go (default {work_dir() / 'ratings.jsonl'})")
    e.add_argument("--pairs", type=Path, default=work_dir() / "pairs.jsonl",
                   help=f"where the preference pairs go (default {work_dir() / 'pairs.jsonl'})")
    e.set_defaults(func=cmd_export)

    from grader.capstone.training_cli import add_commands  # run, continue, scale (the training side)

    add_commands(commands, parents, command)
    return cap

