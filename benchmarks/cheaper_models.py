"""What int8 dynamic quantization and pruning buy on a CPU: sizes, perplexities, times and ratios.

    python benchmarks/cheaper_models.py            # the tiny trained GPT-2 and a GPT-2-small-sized stack
    python benchmarks/cheaper_models.py --threads 4

Prints, asserts nothing. Three parts:

1. The tiny GPT-2 trained on the course corpus (``grader.compression.trained_gpt2``), in float32, Conv1D
   swapped for nn.Linear, then ``torch.ao.quantization.quantize_dynamic`` on the block Linear layers:
   bytes of the saved state dict, held-out perplexity (PyTorch's int8 kernels, next to the course's exact
   reference arithmetic), forward time.
2. The same comparison of forward time on a randomly initialised GPT-2 with GPT-2 small's widths
   (768, 12 heads, 4 layers; timing does not need trained weights), where the matrices are large enough
   for int8 kernels to matter.
3. One 3072 x 768 matmul: dense, dense with 90% of the weights zeroed (unstructured), the same sparse
   matrix in CSR format, and a dense matrix with 90% of its rows removed (structured, physically smaller).

Times come from ``torch.utils.benchmark``, each variant timed in alternation with its baseline and the fastest
round kept, on this machine under its current load; the ratios carry the message, and they depend on the CPU
and on which int8 engine PyTorch picks.
"""

from __future__ import annotations

import argparse
import copy
import io
import warnings

import torch
from torch import nn
from torch.utils.benchmark import Timer

from grader.compression import (block_linears, conv1d_to_linear_, corpus_split, dynamic_int8_, perplexity,
                                prune_linears_, trained_gpt2)


def state_dict_bytes(model: nn.Module) -> int:
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    return buffer.getbuffer().nbytes


def quantize_blocks(model: nn.Module) -> nn.Module:
    """``quantize_dynamic`` on the transformer blocks' nn.Linear layers only (the tied LM head stays float)."""
    model.transformer.h = torch.ao.quantization.quantize_dynamic(model.transformer.h, {nn.Linear}, dtype=torch.qint8)
    return model


def seconds(fn, min_run_time: float = 0.3) -> float:
    """Seconds per call: the fastest of ``blocked_autorange``'s blocks (other processes only ever add time)."""
    return min(Timer(stmt="fn()", globals={"fn": fn}).blocked_autorange(min_run_time=min_run_time).times)


def paired_seconds(base, other, rounds: int = 5) -> tuple[float, float]:
    """Seconds per call of ``base`` and ``other``, timed in alternation and the fastest round of each kept,
    so that a change in the machine's load between the two does not pass for a difference between them."""
    times = [(seconds(base), seconds(other)) for _ in range(rounds)]
    return min(t for t, _ in times), min(t for _, t in times)


def forward_times(model: nn.Module, ids: torch.Tensor) -> tuple[float, float]:
    """Seconds of one no-grad forward of ``model`` and of its dynamically quantized copy on ``ids``."""
    quantized = quantize_blocks(copy.deepcopy(model))
    with torch.no_grad():
        return paired_seconds(lambda: model(input_ids=ids), lambda: quantized(input_ids=ids))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    # torch.ao.quantization and sparse CSR warn that they are deprecated / beta; still what torch 2.13 ships
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    warnings.filterwarnings("ignore", message=".*(Sparse CSR tensor support|torch.quantize_per_tensor)")
    print(f"torch {torch.__version__}, {args.threads} thread(s), quantized engine {torch.backends.quantized.engine}")

    model, tok = trained_gpt2()
    model = conv1d_to_linear_(model).float()
    _, held = corpus_split(tok)
    quantized = quantize_blocks(copy.deepcopy(model))
    reference = dynamic_int8_(copy.deepcopy(model).double(), per_channel=False)
    print("\n1. tiny trained GPT-2 (64 wide, 2 layers), block Linear layers quantized")
    fp_bytes, q_bytes = state_dict_bytes(model), state_dict_bytes(quantized)
    print(f"   state dict   float32 {fp_bytes:>8} bytes   dynamic int8 {q_bytes:>8} bytes   "
          f"ratio {fp_bytes / q_bytes:.2f}")
    linear_bytes = sum(m.weight.numel() * 4 for _, m in block_linears(model))
    print(f"   (block Linear weights are {linear_bytes} of the float32 bytes; the tied embedding stays float32)")
    print(f"   held-out perplexity   float32 {perplexity(model, held):.2f}   "
          f"quantize_dynamic {perplexity(quantized, held):.2f}"
          f"   course reference int8 (per-tensor weights) {perplexity(reference, held):.2f}")
    ids = held[:128].reshape(2, 64)
    t_fp, t_q = forward_times(model, ids)
    print(f"   forward (2 x 64 tokens)   float32 {t_fp * 1e3:.2f} ms   int8 {t_q * 1e3:.2f} ms   "
          f"int8 / float32 = {t_q / t_fp:.2f}")

    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(0)
    big = GPT2LMHeadModel(GPT2Config(vocab_size=512, n_positions=256, n_embd=768, n_layer=4, n_head=12,
                                        bos_token_id=0, eos_token_id=0)).eval()
    big = conv1d_to_linear_(big)
    ids = torch.randint(0, 512, (4, 128))
    t_fp, t_q = forward_times(big, ids)
    print("\n2. GPT-2-small widths (768, 4 layers, random weights), 4 x 128 tokens")
    print(f"   forward   float32 {t_fp * 1e3:.1f} ms   int8 {t_q * 1e3:.1f} ms   int8 / float32 = {t_q / t_fp:.2f}")
    big_int8 = quantize_blocks(copy.deepcopy(big))
    print(f"   state dict   float32 {state_dict_bytes(big)} bytes   int8 {state_dict_bytes(big_int8)} bytes")

    print("\n3. one (3072 x 768) weight times a (768 x 512) activation, float32")
    w = torch.randn(3072, 768)
    x = torch.randn(768, 512)
    holder = nn.Module()
    holder.transformer = nn.Module()
    holder.transformer.h = nn.ModuleList([nn.Linear(768, 3072, bias=False)])
    with torch.no_grad():
        holder.transformer.h[0].weight.copy_(w)
    print(f"   {'variant':<30} {'ms':>8}   time / dense (timed in alternation with dense)")
    for amount in (0.5, 0.9):
        zeroed = prune_linears_(copy.deepcopy(holder), amount).transformer.h[0].weight.detach()
        csr = zeroed.to_sparse_csr()
        small = w[w.norm(dim=1).argsort(descending=True)[: round(w.shape[0] * (1 - amount))]].contiguous()
        for name, fn in ((f"{amount:.0%} zeros, dense kernel", lambda z=zeroed: z @ x),
                         (f"{amount:.0%} zeros, CSR sparse kernel", lambda c=csr: c @ x),
                         (f"{1 - amount:.0%} of the rows kept, dense", lambda s=small: s @ x)):  # rows removed
            t_dense, t = paired_seconds(lambda: w @ x, fn)
            print(f"   {name:<30} {t * 1e3:8.2f}   {t / t_dense:5.2f}")


if __name__ == "__main__":
    main()
