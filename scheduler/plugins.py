"""The plugin registry for filters and weighers: load by name.

Plugins are found through entry points (``hoststate.scheduler.filters`` and
``hoststate.scheduler.weighers``), so a third party adds one by declaring an
entry point in its own package, never by dropping a file into ours. A name
registered twice is refused; an unknown name fails at start with the list
of known ones.
"""
import importlib.metadata

from hoststate import exception

FILTER_GROUP = "hoststate.scheduler.filters"
WEIGHER_GROUP = "hoststate.scheduler.weighers"


class Registry:
    """Plugin classes of one kind, by name."""

    def __init__(self, group, kind):
        self.group = group
        self.kind = kind
        self._classes = {}
        self._loaded = False

    def register(self, cls, name=None):
        """Add ``cls`` under ``name`` (default: its class name)."""
        self._load_entry_points()
        name = name or cls.__name__
        known = self._classes.get(name)
        if known is not None and known is not cls and \
                _path(known) != _path(cls):
            raise exception.DuplicatePlugin(kind=self.kind, name=name,
                                            first=_path(known),
                                            second=_path(cls))
        self._classes[name] = cls
        return cls

    def unregister(self, name):
        self._classes.pop(name, None)

    def _load_entry_points(self):
        """Index the entry points by name; a class is imported only when
        its name is asked for."""
        if self._loaded:
            return
        self._loaded = True
        for entry in importlib.metadata.entry_points(group=self.group):
            known = self._classes.get(entry.name)
            if known is not None and _path(known) != entry.value:
                raise exception.DuplicatePlugin(
                    kind=self.kind, name=entry.name, first=_path(known),
                    second=entry.value)
            self._classes[entry.name] = entry

    def names(self):
        self._load_entry_points()
        return sorted(self._classes)

    def get(self, name):
        self._load_entry_points()
        try:
            found = self._classes[name]
        except KeyError:
            raise exception.PluginNotFound(
                kind=self.kind, name=name,
                known=", ".join(sorted(self._classes))) from None
        if isinstance(found, importlib.metadata.EntryPoint):
            found = self._classes[name] = found.load()
        return found

    def load(self, names, *args):
        """Instances of the plugins ``names``, in that order; every name is
        checked before any is loaded."""
        self._load_entry_points()
        for name in names:
            if name not in self._classes:
                self.get(name)
        return [self.get(name)(*args) for name in names]


def _path(plugin):
    if isinstance(plugin, importlib.metadata.EntryPoint):
        return plugin.value
    return f"{plugin.__module__}:{plugin.__qualname__}"


filters = Registry(FILTER_GROUP, "filter")
weighers = Registry(WEIGHER_GROUP, "weigher")
