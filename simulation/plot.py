"""A run's samples drawn to an image (matplotlib, an optional extra).

Four panels over simulated time: utilization of vCPUs, memory and disk
(the y axis spans the data, not 0-100 %, so a climb from 60 % to 90 % uses
the chart's height); living instances; NoValidHost per interval, stacked
by reason; select latency per interval, p50 and p99 (milliseconds, the
database claim included; a log scale, so a spike of the p99 leaves the
p50 readable).

``check_target`` is called before a run: a plot that cannot be written
is refused before anything is simulated, not after.
"""
import os

from hoststate import exception

INSTALL_HINT = "pip install 'hoststate[plot]'"


class PlotUnavailable(exception.HoststateError):
    msg_fmt = "--plot needs matplotlib, which is not installed: %(hint)s"


class PlotTargetInvalid(exception.HoststateError, ValueError):
    msg_fmt = "--plot %(path)s: %(reason)s"


def _matplotlib():
    """pyplot on the Agg backend (files only, no display)."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        from matplotlib import pyplot
    except ImportError:
        raise PlotUnavailable(hint=INSTALL_HINT) from None
    return pyplot


def supported_formats():
    """{extension: description} matplotlib's canvas can write."""
    _matplotlib()
    from matplotlib.backends import backend_agg
    return backend_agg.FigureCanvasAgg.get_supported_filetypes()


def check_target(path):
    """Refuse a ``path`` the plot could not be written to: no or an
    unknown extension, a directory that is missing or not writable, a
    directory or unwritable file in its place. Returns the absolute path."""
    target = os.path.abspath(path)
    extension = os.path.splitext(target)[1].lstrip(".").lower()
    formats = supported_formats()
    if extension not in formats:
        raise PlotTargetInvalid(path=path, reason=(
            f"{'no' if not extension else 'unknown'} file type"
            f"{f' .{extension}' if extension else ''}; name a file ending "
            f"in one of {', '.join('.' + f for f in sorted(formats))}"))
    directory = os.path.dirname(target)
    if not os.path.isdir(directory):
        raise PlotTargetInvalid(path=path, reason=(
            f"directory {directory} does not exist"))
    if os.path.isdir(target):
        raise PlotTargetInvalid(path=path, reason="is a directory")
    writable = os.access(target, os.W_OK) if os.path.exists(target) \
        else os.access(directory, os.W_OK | os.X_OK)
    if not writable:
        raise PlotTargetInvalid(path=path, reason="not writable here")
    return target


def draw(report, path):
    pyplot = _matplotlib()
    samples = report["samples"]
    x = [s["simulated_seconds"] for s in samples]
    figure, (usage, count, refused, latency) = pyplot.subplots(
        4, 1, sharex=True, figsize=(10, 10), height_ratios=(3, 1, 1.5, 1.5))
    _utilization(usage, x, samples)
    usage.set_title(f"hoststate simulate: {report['nodes']:,} nodes, "
                    f"{report['requests']:,} requests, seed {report['seed']}")
    count.plot(x, [s["instances"] for s in samples], color="gray")
    count.set_ylabel("instances")
    count.set_ylim(*_span([s["instances"] for s in samples]))
    _refusals(refused, x, samples)
    _latency(latency, x, samples)
    latency.set_xlabel("simulated seconds")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    pyplot.close(figure)


def _utilization(axes, x, samples):
    values = []
    for name, label in (("vcpus", "vCPUs (× allocation ratio)"),
                        ("memory_mb", "memory"), ("disk_gb", "disk")):
        line = [100 * s[name] for s in samples]
        values += line
        axes.plot(x, line, label=label)
    axes.set_ylabel("utilization, %")
    axes.set_ylim(*_span(values))
    axes.legend(loc="upper left")


def _refusals(axes, x, samples):
    reasons = sorted({r for s in samples for r in s["no_valid_host"]})
    if reasons:
        axes.stackplot(x, [[s["no_valid_host"].get(r, 0) for s in samples]
                           for r in reasons], labels=reasons, step="pre")
        axes.legend(loc="upper left", fontsize="small")
    else:
        axes.text(0.5, 0.5, "no NoValidHost in this run", ha="center",
                  va="center", transform=axes.transAxes, color="gray")
    axes.set_ylabel("no valid host\nper interval")


def _latency(axes, x, samples):
    for key, style in (("p50", "-"), ("p99", "--")):
        points = [(t, s["select_latency_ms"][key]) for t, s in zip(x, samples)
                  if s["select_latency_ms"]]
        if points:
            axes.plot(*zip(*points), style, label=f"{key}", color="tab:purple")
    axes.set_ylabel("select, ms\n(with claim)")
    axes.set_yscale("log")      # a p99 spike must not flatten the p50 line
    axes.legend(loc="upper left", fontsize="small")


def _span(values, margin=0.05):
    """Axis limits around ``values`` with a margin (never below 0 for
    values that are not; never a zero span)."""
    low, high = (min(values), max(values)) if values else (0.0, 1.0)
    pad = (high - low) * margin or max(abs(high) * margin, 1.0)
    return (max(low - pad, 0.0) if low >= 0 else low - pad), high + pad
