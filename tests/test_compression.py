"""grader/compression.py: the quantization arithmetic, pruning and the distillation loss of the lesson
'Making models cheaper'. Small tensors and the untrained tiny GPT-2 only (no training here)."""

import copy

import pytest
import torch
from torch import nn

from grader.compression import (DynamicInt8Linear, block_linears, conv1d_to_linear_, dequantize, distillation_loss,
                                fake_quantize, prune_linears_, quant_params, quantize, quantize_weights_, sparsity)


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize("bits", [8, 4])
@pytest.mark.parametrize("axis", [None, 0, 1])
@pytest.mark.parametrize("symmetric", [True, False])
def test_round_trip_error_is_at_most_half_a_step(bits, axis, symmetric):
    x = torch.randn(16, 24, generator=gen(), dtype=torch.float64) * 3 + 0.5
    p = quant_params(x, bits, axis, symmetric)
    q = quantize(x, p)
    assert int(q.min()) >= p.qmin and int(q.max()) <= p.qmax
    err = (dequantize(q, p) - x).abs()
    assert bool((err <= p.scale / 2 * (1 + 1e-9)).all())
    # round to nearest uses the grid: the worst error is close to the bound, not far below it
    assert float((err / (p.scale / 2)).max()) > 0.9


def test_zero_is_exact_and_asymmetric_uses_the_range_of_one_signed_data():
    x = torch.rand(1000, generator=gen(1), dtype=torch.float64) * 6  # all positive, like a ReLU/GELU output
    x[0] = 0.0
    sym, asym = quant_params(x, 8), quant_params(x, 8, symmetric=False)
    for p in (sym, asym):
        assert float(dequantize(quantize(x[:1], p), p)) == 0.0
    # the symmetric grid wastes its negative half on data that are never negative: twice the step
    assert float(sym.scale / asym.scale) == pytest.approx(255 / 127, rel=1e-6)
    asym_error = float((fake_quantize(x, symmetric=False) - x).abs().mean())
    assert asym_error < 0.6 * float((fake_quantize(x) - x).abs().mean())


def test_per_channel_beats_per_tensor_when_one_channel_has_outliers():
    x = torch.randn(64, 32, generator=gen(2), dtype=torch.float64)
    x[:, 5] *= 50  # one outlier column (a feature), as in LLM activations
    per_tensor = (fake_quantize(x) - x).abs()
    per_column = (fake_quantize(x, axis=1) - x).abs()
    normal = torch.ones(32, dtype=torch.bool)
    normal[5] = False
    assert float(per_column.mean()) < float(per_tensor.mean())
    # the damage is to the ordinary columns: the outlier sets a step ~50x too coarse for them
    assert float(per_column[:, normal].mean()) < 0.1 * float(per_tensor[:, normal].mean())
    # one scale per *row* helps far less: every row still contains an outlier that sets its step
    per_row = (fake_quantize(x, axis=0) - x).abs()
    assert float(per_column[:, normal].mean()) < 0.2 * float(per_row[:, normal].mean())


def test_int8_linear_reference_is_close_to_the_float_layer():
    linear = nn.Linear(32, 16, dtype=torch.float64)
    torch.nn.init.normal_(linear.weight, generator=gen(3))
    x = torch.randn(5, 7, 32, generator=gen(4), dtype=torch.float64)
    with torch.no_grad():
        exact, approx = linear(x), DynamicInt8Linear(linear)(x)
    assert approx.shape == exact.shape
    rel = float((approx - exact).norm() / exact.norm())
    assert 0 < rel < 0.02  # int8 on both sides: about 1% error, but not none


@pytest.fixture(scope="module")
def tiny():
    from grader import load_gpt2

    model, tok, _ = load_gpt2(device="cpu")
    return model.double(), tok


def test_conv1d_to_linear_keeps_the_logits(tiny):
    model, tok = tiny
    ids = torch.tensor([tok("The bus stop is about ten minutes from our house.")["input_ids"]])
    converted = conv1d_to_linear_(copy.deepcopy(model))
    with torch.no_grad():
        before, after = model(input_ids=ids).logits, converted(input_ids=ids).logits
    assert torch.allclose(before, after, rtol=0, atol=1e-10)
    assert len(block_linears(converted)) == 4 * model.config.n_layer
    assert block_linears(model) == []  # a GPT-2 from transformers has Conv1D, not Linear, layers


@pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::UserWarning")
def test_quantize_dynamic_needs_linear_layers(tiny):
    """The lesson's first common mistake: on a stock GPT-2, quantize_dynamic({nn.Linear}) swaps only the LM head."""
    def swapped(model):
        quantized = torch.ao.quantization.quantize_dynamic(copy.deepcopy(model).float(), {nn.Linear}, dtype=torch.qint8)
        dynamic_linear = torch.ao.nn.quantized.dynamic.Linear
        return sorted(name for name, m in quantized.named_modules() if isinstance(m, dynamic_linear))

    model = tiny[0]
    assert swapped(model) == ["lm_head"]
    blocks_ = [name for name, _ in block_linears(conv1d_to_linear_(copy.deepcopy(model)))]
    assert swapped(conv1d_to_linear_(copy.deepcopy(model))) == sorted(blocks_ + ["lm_head"])


def test_weight_only_quantization_changes_the_block_weights_only(tiny):
    model = conv1d_to_linear_(copy.deepcopy(tiny[0]))
    quantized = quantize_weights_(copy.deepcopy(model), bits=4, per_channel=True)
    for (_, a), (_, b) in zip(block_linears(model), block_linears(quantized)):
        assert len(torch.unique(b.weight[0])) <= 15  # 4-bit symmetric: at most 15 levels per row
        assert not torch.equal(a.weight, b.weight)
    assert torch.equal(model.transformer.wte.weight, quantized.transformer.wte.weight)


@pytest.mark.parametrize("amount", [0.3, 0.75])
def test_unstructured_pruning_reaches_the_asked_sparsity(tiny, amount):
    model = prune_linears_(conv1d_to_linear_(copy.deepcopy(tiny[0])), amount)
    for _, linear in block_linears(model):
        w = linear.weight
        assert int((w == 0).sum()) == round(amount * w.numel())
        assert not hasattr(linear, "weight_mask")  # prune.remove made it permanent
    assert sparsity(model) == pytest.approx(amount, abs=1e-3)


def test_unstructured_pruning_removes_the_smallest_weights():
    linear = nn.Linear(10, 10)
    model = nn.Module()
    model.transformer = nn.Module()
    model.transformer.h = nn.ModuleList([nn.Sequential(linear)])
    before = linear.weight.detach().clone()
    prune_linears_(model, 0.5)
    threshold = before.abs().flatten().sort().values[49]
    assert bool((linear.weight[before.abs() <= threshold] == 0).all())
    assert bool((linear.weight[before.abs() > threshold] == before[before.abs() > threshold]).all())


def test_structured_pruning_zeros_whole_rows_of_smallest_norm(tiny):
    model = conv1d_to_linear_(copy.deepcopy(tiny[0]))
    norms = {name: linear.weight.detach().norm(dim=1) for name, linear in block_linears(model)}
    prune_linears_(model, 0.25, structured=True)
    for name, linear in block_linears(model):
        w = linear.weight
        zero_rows = (w == 0).all(dim=1)
        assert int(zero_rows.sum()) == round(0.25 * w.shape[0])
        assert bool((w[~zero_rows] != 0).any(dim=1).all())
        assert float(norms[name][zero_rows].max()) <= float(norms[name][~zero_rows].min())


def test_distillation_loss_is_zero_only_when_the_student_matches():
    teacher = torch.randn(3, 5, 11, generator=gen(5), dtype=torch.float64)
    for reverse in (False, True):
        for T in (1.0, 2.0):
            assert float(distillation_loss(teacher.clone(), teacher, T, reverse)) == pytest.approx(0, abs=1e-12)
            # adding a constant to every logit of a position changes nothing: softmax is shift-invariant
            assert float(distillation_loss(teacher + 3.0, teacher, T, reverse)) == pytest.approx(0, abs=1e-12)
            student = teacher + 0.3 * torch.randn(teacher.shape, generator=gen(6), dtype=torch.float64)
            assert float(distillation_loss(student, teacher, T, reverse)) > 1e-4


@pytest.mark.parametrize("T", [1.0, 2.0, 5.0])
def test_distillation_gradient_is_T_times_the_probability_gap(T):
    """d/dz_s of T^2 KL(p_t || p_s) at temperature T, averaged over N positions, is T (p_s - p_t) / N."""
    teacher = torch.randn(4, 9, generator=gen(7), dtype=torch.float64) * 2
    student = torch.randn(4, 9, generator=gen(8), dtype=torch.float64).requires_grad_()
    distillation_loss(student, teacher, T).backward()
    p_s, p_t = torch.softmax(student.detach() / T, -1), torch.softmax(teacher / T, -1)
    assert torch.allclose(student.grad, T * (p_s - p_t) / 4, rtol=1e-6, atol=1e-12)
    # without the T^2 factor the same gradient would be (p_s - p_t) / (T N): T^2 times smaller
    student.grad = None
    (distillation_loss(student, teacher, T) / T ** 2).backward()
    assert torch.allclose(student.grad, (p_s - p_t) / (T * 4), rtol=1e-6, atol=1e-12)


def test_reverse_kl_prefers_one_mode():
    """Fitting a single-peaked student to a two-peaked teacher: forward KL is lowest for a student that
    spreads over both peaks, reverse KL for one that sits on a peak (the kl_divergence lesson's point)."""
    p_t = torch.tensor([0.49, 0.02, 0.49], dtype=torch.float64)
    spread = torch.tensor([0.34, 0.32, 0.34], dtype=torch.float64)
    one_peak = torch.tensor([0.96, 0.02, 0.02], dtype=torch.float64)
    teacher = p_t.log()
    loss = lambda q, reverse: float(distillation_loss(q.log(), teacher, 1.0, reverse))
    assert loss(spread, False) < loss(one_peak, False)
    assert loss(one_peak, True) < loss(spread, True)
