"""Device choice with availability mocked, and tolerances defined once."""

import pytest
import torch

from grader import devices


@pytest.fixture
def gpus(monkeypatch):
    state = {"cuda": False, "mps": False}
    monkeypatch.setattr(devices, "cuda_available", lambda: state["cuda"])
    monkeypatch.setattr(devices, "mps_available", lambda: state["mps"])
    monkeypatch.delenv(devices.ENV_VAR, raising=False)
    return state


@pytest.mark.parametrize("cuda,mps,expected", [(True, True, "cuda"), (False, True, "mps"), (False, False, "cpu"),
                                                (True, False, "cuda")])
def test_preference_order(gpus, cuda, mps, expected):
    gpus.update(cuda=cuda, mps=mps)
    assert devices.pick_device().device.type == expected


def test_environment_variable_overrides(gpus, monkeypatch):
    gpus.update(cuda=True)
    monkeypatch.setenv(devices.ENV_VAR, "cpu")
    choice = devices.pick_device()
    assert choice.device.type == "cpu" and devices.ENV_VAR in choice.reason


def test_flag_beats_environment(gpus, monkeypatch):
    gpus.update(mps=True)
    monkeypatch.setenv(devices.ENV_VAR, "cpu")
    assert devices.pick_device("mps").device.type == "mps"


def test_unavailable_or_unknown_requests_are_clear_errors(gpus):
    with pytest.raises(ValueError, match="not available"):
        devices.pick_device("cuda")
    with pytest.raises(ValueError, match="unknown device"):
        devices.pick_device("tpu")


def test_cuda_index_is_kept(gpus):
    gpus.update(cuda=True)
    assert devices.pick_device("cuda:1").device == torch.device("cuda:1")


def test_tolerances():
    assert devices.tolerance("cpu", torch.float32) < devices.tolerance("mps", torch.float32)
    with pytest.raises(ValueError):
        devices.tolerance("mps", torch.float64)  # MPS has no float64
    assert devices.default_dtype(torch.device("mps")) == torch.float32


def test_prepare_disables_tf32_on_cuda(monkeypatch):
    torch.backends.cuda.matmul.allow_tf32 = True
    devices.prepare(torch.device("cuda"))
    assert torch.backends.cuda.matmul.allow_tf32 is False
