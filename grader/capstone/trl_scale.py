"""Scaling out: the capstone's exported preference pairs and its reward model, trained with TRL.

The same ``pairs.jsonl`` that ``rlhf-course capstone run`` (or ``capstone export``) writes trains, unchanged,

* a reward model with TRL's ``RewardTrainer`` (a ``AutoModelForSequenceClassification`` with one label: the
  Bradley–Terry loss of the reward-model exercise on the encoder's pooled output), and
* the policy with TRL's ``DPOTrainer`` (the sigmoid DPO loss of the DPO exercise, a frozen copy as reference).

Both trainers run on Accelerate, so the one script serves a laptop, a GPU, and several GPUs::

    rlhf-course capstone scale --pairs capstone/pairs.jsonl                      # the tiny models, CPU
    rlhf-course capstone scale --pairs capstone/pairs.jsonl --model gpt2 --reward-model bert-base-uncased
    accelerate launch -m grader.capstone.trl_scale --pairs capstone/pairs.jsonl --model gpt2 \\
        --reward-model bert-base-uncased --steps 500 --batch-size 8               # every GPU of the machine

Needs ``pip install -e ".[scale]"`` (TRL and Accelerate). The policy reads the task's chat template, so each
pair's prompt is wrapped in it and each response follows after one space, as in the policy's SFT.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def _need_trl():
    try:
        import trl  # noqa: F401
    except ImportError:
        raise SystemExit("rlhf-course capstone scale needs TRL and Accelerate: pip install -e \".[scale]\"") from None


def datasets_from(pairs_file: Path, template):
    """(reward-model dataset, DPO dataset), TRL's explicit-prompt format; ``template`` wraps DPO's prompts."""
    from datasets import Dataset

    from grader.preferences import load_preferences

    pairs = load_preferences(pairs_file)
    if not pairs:
        raise SystemExit(f"{pairs_file} holds no preference pairs; collect feedback first")
    plain = [{"prompt": p["prompt"], "chosen": p["chosen"], "rejected": p["rejected"]} for p in pairs]
    # The reward model reads "prompt response" as text; the policy reads its template, then " response".
    rm = Dataset.from_list([{**p, "prompt": p["prompt"] + " "} for p in plain])
    dpo = Dataset.from_list([{"prompt": template(p["prompt"]), "chosen": " " + p["chosen"],
                              "rejected": " " + p["rejected"]} for p in plain])
    return rm, dpo


def _common(args, out: Path) -> dict:
    from grader.devices import pick_device

    device = pick_device(getattr(args, "device", None)).device
    return dict(output_dir=str(out), max_steps=args.steps, per_device_train_batch_size=args.batch_size,
                learning_rate=args.lr, logging_steps=1, save_strategy="no", report_to="none", seed=args.seed,
                use_cpu=device.type == "cpu", dataloader_num_workers=0, disable_tqdm=not args.progress)


def train_reward_model(args, dataset, out: Path) -> dict:
    from transformers import AutoModelForSequenceClassification, AutoTokenizer
    from trl import RewardConfig, RewardTrainer

    from grader.tiny_models import tiny_model_dir

    source = str(tiny_model_dir("bert")) if args.reward_model == "tiny" else args.reward_model
    tokenizer = AutoTokenizer.from_pretrained(source)
    if tokenizer.eos_token is None:  # TRL ends each text with the EOS token; BERT's end of text is [SEP]
        tokenizer.eos_token = tokenizer.sep_token
    model = AutoModelForSequenceClassification.from_pretrained(source, num_labels=1)
    model.config.pad_token_id = tokenizer.pad_token_id
    config = RewardConfig(**_common(args, out), max_length=min(tokenizer.model_max_length, 512))
    trainer = RewardTrainer(model=model, args=config, train_dataset=dataset, processing_class=tokenizer)
    result = trainer.train()
    trainer.save_model(str(out))
    tokenizer.save_pretrained(str(out))
    return {"train_loss": result.training_loss, "log": trainer.state.log_history}


def train_dpo(args, dataset, out: Path) -> dict:
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import DPOConfig, DPOTrainer

    from grader.capstone.policy import policy_dir

    source = str(policy_dir()) if args.model == "tiny" else args.model
    tokenizer = AutoTokenizer.from_pretrained(source)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    model = AutoModelForCausalLM.from_pretrained(source)
    positions = getattr(model.config, "n_positions", None) or getattr(model.config, "max_position_embeddings", 1024)
    config = DPOConfig(**_common(args, out), beta=args.beta, max_length=min(positions, 1024))
    trainer = DPOTrainer(model=model, args=config, train_dataset=dataset, processing_class=tokenizer)
    result = trainer.train()
    trainer.save_model(str(out))
    return {"train_loss": result.training_loss, "log": trainer.state.log_history}


def scale(args) -> dict:
    """Train the reward model and the DPO policy with TRL: ``<out>/reward_model``, ``<out>/dpo``, ``trl.json``."""
    _need_trl()
    from grader.capstone.policy import format_prompt

    out = Path(args.out)
    rm_data, dpo_data = datasets_from(Path(args.pairs), format_prompt)
    results = {"pairs": str(args.pairs), "steps": args.steps, "model": args.model, "reward_model": args.reward_model}
    if args.stage in ("reward", "both"):
        results["reward_trainer"] = train_reward_model(args, rm_data, out / "reward_model")
    if args.stage in ("dpo", "both"):
        results["dpo_trainer"] = train_dpo(args, dpo_data, out / "dpo")
    out.mkdir(parents=True, exist_ok=True)
    (out / "trl.json").write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    return results


def add_arguments(p: argparse.ArgumentParser, device: bool = True) -> None:
    from grader.capstone import work_dir

    p.add_argument("--pairs", default=str(work_dir() / "pairs.jsonl"),
                   help="preference pairs (JSON Lines, TRL format; default: %(default)s)")
    p.add_argument("--out", default=str(work_dir() / "trl"), help="where the trained models go (default: %(default)s)")
    p.add_argument("--model", default="tiny", help="policy: tiny (the capstone's), gpt2, or a local folder")
    p.add_argument("--reward-model", default="tiny",
                   help="reward model's encoder: tiny, bert-base-uncased, or a folder")
    p.add_argument("--stage", choices=("reward", "dpo", "both"), default="both")
    p.add_argument("--steps", type=int, default=20, help="optimizer steps of each trainer (default: %(default)s)")
    p.add_argument("--batch-size", type=int, default=8, help="pairs per device and step (default: %(default)s)")
    p.add_argument("--lr", type=float, default=5e-4, help="learning rate (default: %(default)s)")
    p.add_argument("--beta", type=float, default=0.1, help="DPO's beta (default: %(default)s)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--progress", action="store_true", help="show the trainers' progress bars")
    if device:  # the rlhf-course CLI adds its own --device
        p.add_argument("--device", default=None, help="cpu, cuda or mps (default: the course's choice)")


def scale_and_print(args) -> dict:
    results = scale(args)
    for name in ("reward_trainer", "dpo_trainer"):
        if name in results:
            print(f"{name}: {results['steps']} steps, mean training loss {results[name]['train_loss']:.4f}")
    print(f"models and trl.json -> {args.out}")
    return results


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m grader.capstone.trl_scale", description=__doc__.split("\n\n")[0])
    add_arguments(p)
    scale_and_print(p.parse_args(argv))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
