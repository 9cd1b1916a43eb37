"""The capstone (issue 17): the whole RLHF loop on a laptop, on the tiny GPT-2.

    task.py         the prompts and the stated preference (kind and helpful, not rude)
    policy.py       the policy worth aligning: the tiny GPT-2 after a short SFT on shipped demonstrations
    feedback.py     ratings and A/B comparisons, stored durably in SQLite; export as TRL preference pairs
    labellers.py    non-interactive labellers: a simulated one with a stated preference, the RLAIF judge
    interactive.py  the terminal loops for rating and comparing
    cli.py          ``rlhf-course capstone <command>``

This module, like the CLI's, stays free of torch: ``rlhf-course capstone --help`` is instant.
"""

from __future__ import annotations

import os
from pathlib import Path

WORK_DIR_ENV = "RLHF_CAPSTONE_DIR"
DB_NAME = "feedback.sqlite"


def work_dir() -> Path:
    """Where the capstone keeps its files (feedback database, checkpoints, report): ``$RLHF_CAPSTONE_DIR``,
    else ``capstone/`` in the current folder."""
    return Path(os.environ.get(WORK_DIR_ENV) or "capstone")


def default_db() -> Path:
    """The feedback database every capstone command reads and writes unless given ``--db``."""
    return work_dir() / DB_NAME
