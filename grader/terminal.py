"""Writing to a terminal: colour where it is one (never when piped, never under ``NO_COLOR``), and a
one-line progress indicator that shows what is running while nothing else is printed.

    term = Terminal(sys.stdout)
    term.status("running dpo_step")     # a spinner and the seconds elapsed, redrawn in place (terminals only)
    term.line(term.paint("PASS", "pass") + "  dpo_step")   # clears the status line, prints, redraws it
    term.close()

Nothing here imports torch; the CLI prints its first line before any heavy import.
"""

from __future__ import annotations

import os
import sys
import threading
import time

STYLES = {"pass": "32", "fail": "31", "todo": "33", "error": "1;31", "dim": "2", "bold": "1", "note": "36"}
SPINNER = "|/-\\"
TICK_S = 0.1


def colour_enabled(stream) -> bool:
    """Colour on a terminal only: not when piped, not with ``NO_COLOR`` set (https://no-color.org), not on a
    dumb terminal."""
    if os.environ.get("NO_COLOR") or os.environ.get("TERM") == "dumb":
        return False
    return is_terminal(stream)


def is_terminal(stream) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False


class Terminal:
    """Lines printed as they come, plus a transient status line redrawn by a thread (terminals only)."""

    def __init__(self, stream=None, colour: bool | None = None):
        self.stream = stream or sys.stdout
        self.colour = colour_enabled(self.stream) if colour is None else colour
        self.interactive = is_terminal(self.stream) and os.environ.get("TERM") != "dumb"
        self._lock = threading.Lock()
        self._status: str | None = None
        self._since = 0.0
        self._shown = False  # a status line is on the screen
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    def paint(self, text: str, style: str) -> str:
        return f"\x1b[{STYLES[style]}m{text}\x1b[0m" if self.colour and text else text

    def line(self, text: str = "") -> None:
        with self._lock:
            self._clear()
            self.stream.write(text + "\n")
            self._draw()
            self.stream.flush()

    def status(self, text: str | None) -> None:
        """Show ``text`` with a spinner and the time since it was set; ``None`` removes it."""
        if not self.interactive:
            return
        with self._lock:
            self._clear()
            self._status, self._since = text, time.monotonic()
            self._draw()
            self.stream.flush()
        if text is not None and self._thread is None:
            self._thread = threading.Thread(target=self._spin, daemon=True)
            self._thread.start()

    def close(self) -> None:
        self.status(None)
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    # -- drawing (with the lock held) --------------------------------------------------------------

    def _clear(self) -> None:
        if self._shown:
            self.stream.write("\r\x1b[K")
            self._shown = False

    def _draw(self) -> None:
        if self._status is None:
            return
        elapsed = time.monotonic() - self._since
        frame = SPINNER[int(elapsed / TICK_S) % len(SPINNER)]
        self.stream.write(self.paint(f"{frame} {self._status} ({elapsed:.1f} s)", "dim"))
        self._shown = True

    def _spin(self) -> None:
        while not self._stop.wait(TICK_S):
            with self._lock:
                if self._status is not None:
                    self._clear()
                    self._draw()
                    try:
                        self.stream.flush()
                    except (OSError, ValueError):
                        return
