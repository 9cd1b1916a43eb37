"""Offline by construction: HF_HUB_OFFLINE is set before transformers loads, tiny models are cached in a
per-session folder, and any attempt to open a non-loopback connection fails the test."""

import os
import socket
import tempfile

os.environ["HF_HUB_OFFLINE"] = "1"
if os.environ.get("PYTEST_XDIST_WORKER"):
    # Under `pytest -n N`, N workers share the cores: one torch thread each (and in every subprocess, which
    # inherits this), since oversubscribed OpenMP threads can run a 2-core machine many times slower.
    os.environ["OMP_NUM_THREADS"] = "1"
os.environ.setdefault("RLHF_COURSE_CACHE", os.path.join(tempfile.gettempdir(), "rlhf-course-test-cache"))

import pytest  # noqa: E402

_real_connect = socket.socket.connect


def _guarded_connect(self, address):
    host = address[0] if isinstance(address, tuple) else address
    if isinstance(host, str) and (host in ("localhost", "::1") or host.startswith("127.") or self.family == socket.AF_UNIX):
        return _real_connect(self, address)
    raise AssertionError(f"a test tried to reach the network: {address!r}")


def pytest_collection_modifyitems(items):
    """With pytest-xdist (`-n auto --dist loadgroup`), a test file runs on one worker, so its module fixtures
    (a built site, a warm executor) are made once; files that set ``pytestmark = pytest.mark.xdist_group(..)``
    share a worker with the other files of their group (the nbgrader course), and a file whose tests are
    independent and costly spreads them over all workers with ``SPREAD_OVER_WORKERS = True``."""
    for item in items:
        if item.get_closest_marker("xdist_group") is None and not getattr(item.module, "SPREAD_OVER_WORKERS", False):
            item.add_marker(pytest.mark.xdist_group(item.module.__name__))


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    monkeypatch.setattr(socket.socket, "connect", _guarded_connect)


@pytest.fixture(scope="session")
def nbgrader_course(tmp_path_factory):
    """One nbgrader course for the session (tests/test_nbgrader.py builds it): building it is the suite's
    costliest step, and the feedback tests read the same course."""
    from tests.test_nbgrader import build_course

    return build_course(tmp_path_factory)
