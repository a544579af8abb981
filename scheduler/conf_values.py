"""Values computed from the configuration, kept exactly as long as
oslo.config keeps the option values they read.

A select reads a dozen options (weigher multipliers, host_subset_size,
the request filters' switches); each attribute read through oslo.config
costs a microsecond or two, a tenth of a select at 10,000 hosts. What is
computed from them is kept *inside* oslo.config's own cache of option
values (``ConfigOpts._get`` keeps every value it resolved there, under
``(group, name)`` keys), under a key of its own no option has. Whatever
can change an option value clears that cache: ``set_override``,
``clear_override``, ``set_default``, ``clear_default``, option
(un)registration, ``clear``, ``reload_config_files``,
``mutate_config_files``, a new parse (``__call__`` clears) and
``__setstate__`` (a new cache). So a value kept here is dropped whenever
oslo.config drops the values it was computed from, and is never older
than what oslo.config itself would answer.

A configuration object that is not a ``ConfigOpts`` (no such cache) gets
``compute`` on every call: slower, never stale.
"""

#: The cache attribute of ``oslo_config.cfg.ConfigOpts`` (name-mangled
#: ``self.__cache``).
_OSLO_CACHE = "_ConfigOpts__cache"
#: Our key in it: oslo.config's keys are (group name or None, option
#: name) pairs of strings; this holds an object no string equals.
_KEY = (None, object())
_MISSING = object()


def kept(conf, key, compute):
    """``compute(conf)``, kept per ``conf`` and ``key`` (hashable) until
    oslo.config clears its cache of ``conf``'s option values. A compute
    that raises keeps nothing."""
    cache = getattr(conf, _OSLO_CACHE, None)
    if type(cache) is not dict:
        return compute(conf)
    ours = cache.get(_KEY)
    if ours is None:
        ours = cache[_KEY] = {}
    found = ours.get(key, _MISSING)
    if found is _MISSING:
        found = ours[key] = compute(conf)
    return found


def option(conf, group, name):
    """The value of option ``name`` of ``group``, kept (see ``kept``)."""
    return kept(conf, ("option", group, name),
                lambda c: getattr(getattr(c, group), name))
