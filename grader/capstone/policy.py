"""The policy worth aligning: the tiny GPT-2 after a short supervised fine-tuning on the capstone's demonstrations.

The untrained tiny GPT-2 writes noise. A few hundred SFT steps on ``grader/data/capstone/demonstrations.jsonl``
(each training prompt with two kind and two rude answers) make it answer in short sentences, in both styles:
the behaviour that feedback and RLHF then move. The steps are the SFT exercise's reference functions
(``build_example``, ``collate``, ``sft_step`` from ``solutions/sft.py``), seeded and single-threaded, so the
build is deterministic; the result is saved under the course's model cache in a folder named by a hash of
everything it depends on, and later calls load it in a second.

``load_policy(name="gpt2")`` (or a local directory) loads real weights as they are, with no fine-tuning.
"""

from __future__ import annotations

import hashlib
import json
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from grader.capstone import task
from grader.model_cache import cache_dir, recipe_key, save_atomically
from grader.tiny_models import Loaded, load_gpt2

CHAT_TEMPLATE = "User: {prompt}\nAssistant:"  # the SFT lesson's template; a completion follows after one space
TRAINING_LOG = "sft_training.json"
# Long enough for an answer to end: 94 % of the SFT policy's samples reach EOS within 32 new tokens (57 % within 24).
COMPLETION_TOKENS = 32


@dataclass(frozen=True)
class SFTSettings:
    steps: int = 300
    batch_size: int = 16
    lr: float = 3e-3
    max_length: int = 64
    seed: int = 0


def format_prompt(prompt: str) -> str:
    """The text the policy continues: the chat template around ``prompt`` (the completion follows after a space)."""
    return CHAT_TEMPLATE.format(prompt=prompt)


def _sft_path() -> Path:
    from grader.exercises import course_root

    root = course_root()
    path = root / "solutions" / "sft.py" if root else None
    if path is None or not path.is_file():
        raise FileNotFoundError("the capstone's policy is built with solutions/sft.py, which was not found: "
                                "run inside a clone of the course (or set RLHF_COURSE_ROOT)")
    return path


def sft_functions() -> dict:
    """The SFT exercise's reference functions (``build_example``, ``collate``, ``sft_step``), from ``solutions/sft.py``."""
    from grader.learner import load_namespace

    return load_namespace(_sft_path())


def _sft_code() -> bytes:
    """What ``load_namespace`` runs of ``solutions/sft.py`` (its definitions), without comments or demo cells:
    an edit to the notebook's text does not rebuild the policy, an edit to a function does."""
    import ast

    from grader.learner import keep_definitions

    return ast.dump(keep_definitions(ast.parse(_sft_path().read_text(encoding="utf-8")))).encode()


def policy_key(settings: SFTSettings = SFTSettings()) -> str:
    """The cache folder's name: changes with the demonstrations, the settings, the tiny model and the SFT code."""
    h = hashlib.sha256(task.DATA.joinpath("demonstrations.jsonl").read_bytes())
    h.update(json.dumps(asdict(settings), sort_keys=True).encode())
    h.update(recipe_key("gpt2", 0).encode() + CHAT_TEMPLATE.encode() + _sft_code())
    return f"capstone-policy-{h.hexdigest()[:12]}"


def policy_dir(settings: SFTSettings = SFTSettings(), progress: bool = True) -> Path:
    """The folder holding the fine-tuned tiny policy (built on first use)."""
    target = cache_dir() / policy_key(settings)
    if not (target / "config.json").exists():
        build(settings, target, progress)
    return target


@contextmanager
def _single_thread():
    """One CPU thread: float sums then happen in the same order on every run, so the weights are reproducible."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def train_sft(model, tokenizer, settings: SFTSettings, progress: bool = True) -> list[float]:
    """Fine-tune ``model`` (on CPU) on the demonstrations; returns the loss of every step."""
    from tqdm.auto import tqdm

    sft = sft_functions()
    examples = [sft["build_example"](tokenizer, format_prompt(d["prompt"]), " " + d["response"], settings.max_length)
                for d in task.demonstrations()]
    gen = torch.Generator().manual_seed(settings.seed)
    optimizer = torch.optim.AdamW(model.parameters(), lr=settings.lr)
    losses, order = [], []
    bar = tqdm(range(settings.steps), desc="SFT of the capstone policy", unit="step", disable=not progress,
               leave=False)
    for _ in bar:
        if len(order) < settings.batch_size:  # a fresh seeded permutation each epoch
            order += torch.randperm(len(examples), generator=gen).tolist()
        picked, order = order[:settings.batch_size], order[settings.batch_size:]
        batch = sft["collate"]([examples[i] for i in picked], tokenizer.pad_token_id)
        losses.append(sft["sft_step"](model, optimizer, batch)["loss"])
        bar.set_postfix(loss=f"{losses[-1]:.3f}")
    model.eval()
    return losses


def build(settings: SFTSettings, target: Path, progress: bool = True) -> None:
    """Fine-tune the tiny GPT-2 with ``settings`` and save it (with its loss log) in ``target``, atomically."""
    model, tokenizer, _ = load_gpt2(device="cpu")
    with _single_thread():
        torch.manual_seed(settings.seed)
        losses = train_sft(model, tokenizer, settings, progress)

    def write(folder: Path) -> None:
        model.save_pretrained(folder)
        tokenizer.save_pretrained(folder)
        (folder / TRAINING_LOG).write_text(json.dumps({"settings": asdict(settings), "losses": losses}))

    save_atomically(target, write)


def training_losses(settings: SFTSettings = SFTSettings()) -> list[float]:
    """The SFT loss at every step of the cached policy's build."""
    return json.loads((policy_dir(settings) / TRAINING_LOG).read_text())["losses"]


def load_policy(device=None, name: str = "tiny", settings: SFTSettings = SFTSettings(),
                progress: bool = True) -> Loaded:
    """The capstone's policy, its tokenizer and device, in eval mode.

    name: "tiny" (the tiny GPT-2 fine-tuned on the demonstrations, built once and cached), or a hub name such
    as "gpt2" or a local directory, loaded as it is.
    """
    if name != "tiny":
        return load_gpt2(name, device=device)
    return load_gpt2(str(policy_dir(settings, progress)), device=device)


def generate(model, tokenizer, prompts, n_per_prompt: int = 4, max_new_tokens: int = COMPLETION_TOKENS,
             seed: int = 0) -> list[list[str]]:
    """``n_per_prompt`` sampled completions for each prompt: ``[[str] * n_per_prompt] * len(prompts)``.

    Samples come from the model's own distribution (temperature 1, no top-k or top-p), the one whose
    log-probabilities PPO and DPO use. The same seed, prompts and model give the same completions; the global
    random state is left as it was. A completion is the text after the template, up to EOS, stripped.
    """
    device = next(model.parameters()).device
    side = tokenizer.padding_side
    tokenizer.padding_side = "left"  # generation appends on the right, so the prompts end at the same column
    try:
        batch = tokenizer([format_prompt(p) for p in prompts], padding=True, return_tensors="pt").to(device)
    finally:
        tokenizer.padding_side = side
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []), torch.no_grad():
        torch.manual_seed(seed)
        out = model.generate(**batch, do_sample=True, temperature=1.0, top_k=0, top_p=1.0,
                             max_new_tokens=max_new_tokens, num_return_sequences=n_per_prompt,
                             pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id)
    texts = tokenizer.batch_decode(out[:, batch["input_ids"].shape[1]:], skip_special_tokens=True)
    texts = [t.split("\nUser:")[0].strip() for t in texts]  # a model that runs on into a new turn is cut there
    return [texts[i * n_per_prompt:(i + 1) * n_per_prompt] for i in range(len(prompts))]
