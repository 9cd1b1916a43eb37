"""The course's package: graders, the ``rlhf-course`` CLI, tiny models and device choice.

One line gets a model, its tokenizer and a device::

    from grader import load_gpt2
    model, tokenizer, device = load_gpt2()
"""

__version__ = "0.1.0"

# Imported lazily so that `rlhf-course --help` and the CLI's parent process do not pay for torch.
_LAZY = {
    "load_gpt2": "grader.tiny_models", "load_bert": "grader.tiny_models",
    "pick_device": "grader.devices", "tolerance": "grader.devices",
    "check": "grader.live", "demo": "grader.live",  # checking a function from its notebook (grader/live.py)
    "load_preferences": "grader.preferences", "save_preferences": "grader.preferences",
}
__all__ = ["__version__", *_LAZY]


def __getattr__(name):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'grader' has no attribute {name!r}")
