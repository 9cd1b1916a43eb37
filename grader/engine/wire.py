"""Observations as plain data: arrays in JSON, so the judge never unpickles anything the executor sent.

An array travels as ``{"dtype": "float32", "shape": [3], "data": "<base64 of the raw bytes>"}``. The
decoder accepts only plain numeric dtypes and checks that the byte count matches the shape.
"""

from __future__ import annotations

import base64
from typing import Any

import numpy as np

DTYPES = {"float16", "float32", "float64", "int8", "int16", "int32", "int64", "uint8", "bool"}
MAX_ELEMENTS = 1 << 24


class BadObservation(ValueError):
    """An observation that is not a well-formed array (only a tampered executor sends one)."""


def encode(array: np.ndarray) -> dict[str, Any]:
    array = np.asarray(array)  # tobytes() is C order whatever the strides; a 0-d array stays 0-d
    return {"dtype": array.dtype.name, "shape": list(array.shape),
            "data": base64.b64encode(array.tobytes()).decode("ascii")}


def decode(obj: Any) -> np.ndarray:
    if not isinstance(obj, dict) or set(obj) != {"dtype", "shape", "data"}:
        raise BadObservation("not an encoded array")
    dtype, shape, data = obj["dtype"], obj["shape"], obj["data"]
    if dtype not in DTYPES or not isinstance(shape, list) or not all(
            isinstance(n, int) and not isinstance(n, bool) and 0 <= n <= MAX_ELEMENTS for n in shape):
        raise BadObservation(f"unsupported array {dtype!r} of shape {shape!r}")
    if not isinstance(data, str):
        raise BadObservation("array data is not base64 text")
    raw = base64.b64decode(data.encode("ascii"), validate=True)
    count = int(np.prod(shape, dtype=np.int64))
    if count > MAX_ELEMENTS or len(raw) != count * np.dtype(dtype).itemsize:
        raise BadObservation("array data does not match its shape")
    return np.frombuffer(raw, dtype=dtype).reshape(shape).copy()


def encode_all(observations: dict[str, np.ndarray]) -> dict[str, Any]:
    return {str(k): encode(v) for k, v in observations.items()}


def decode_all(obj: Any) -> dict[str, np.ndarray]:
    if not isinstance(obj, dict):
        raise BadObservation("observations are not a mapping")
    return {str(k): decode(v) for k, v in obj.items()}
