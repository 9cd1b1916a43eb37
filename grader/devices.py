"""Device choice and numerical tolerances, defined once for the whole course.

Order of preference: an explicit request (CLI ``--device``), then the environment variable
``RLHF_COURSE_DEVICE``, then the best available accelerator: CUDA > MPS > CPU.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch

from grader.tolerances import tolerance as _tolerance

ENV_VAR = "RLHF_COURSE_DEVICE"
KNOWN = ("cpu", "cuda", "mps")


@dataclass(frozen=True)
class DeviceChoice:
    device: torch.device
    reason: str

    def __str__(self) -> str:
        return f"{self.device} ({self.reason})"


def cuda_available() -> bool:
    return torch.cuda.is_available()


def mps_available() -> bool:
    mps = getattr(torch.backends, "mps", None)
    return bool(mps is not None and mps.is_available())


def _available(kind: str) -> bool:
    return {"cpu": True, "cuda": cuda_available(), "mps": mps_available()}[kind]


def pick_device(requested: str | None = None) -> DeviceChoice:
    """Choose the device; raise ``ValueError`` with a readable message for an impossible request."""
    source = None
    if requested:
        source = "asked for with --device"
    elif os.environ.get(ENV_VAR):
        requested, source = os.environ[ENV_VAR], f"set by {ENV_VAR}"
    if requested:
        kind = requested.split(":")[0].lower()
        if kind not in KNOWN:
            raise ValueError(f"unknown device {requested!r} ({source}); choose one of {', '.join(KNOWN)}")
        if not _available(kind):
            raise ValueError(f"device {requested!r} ({source}) is not available on this machine")
        return DeviceChoice(torch.device(requested.lower()), source)
    if cuda_available():
        return DeviceChoice(torch.device("cuda"), "CUDA GPU available")
    if mps_available():
        return DeviceChoice(torch.device("mps"), "Apple GPU (MPS) available")
    return DeviceChoice(torch.device("cpu"), "no CUDA or MPS GPU found")


def prepare(device: torch.device) -> torch.device:
    """Make matmuls on ``device`` exact enough to compare against stored float64 references.

    TF32 on Ampere+ GPUs rounds matmul inputs to 10 mantissa bits, far outside float32 tolerances.
    """
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
    return device


def default_dtype(device: torch.device) -> torch.dtype:
    """float64 where the device has it (exact comparisons); MPS has no float64."""
    return torch.float32 if device.type == "mps" else torch.float64


def tolerance(device: torch.device | str, dtype: torch.dtype) -> tuple[float, float]:
    """Return ``(rtol, atol)`` for comparing results computed on ``device`` in ``dtype`` (``grader.tolerances``)."""
    return _tolerance(torch.device(device).type, str(dtype).removeprefix("torch."))
