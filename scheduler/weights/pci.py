"""PCIWeigher: keep hosts with free PCI devices for the requests that need
them.

The raw weight is ``MAX_DEVS - min(free devices, MAX_DEVS - 1)``, so fewer
free devices weigh more whatever the request:

* a request without PCI devices prefers hosts that have none, leaving the
  device hosts to requests that need them;
* a request with PCI devices stacks onto the host with the fewest free
  devices that still passed the filters, keeping large device pools whole
  for requests that need many.

Hosts with ``MAX_DEVS - 1`` free devices or more all weigh 1, so they tie.
As in Nova there is no ``minval``/``maxval``: candidates are compared with
each other only, and equal counts weigh 0 after normalisation.
"""
import numpy as np

from hoststate.hardware import pci as hw_pci
from hoststate.hardware.row_runs import take
from hoststate.scheduler.weights import BaseHostWeigher

#: Free device counts at or above ``MAX_DEVS - 1`` are not told apart.
MAX_DEVS = 100


def free_devices(pools):
    """Free devices over all pools of one pci_stats document (None: 0)."""
    if not pools:
        return 0
    return hw_pci.PciDeviceStats.from_pools(pools).free_count()


class PCIWeigher(BaseHostWeigher):
    """Fewer free PCI devices weigh more (see the module docstring)."""

    multiplier_option = "pci_weight_multiplier"

    def constant(self, store):
        """Every pci_stats document the table holds has as many free
        devices (a cloud without PCI devices). The answer is kept with
        the array it was read from: ``InternedColumn.map`` gives the same
        array until a document is added (then a new one), and never
        changes one in place."""
        by_document = _free_by_document(store.table)
        kept = self.__dict__.get("_constant_of")
        if kept is not None and kept[0] is by_document:
            return kept[1]
        answer = bool(len(by_document)) and \
            bool(by_document.min() == by_document.max())
        self._constant_of = (by_document, answer)
        return answer

    def raw_weights(self, table, rows, request):
        by_document = _free_by_document(table)
        if len(by_document) and by_document.min() == by_document.max():
            # every document has as many free devices (a cloud without
            # PCI devices): one weight for all, no gather over the rows
            return np.full(len(rows), MAX_DEVS - min(by_document[0],
                                                      MAX_DEVS - 1))
        free = by_document[take(table.codes("pci_stats"), rows)]
        return MAX_DEVS - np.minimum(free, MAX_DEVS - 1)


def _free_by_document(table):
    """Free devices of each distinct pci_stats document, by code."""
    return table.interned["pci_stats"].map(
        free_devices, key=("PCIWeigher", "free_devices"))
