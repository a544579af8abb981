"""Progress of a long command on stderr.

On a terminal, a bar redrawn in place at most 10 times a second::

    [#############.................]  45%  1,350/3,000 requests  96 placements/s  12 no valid host

Elsewhere (a log file, a pipe, CI), a line every ``LINE_EVERY_S`` seconds
instead, which a log keeps readable::

    hoststate simulate: 1,350/3,000 requests, 96 placements/s, 12 no valid host

stdout is never written: it holds only the command's result.
"""
import sys
import time

WIDTH = 30
#: seconds between progress lines when stderr is not a terminal
LINE_EVERY_S = 5.0
#: seconds between redraws of the bar
REDRAW_EVERY_S = 0.1


class Progress:
    """``update(done, total, placements, no_valid_host)`` after each step;
    ``close()`` at the end. ``tty`` says which form (default: whether the
    stream is a terminal); ``clock`` is for tests."""

    def __init__(self, stream=None, tty=None, prefix="hoststate simulate",
                 clock=time.monotonic):
        self.stream = stream or sys.stderr
        self.tty = _isatty(self.stream) if tty is None else tty
        self.prefix = prefix
        self.clock = clock
        self.started = clock()
        self._shown_at = self.started
        self._drawn = False

    def update(self, done, total, placements, no_valid_host=0):
        now = self.clock()
        every = REDRAW_EVERY_S if self.tty else LINE_EVERY_S
        if now - self._shown_at < every and not (self.tty and done >= total):
            return
        self._shown_at = now
        rate = placements / (now - self.started) if now > self.started \
            else 0.0
        if self.tty:
            self.stream.write("\r" + bar(done, total, rate, no_valid_host))
            self._drawn = True
        else:
            self.stream.write(f"{self.prefix}: {done:,}/{total:,} requests, "
                              f"{rate:,.0f} placements/s, {no_valid_host:,} "
                              f"no valid host\n")
        self.stream.flush()

    def close(self):
        """End the bar's line (what follows starts on a line of its own)."""
        if self._drawn:
            self.stream.write("\n")
            self.stream.flush()
            self._drawn = False


def bar(done, total, rate, no_valid_host=0):
    filled = WIDTH * done // total if total else WIDTH
    percent = 100 * done // total if total else 100
    return (f"[{'#' * filled}{'.' * (WIDTH - filled)}] {percent:>3}%  "
            f"{done:,}/{total:,} requests  {rate:,.0f} placements/s  "
            f"{no_valid_host:,} no valid host")


def _isatty(stream):
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False
