"""The capstone's hyper-parameters, in one place; torch-free, so that the CLI's ``--help`` shows the defaults
without loading torch. ``max_new_tokens=None`` means the policy's ``COMPLETION_TOKENS``."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path


def _completion_tokens() -> int:
    from grader.capstone.policy import COMPLETION_TOKENS

    return COMPLETION_TOKENS


@dataclass
class PPOConfig:
    steps: int = 30
    batch_size: int = 32  # responses per iteration
    max_new_tokens: int | None = None
    beta: float = 0.1  # KL coefficient per token
    lr: float = 2e-4
    epochs: int = 4
    clip_eps: float = 0.2
    vf_coef: float = 0.5
    gamma: float = 1.0
    lam: float = 0.95

    def __post_init__(self):
        self.max_new_tokens = self.max_new_tokens or _completion_tokens()

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass
class DPOConfig:
    steps: int = 40
    batch_size: int = 16  # pairs per step
    beta: float = 0.1
    lr: float = 1e-4
    eval_every: int = 5
    eval_samples: int = 32  # responses sampled at each probe of reward and KL
    max_new_tokens: int | None = None  # of the probes' samples

    def __post_init__(self):
        self.max_new_tokens = self.max_new_tokens or _completion_tokens()

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass
class RunConfig:
    out: Path
    db: Path
    seed: int = 0
    device: str | None = None
    model: str = "tiny"  # the policy: "tiny" (the SFT'd tiny GPT-2), a hub name such as "gpt2", or a folder
    reward_model: str = "tiny"  # the reward model's encoder: "tiny", "bert-base-uncased" or a folder
    feedback: str = "comparisons"  # or "ratings": which feedback to collect and which reward-model loss to use
    noise: float = 0.1  # the simulated labeller's probability of a random answer
    samples_per_prompt: int = 8  # feedback: completions sampled per training prompt (compared two by two)
    feedback_tokens: int | None = None
    held_out: float = 0.2  # the fraction of pairs kept out of reward-model training, to measure its accuracy
    rm_steps: int = 80
    rm_batch: int = 16
    rm_lr: float = 1e-3
    rm_hidden: int = 64
    eval_per_prompt: int = 8
    force_reference: bool = False
    ppo: PPOConfig = field(default_factory=PPOConfig)
    dpo: DPOConfig = field(default_factory=DPOConfig)

    def __post_init__(self):
        self.out, self.db = Path(self.out), Path(self.db)
        self.feedback_tokens = self.feedback_tokens or _completion_tokens()
        if isinstance(self.ppo, dict):
            self.ppo = PPOConfig(**self.ppo)
        if isinstance(self.dpo, dict):
            self.dpo = DPOConfig(**self.dpo)

    def hyperparameters(self) -> dict:
        return {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(self).items()}
