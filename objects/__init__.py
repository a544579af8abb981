"""hoststate's versioned objects.

Importing this package registers every object class, so a serialised
primitive from a peer can always be turned back into an object; each class
is also available here by name (``hoststate.objects.ComputeNode``).
"""
import importlib

from hoststate.objects.base import HoststateObjectRegistry

_MODULES = (
    "fields", "hv_spec", "numa", "pci", "flavor", "image_meta",
    "compute_node", "service", "migration_context", "instance", "migration",
    "allocation", "aggregate", "instance_group", "cell_mapping", "request_spec",
    "selection",
)


def register_all():
    """Import every object module (each registers its classes)."""
    for name in _MODULES:
        importlib.import_module(f"hoststate.objects.{name}")
    for name, versions in HoststateObjectRegistry.hoststate_classes.items():
        globals()[name] = versions[0]


register_all()
