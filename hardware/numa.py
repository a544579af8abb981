"""NUMA fitting math shared by the resource tracker and the scheduler.

One import for the three steps of Nova's ``nova/virt/hardware.py`` NUMA
code, each in its own module:

* :func:`get_constraints` (numa_constraints.py): flavor + image -> the
  guest's unplaced InstanceNUMATopology, or None;
* :func:`fit_instance_to_host` (numa_fit.py): guest topology + host
  topology (+ limits) -> :class:`Fit` (placed topology, reasons);
* :func:`usage_from_instance` (numa_usage.py): host topology +/- a placed
  guest -> a new host topology.

Helpers: numa_pages.py (page-size words, parsing, the size a cell gives),
numa_pinning.py (CPU pinning under the thread policies), numa_errors.py.

The tracker's claim and the scheduler's NUMATopologyFilter call the same
:func:`fit_instance_to_host`, so what the scheduler thinks fits is what the
claim accepts on the same data.
"""
from hoststate.hardware.numa_constraints import get_constraints  # noqa
from hoststate.hardware.numa_errors import (  # noqa: F401
    InvalidNUMARequest,
    NUMACellNotPlaced,
    NUMARequestTooLarge,
)
from hoststate.hardware.numa_fit import (  # noqa: F401
    Fit,
    fit_cell,
    fit_instance_to_host,
    host_has_threads,
    split_cpus,
)
from hoststate.hardware.numa_pages import (  # noqa: F401
    MIN_PAGE_KB,
    PAGE_SIZE_WORDS,
    PAGESIZE_ANY,
    PAGESIZE_LARGE,
    PAGESIZE_SMALL,
    choose_page_size,
    is_page_size_word,
    parse_page_size,
)
from hoststate.hardware.numa_pinning import pin_cell  # noqa: F401
from hoststate.hardware.numa_usage import usage_from_instance  # noqa: F401

__all__ = [
    "Fit", "InvalidNUMARequest", "NUMACellNotPlaced", "NUMARequestTooLarge",
    "MIN_PAGE_KB",
    "PAGE_SIZE_WORDS", "PAGESIZE_ANY", "PAGESIZE_LARGE", "PAGESIZE_SMALL",
    "choose_page_size", "fit_cell", "fit_instance_to_host",
    "get_constraints", "host_has_threads", "is_page_size_word",
    "parse_page_size", "pin_cell", "split_cpus", "usage_from_instance",
]
