"""Where oslo.versionedobjects keeps a field's value: the instance
attribute its getter reads (``_obj_<name>``), present in the instance's
``__dict__`` exactly when the field is set.

Hot paths read and write it there directly (a request's few dozen fields
per select, rows loaded without coercing again, Selections made from the
table's own values); this module is the one place that knows the name.
"""
from oslo_versionedobjects import base as ovo_base

#: What ovo puts before a field's name to name its attribute.
PREFIX = ovo_base._get_attrname("")


def set_value(obj, name, default=None):
    """The value of field ``name`` of ``obj`` (a versioned object) when it
    is set, else ``default``, without ``obj_get``'s check that ``name`` is
    a field: for names the caller knows are fields."""
    return obj.__dict__.get(PREFIX + name, default)
