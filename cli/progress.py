"""A one-line progress bar on a terminal (nothing when not a terminal)."""
import sys
import time

WIDTH = 30


class ProgressBar:
    """``update(done, total, placements)`` redraws at most 10 times a
    second: ``[#######.....]  45%  9,000/20,000 requests  412 placements/s``.
    """

    def __init__(self, stream=None, enabled=None):
        self.stream = stream or sys.stderr
        self.enabled = self.stream.isatty() if enabled is None else enabled
        self.started = time.monotonic()
        self._drawn_at = 0.0

    def update(self, done, total, placements):
        if not self.enabled:
            return
        now = time.monotonic()
        if done < total and now - self._drawn_at < 0.1:
            return
        self._drawn_at = now
        self.stream.write("\r" + line(done, total, placements,
                                      now - self.started))
        self.stream.flush()

    def close(self):
        if self.enabled:
            self.stream.write("\n")
            self.stream.flush()


def line(done, total, placements, elapsed):
    filled = WIDTH * done // total if total else WIDTH
    rate = placements / elapsed if elapsed > 0 else 0.0
    percent = 100 * done // total if total else 100
    return (f"[{'#' * filled}{'.' * (WIDTH - filled)}] {percent:>3}%  "
            f"{done:,}/{total:,} requests  {rate:,.0f} placements/s")
