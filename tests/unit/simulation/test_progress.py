"""Progress on stderr: a bar on a terminal, a line every few seconds
elsewhere (hoststate.cli.progress), driven by a hand-moved clock."""
import io

from hoststate.cli import progress


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def test_not_a_terminal_gets_a_line_every_five_seconds():
    clock, out = Clock(), io.StringIO()
    shown = progress.Progress(out, tty=False, clock=clock)
    clock.now += 4.9
    shown.update(100, 20000, 90, 0)            # too soon: nothing
    clock.now += 0.1
    shown.update(4060, 20000, 4000, 3)         # 5 s in: 800 placements/s
    clock.now += 1.0
    shown.update(5000, 20000, 4900, 3)         # 1 s after the last: nothing
    clock.now += 5.0
    shown.update(12000, 20000, 8932, 1234)     # 11 s in: 812/s
    shown.close()
    assert out.getvalue() == (
        "hoststate simulate: 4,060/20,000 requests, 800 placements/s, "
        "3 no valid host\n"
        "hoststate simulate: 12,000/20,000 requests, 812 placements/s, "
        "1,234 no valid host\n")


def test_a_terminal_gets_a_bar_redrawn_in_place():
    clock, out = Clock(), io.StringIO()
    shown = progress.Progress(out, tty=True, clock=clock)
    clock.now += 0.05
    shown.update(1, 3000, 1, 0)                # within 0.1 s: not drawn
    clock.now += 0.075
    shown.update(1350, 3000, 1000, 12)         # 0.125 s in: 8,000/s
    clock.now += 0.01
    shown.update(3000, 3000, 2000, 40)         # the last is always drawn:
    #                                            2000 / 0.135 s
    shown.close()
    assert out.getvalue() == (
        "\r[#############.................]  45%  1,350/3,000 requests  "
        "8,000 placements/s  12 no valid host"
        "\r[##############################] 100%  3,000/3,000 requests  "
        "14,815 placements/s  40 no valid host\n")


def test_a_stream_that_is_not_a_terminal_is_told_apart():
    assert progress.Progress(io.StringIO()).tty is False
