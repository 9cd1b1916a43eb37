"""``rlhf-course lab``: JupyterLab with each ``exercises/<id>.py`` opening as a notebook, first time.

jupytext (installed with the course) reads and writes the percent-format ``.py`` files as notebooks, but
JupyterLab opens a ``.py`` in its text editor unless jupytext's notebook is the default viewer for Python
files. The documented route, ``jupytext-config set-default-viewer``, writes that setting into your own
Jupyter configuration; this command instead puts the course's copy of the same file
(``grader/data/jupyter/labconfig/default_setting_overrides.json``) on ``JUPYTER_CONFIG_PATH`` for this one
JupyterLab, so nothing of yours changes. The stubs carry a kernelspec (``python3``: the Python JupyterLab
runs on), so no "Select Kernel" dialog appears.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

CONFIG_DIR = Path(__file__).resolve().parent / "data" / "jupyter"  # holds labconfig/default_setting_overrides.json


def environment(base: dict[str, str] | None = None) -> dict[str, str]:
    """``base`` (default: this process's environment) with the course's Jupyter settings first on the path."""
    env = dict(os.environ if base is None else base)
    env["JUPYTER_CONFIG_PATH"] = os.pathsep.join(p for p in (str(CONFIG_DIR), env.get("JUPYTER_CONFIG_PATH")) if p)
    return env


def command(files: list[str]) -> list[str]:
    return [sys.executable, "-m", "jupyterlab", *files]


def available() -> bool:
    return importlib.util.find_spec("jupyterlab") is not None


def launch(root: Path, files: list[str]) -> int:
    """Run JupyterLab in ``root`` (the clone), opening ``files``; replaces this process where it can."""
    argv, env = command(files), environment()
    os.chdir(root)
    if os.name == "posix":
        os.execve(argv[0], argv, env)  # Ctrl-C then goes to JupyterLab alone, as if it was started directly
    return subprocess.call(argv, env=env)
