"""Utilization over a run, drawn to a PNG (matplotlib, an optional extra)."""
from hoststate import exception


def draw(report, path):
    try:
        import matplotlib
        matplotlib.use("Agg")
        from matplotlib import pyplot
    except ImportError:
        raise exception.HoststateError(
            "--plot needs matplotlib: pip install 'hoststate[plot]'") from None
    samples = report["utilization"]["samples"]
    x = [s["simulated_seconds"] for s in samples]
    figure, (usage, count) = pyplot.subplots(
        2, 1, sharex=True, figsize=(9, 6), height_ratios=(3, 1))
    for name, label in (("vcpus", "vCPUs (× allocation ratio)"),
                        ("memory_mb", "memory"), ("disk_gb", "disk")):
        usage.plot(x, [100 * s[name] for s in samples], label=label)
    usage.set_ylabel("utilization, %")
    usage.set_ylim(0, 100)
    usage.legend(loc="upper left")
    usage.set_title(f"hoststate simulate: {report['nodes']:,} nodes, "
                    f"{report['requests']:,} requests, seed {report['seed']}")
    count.plot(x, [s["instances"] for s in samples], color="gray")
    count.set_ylabel("instances")
    count.set_xlabel("simulated seconds")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    pyplot.close(figure)
