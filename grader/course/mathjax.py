"""Where the course's MathJax comes from, for every page it makes that shows math.

MathJax 2.7.9 as the ``jupyter-server-mathjax`` package ships it (a dependency in pyproject.toml; the
copy Jupyter itself serves offline): HTML-CSS and SVG output, STIX-Web web fonts only. The website
(site/hooks/course.py) and nbgrader feedback pages (grader/course/nbgrader_feedback.py) copy from here, so
their math renders with no network.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path


class MathJaxMissing(RuntimeError):
    """The MathJax files are not installed; the message says how to get them."""


def mathjax_source() -> Path:
    """The folder holding ``MathJax.js`` and the rest of MathJax 2."""
    spec = importlib.util.find_spec("jupyter_server_mathjax")  # located, not imported (no Jupyter server)
    if spec is None or not spec.submodule_search_locations:
        raise MathJaxMissing("MathJax comes from the jupyter-server-mathjax package: run `pip install -e .`")
    static = Path(spec.submodule_search_locations[0]) / "static"
    if not (static / "MathJax.js").is_file():
        raise MathJaxMissing(f"{static} has no MathJax.js: reinstall jupyter-server-mathjax (`pip install -e .`)")
    return static
