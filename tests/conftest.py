"""Offline by construction: HF_HUB_OFFLINE is set before transformers loads, tiny models are cached in a
per-session folder, and any attempt to open a non-loopback connection fails the test."""

import os
import socket
import tempfile

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ.setdefault("RLHF_COURSE_CACHE", os.path.join(tempfile.gettempdir(), "rlhf-course-test-cache"))

import pytest  # noqa: E402

_real_connect = socket.socket.connect


def _guarded_connect(self, address):
    host = address[0] if isinstance(address, tuple) else address
    if isinstance(host, str) and (host in ("localhost", "::1") or host.startswith("127.") or self.family == socket.AF_UNIX):
        return _real_connect(self, address)
    raise AssertionError(f"a test tried to reach the network: {address!r}")


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    monkeypatch.setattr(socket.socket, "connect", _guarded_connect)


@pytest.fixture(scope="session")
def nbgrader_course(tmp_path_factory):
    """One nbgrader course for the session (tests/test_nbgrader.py builds it): building it is the suite's
    costliest step, and the feedback tests read the same course."""
    from tests.test_nbgrader import build_course

    return build_course(tmp_path_factory)
