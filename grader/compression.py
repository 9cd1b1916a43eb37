"""Making the tiny GPT-2 cheaper: int8 quantization, pruning and distillation, written to be read.

Used by the lesson's figure scripts (``lessons/figures/cheaper_models_*.py``), by
``benchmarks/cheaper_models.py`` and by ``tests/test_compression.py``.

* **A model worth compressing.** ``trained_gpt2()`` trains the course's tiny GPT-2 on
  ``grader/data/corpus.txt`` (every tenth line held out) for ``TRAIN_STEPS`` AdamW steps, in float64
  and from fixed seeds, so that the weights, and every perplexity measured on them, are the same on
  any CPU to many more digits than the lesson quotes. The result is cached beside the tiny models.
* **Quantization**, by hand: ``quant_params`` / ``quantize`` / ``dequantize`` (symmetric or
  asymmetric, per tensor or per channel, any bit width), ``quantize_weights_`` (weight-only, in place)
  and ``DynamicInt8Linear`` (int8 weights and activations quantized on the fly, the integer matmul done
  exactly in float64). This reference arithmetic is what the figures use: PyTorch's int8 kernels
  (``torch.ao.quantization.quantize_dynamic``, measured by the benchmark) differ between CPUs.
* **Pruning** with ``torch.nn.utils.prune``: ``prune_linears_`` (L1 unstructured or L2 structured on
  output rows) and ``sparsity``.
* **Distillation**: ``distillation_loss`` (forward or reverse KL on temperature-softened
  distributions, times T^2) and ``train_lm`` (a small training loop for any per-batch loss).

GPT-2 in ``transformers`` uses ``Conv1D`` layers (``y = x @ W + b`` with ``W`` of shape (in, out)),
which neither ``quantize_dynamic`` nor the row conventions of ``prune`` know about; ``conv1d_to_linear_``
swaps them for equivalent ``nn.Linear`` layers first.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from grader.model_cache import CORPUS, cache_dir, recipe_key

TRAIN_STEPS, TRAIN_LR, BATCH, BLOCK = 600, 3e-3, 16, 64  # about 45 s of one core; held-out perplexity 41.6
HELD_OUT_EVERY = 10  # line i of the corpus is held out when i % 10 == 9


# --- data, perplexity and a training loop ---------------------------------------------------------

def corpus_split(tokenizer) -> tuple[torch.Tensor, torch.Tensor]:
    """(train_ids, held_out_ids), two 1-D LongTensors: the corpus's non-empty lines, every tenth held out,
    each part joined by newlines and tokenized as one text."""
    lines = [line for line in CORPUS.read_text(encoding="utf-8").splitlines() if line.strip()]
    held = [line for i, line in enumerate(lines) if i % HELD_OUT_EVERY == HELD_OUT_EVERY - 1]
    train = [line for i, line in enumerate(lines) if i % HELD_OUT_EVERY != HELD_OUT_EVERY - 1]
    encode = lambda part: torch.tensor(tokenizer("\n".join(part), verbose=False)["input_ids"])
    return encode(train), encode(held)


def blocks(ids: torch.Tensor, block: int = BLOCK) -> torch.Tensor:
    """(N, block + 1) non-overlapping windows of a 1-D id tensor: inputs ``[:, :-1]``, targets ``[:, 1:]``."""
    n = (len(ids) - 1) // block
    starts = torch.arange(n) * block
    return torch.stack([ids[s:s + block + 1] for s in starts.tolist()])


def random_batches(ids: torch.Tensor, steps: int, seed: int = 0, batch: int = BATCH,
                   block: int = BLOCK) -> Iterable[torch.Tensor]:
    """``steps`` batches of (batch, block + 1) windows starting at seeded random offsets."""
    gen = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        starts = torch.randint(0, len(ids) - block - 1, (batch,), generator=gen)
        yield torch.stack([ids[s:s + block + 1] for s in starts.tolist()])


@torch.no_grad()
def perplexity(model: nn.Module, ids: torch.Tensor, block: int = BLOCK) -> float:
    """exp(mean next-token cross-entropy) of ``model`` over the 1-D ``ids``, read in blocks of ``block``
    tokens (each block starts a fresh context), in the model's own dtype."""
    windows = blocks(ids, block)
    logits = model(input_ids=windows[:, :-1]).logits  # (N, block, V)
    nll = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), windows[:, 1:].reshape(-1))
    return nll.exp().item()


@torch.no_grad()
def divergences(p_model: nn.Module, q_model: nn.Module, ids: torch.Tensor,
                block: int = BLOCK) -> tuple[float, float, float]:
    """Means over the next-token positions of ``ids`` (read as ``perplexity`` reads them) of
    KL(p || q), KL(q || p) and the entropy of q, in nats."""
    windows = blocks(ids, block)[:, :-1]
    log_p = F.log_softmax(p_model(input_ids=windows).logits, -1)  # (N, block, V)
    log_q = F.log_softmax(q_model(input_ids=windows).logits, -1)
    kl_pq = (log_p.exp() * (log_p - log_q)).sum(-1).mean().item()
    kl_qp = (log_q.exp() * (log_q - log_p)).sum(-1).mean().item()
    return kl_pq, kl_qp, -(log_q.exp() * log_q).sum(-1).mean().item()


def next_token_loss(model: nn.Module, batch: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy of ``model`` on a (B, T + 1) batch: the hard-label loss."""
    logits = model(input_ids=batch[:, :-1]).logits  # (B, T, V)
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), batch[:, 1:].reshape(-1))


def train_lm(model: nn.Module, ids: torch.Tensor, steps: int,
             loss_fn: Callable[[nn.Module, torch.Tensor], torch.Tensor] = next_token_loss, lr: float = TRAIN_LR,
             seed: int = 0, every: int = 0, on_step: Callable[[int, nn.Module], None] | None = None) -> nn.Module:
    """Train ``model`` in place with AdamW (no weight decay) on seeded random windows of ``ids``.

    ``loss_fn(model, batch)`` gets a (B, T + 1) batch. If ``every`` > 0, ``on_step(step, model)`` is called
    (in eval mode, under no_grad) before the first step and after every ``every`` steps. Returns ``model``,
    in eval mode.
    """
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.0)

    def report(step: int) -> None:
        if every and on_step and step % every == 0:
            model.eval()
            with torch.no_grad():
                on_step(step, model)

    report(0)
    for step, batch in enumerate(random_batches(ids, steps, seed), 1):
        model.train()
        loss = loss_fn(model, batch)
        opt.zero_grad()
        loss.backward()
        opt.step()
        report(step)
    return model.eval()


def trained_gpt2(steps: int = TRAIN_STEPS):
    """``(model, tokenizer)``: the tiny GPT-2 trained ``steps`` steps on the course corpus, float64, eval mode.

    The weights are cached in the tiny models' cache directory under a name that changes with the corpus,
    the model recipe and the training recipe; a second call loads them (well under a second).
    """
    from grader.tiny_models import load_gpt2

    model, tokenizer, _ = load_gpt2(device="cpu")
    model = model.double()
    name = f"{recipe_key('gpt2', 0)}-trained-{steps}x{BATCH}x{BLOCK}-lr{TRAIN_LR}-v1.pt"
    path = cache_dir() / name
    if path.exists():
        model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
        return model.eval(), tokenizer
    train_ids, _ = corpus_split(tokenizer)
    torch.manual_seed(0)  # dropout is off in the tiny config; this only pins anything else random
    train_lm(model, train_ids, steps)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    torch.save(model.state_dict(), tmp)
    os.replace(tmp, path)  # atomic: a concurrent trainer writes the same bytes
    return model, tokenizer


# --- Conv1D -> nn.Linear ----------------------------------------------------------------------------

def conv1d_to_linear_(model: nn.Module) -> nn.Module:
    """Replace every ``transformers`` ``Conv1D`` in ``model`` by the equivalent ``nn.Linear``, in place.

    Conv1D computes ``x @ W + b`` with ``W`` (in, out); ``nn.Linear`` computes ``x @ W.T + b`` with ``W``
    (out, in), so the weight is transposed. Returns ``model``.
    """
    from transformers.pytorch_utils import Conv1D

    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, Conv1D):
                n_in, n_out = child.weight.shape
                linear = nn.Linear(n_in, n_out, dtype=child.weight.dtype)
                with torch.no_grad():
                    linear.weight.copy_(child.weight.T)
                    linear.bias.copy_(child.bias)
                setattr(parent, name, linear)
    return model


def block_linears(model: nn.Module) -> list[tuple[str, nn.Linear]]:
    """The ``nn.Linear`` layers inside the transformer blocks (not the tied embedding / LM head), by name.
    Call ``conv1d_to_linear_`` first on a GPT-2."""
    return [(name, m) for name, m in model.named_modules()
            if isinstance(m, nn.Linear) and name.startswith("transformer.h.")]


# --- quantization -------------------------------------------------------------------------------------

class QuantParams(NamedTuple):
    scale: torch.Tensor  # () per tensor, or broadcastable to x (a 1 on every axis but the channel axis)
    zero_point: torch.Tensor  # same shape as scale; 0 when symmetric
    qmin: int
    qmax: int


def quant_params(x: torch.Tensor, bits: int = 8, axis: int | None = None, symmetric: bool = True) -> QuantParams:
    """Scale and zero point for round-to-nearest quantization of ``x`` to ``bits``-bit integers.

    ``axis=None``: one scale for the whole tensor. ``axis=k``: one scale per slice along axis ``k``
    (``axis=0`` on an (out, in) weight gives one per output channel, the usual "per-channel").
    Symmetric: integers in [-(2^(b-1) - 1), 2^(b-1) - 1], zero point 0, scale = max|x| / qmax.
    Asymmetric: integers in [0, 2^b - 1], scale = (max - min) / qmax over a range stretched to include 0,
    zero point = round(-min / scale), so that 0.0 is represented exactly.
    """
    dims = tuple(d for d in range(x.dim()) if d != (axis % x.dim() if axis is not None else None))
    if symmetric:
        qmin, qmax = -(2 ** (bits - 1) - 1), 2 ** (bits - 1) - 1
        absmax = x.abs().amax(dim=dims, keepdim=axis is not None) if dims else x.abs()
        scale = absmax.clamp_min(torch.finfo(x.dtype).tiny) / qmax
        return QuantParams(scale, torch.zeros_like(scale), qmin, qmax)
    qmin, qmax = 0, 2 ** bits - 1
    lo = (x.amin(dim=dims, keepdim=axis is not None) if dims else x).clamp(max=0)
    hi = (x.amax(dim=dims, keepdim=axis is not None) if dims else x).clamp(min=0)
    scale = ((hi - lo) / qmax).clamp_min(torch.finfo(x.dtype).tiny)
    zero_point = torch.round(-lo / scale).clamp(qmin, qmax)
    return QuantParams(scale, zero_point, qmin, qmax)


def quantize(x: torch.Tensor, p: QuantParams) -> torch.Tensor:
    """Integers ``clamp(round(x / scale) + zero_point, qmin, qmax)``, same shape as ``x`` (int32 storage)."""
    return (torch.round(x / p.scale) + p.zero_point).clamp(p.qmin, p.qmax).to(torch.int32)


def dequantize(q: torch.Tensor, p: QuantParams, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """The real values ``(q - zero_point) * scale`` the integers stand for."""
    return (q.to(dtype) - p.zero_point.to(dtype)) * p.scale.to(dtype)


def fake_quantize(x: torch.Tensor, bits: int = 8, axis: int | None = None, symmetric: bool = True) -> torch.Tensor:
    """``dequantize(quantize(x))`` in ``x``'s dtype: what a quantized tensor is worth in real numbers."""
    p = quant_params(x, bits, axis, symmetric)
    return dequantize(quantize(x, p), p, x.dtype)


@torch.no_grad()
def quantize_weights_(model: nn.Module, bits: int = 8, per_channel: bool = True) -> nn.Module:
    """Weight-only quantization, in place: every block ``nn.Linear`` weight (out, in) is replaced by its
    symmetric ``bits``-bit round trip, with one scale per output row (``per_channel``) or per matrix.
    Biases, layer norms, embeddings and the tied LM head stay in floating point. Returns ``model``."""
    for _, linear in block_linears(model):
        linear.weight.copy_(fake_quantize(linear.weight, bits, axis=0 if per_channel else None))
    return model


class DynamicInt8Linear(nn.Module):
    """A reference for dynamic int8 quantization of one ``nn.Linear``, computed exactly.

    Weights: int8, symmetric, one scale per output row (or per matrix), quantized once.
    Activations: quantized on the fly, per call, to uint8 with an asymmetric per-tensor scale over the
    whole input (what PyTorch's dynamic quantization does). The product of the integer matrices is
    exact in float64 (every partial sum is an integer far below 2^53), then rescaled and the float bias
    added: ``y = s_x * s_w * (q_x - z_x) @ q_w.T + b``. Input (..., in), output (..., out).
    """

    def __init__(self, linear: nn.Linear, per_channel: bool = True):
        super().__init__()
        w = linear.weight.detach().double()
        self.w_params = quant_params(w, 8, axis=0 if per_channel else None)
        self.register_buffer("q_weight", quantize(w, self.w_params).to(torch.int8))  # (out, in)
        self.register_buffer("bias", None if linear.bias is None else linear.bias.detach().clone())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x_params = quant_params(x.detach().double(), 8, axis=None, symmetric=False)
        q_x = quantize(x.double(), x_params).double() - x_params.zero_point  # exact small integers
        acc = q_x @ self.q_weight.double().T  # (..., out): integer-valued, exact in float64
        y = acc * x_params.scale * self.w_params.scale.reshape(-1)
        if self.bias is not None:
            y = y + self.bias.double()
        return y.to(x.dtype)


def dynamic_int8_(model: nn.Module, per_channel: bool = True) -> nn.Module:
    """Swap every block ``nn.Linear`` of ``model`` for a ``DynamicInt8Linear``, in place. Returns ``model``."""
    for name, linear in block_linears(model):
        parent, child = name.rsplit(".", 1)
        setattr(model.get_submodule(parent), child, DynamicInt8Linear(linear, per_channel))
    return model


def weight_bytes(numel: int, bits: int, n_scales: int = 0, scale_bytes: int = 4) -> int:
    """Storage for ``numel`` weights at ``bits`` bits each (packed), plus ``n_scales`` float scales."""
    return (numel * bits + 7) // 8 + n_scales * scale_bytes


# --- pruning --------------------------------------------------------------------------------------------

def prune_linears_(model: nn.Module, amount: float, structured: bool = False) -> nn.Module:
    """Prune every block ``nn.Linear`` weight (out, in) in place, each layer to the same ``amount``.

    Unstructured: ``prune.l1_unstructured`` zeros the ``amount`` fraction of weights with the smallest |w|.
    Structured: ``prune.ln_structured(n=2, dim=0)`` zeros the ``amount`` fraction of whole rows (output
    neurons) with the smallest L2 norm; the bias of a pruned row is kept, as ``prune`` leaves biases alone.
    ``prune.remove`` then makes the zeros permanent (no mask or hook left). Returns ``model``.
    """
    from torch.nn.utils import prune

    for _, linear in block_linears(model):
        if structured:
            prune.ln_structured(linear, "weight", amount=amount, n=2, dim=0)
        else:
            prune.l1_unstructured(linear, "weight", amount=amount)
        prune.remove(linear, "weight")
    return model


def sparsity(model: nn.Module) -> float:
    """Fraction of exact zeros among the block ``nn.Linear`` weights."""
    weights = [linear.weight for _, linear in block_linears(model)]
    return sum(int((w == 0).sum()) for w in weights) / sum(w.numel() for w in weights)


# --- distillation -------------------------------------------------------------------------------------------

def distillation_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor, temperature: float = 1.0,
                      reverse: bool = False) -> torch.Tensor:
    """T^2 times the mean over positions of a KL between the softened distributions softmax(z / T).

    Logits (..., V); every leading position counts once. Forward (default): KL(p_teacher || p_student),
    Hinton et al.'s soft-target loss up to the teacher's entropy, which does not depend on the student.
    Reverse: KL(p_student || p_teacher), the mode-seeking direction. The teacher is never differentiated.
    The gradient of the forward loss with respect to one position's student logits is
    T * (p_student - p_teacher) / (number of positions).
    """
    V = student_logits.shape[-1]
    log_s = F.log_softmax(student_logits.reshape(-1, V) / temperature, dim=-1)  # (N, V)
    log_t = F.log_softmax(teacher_logits.detach().reshape(-1, V) / temperature, dim=-1)
    if reverse:
        kl = (log_s.exp() * (log_s - log_t)).sum(-1)
    else:
        kl = (log_t.exp() * (log_t - log_s)).sum(-1)
    return temperature ** 2 * kl.mean()


def student_config(teacher_config, n_embd: int = 32, n_layer: int = 1, n_head: int = 2):
    """A smaller GPT-2 config sharing the teacher's vocabulary and context length."""
    from transformers import GPT2Config

    return GPT2Config(**{**teacher_config.to_dict(), "n_embd": n_embd, "n_layer": n_layer, "n_head": n_head})


def distillation_objective(teacher: nn.Module, temperature: float = 1.0, hard_weight: float = 0.0,
                           reverse: bool = False) -> Callable[[nn.Module, torch.Tensor], torch.Tensor]:
    """A ``loss_fn`` for ``train_lm``: ``(1 - hard_weight) * distillation_loss + hard_weight * hard-label loss``
    of the student on a (B, T + 1) batch, the teacher's logits computed without gradients."""
    def loss_fn(student: nn.Module, batch: torch.Tensor) -> torch.Tensor:
        inputs = batch[:, :-1]
        with torch.no_grad():
            teacher_logits = teacher(input_ids=inputs).logits  # (B, T, V)
        logits = student(input_ids=inputs).logits
        soft = distillation_loss(logits, teacher_logits, temperature, reverse)
        if not hard_weight:
            return soft
        hard = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), batch[:, 1:].reshape(-1))
        return (1 - hard_weight) * soft + hard_weight * hard
    return loss_fn
