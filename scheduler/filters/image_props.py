"""Filters matching the image's properties against hosts and aggregates.

* ``ImagePropertiesFilter``: the image's architecture (``hw_architecture``,
  else ``[filter_scheduler] image_properties_default_architecture``),
  hypervisor type (``img_hv_type``) and guest mode (``hw_vm_mode``) must
  all appear in one of the host's ``supported_instances`` triples; names
  are canonicalized on both sides (``amd64`` is ``x86_64``, ``xapi`` is
  ``xen``). A host reporting no triple fails as soon as any of the three
  is asked for. Then ``img_hv_requested_version`` (``">=6.2"``,
  ``">=6.0, <7"``) must hold for the host's hypervisor version (an int,
  6000000 is 6.0.0; a host reporting 0 passes) and ``hw_maxphysaddr_bits``
  may not exceed the host's ``cpu_info`` ``maxphysaddr.bits``. As in Nova,
  the version and address-bits checks only run when one of the three
  names is asked for: an image asking for a version alone goes anywhere.
* ``AggregateImagePropertiesIsolation``: for each metadata key of the
  host's aggregates that is also a property the image sets, the image's
  value (as text) must be one of the key's comma-separated values. With
  ``aggregate_image_properties_isolation_namespace`` only keys starting
  with that namespace and the separator are compared (the key keeps its
  namespace when looked up among the image properties).

Only the typed image properties (``ImageMetaProps``) exist here; a Glance
property hoststate does not type is not compared.
"""
import numpy as np
from oslo_utils import versionutils

from hoststate.hardware.row_runs import take
from hoststate.objects import fields
from hoststate.scheduler import conf_values
from hoststate.scheduler.filters import BaseHostFilter
from hoststate.scheduler.filters import capabilities

#: The image properties naming a supported_instances triple's parts, with
#: the enum that canonicalizes each.
TRIPLE = (("hw_architecture", fields.Architecture),
          ("img_hv_type", fields.HVType),
          ("hw_vm_mode", fields.VMMode))


def _option(conf, name, default=None):
    """A [filter_scheduler] option, or ``default`` without a config."""
    if conf is None:
        return default
    return conf_values.option(conf, "filter_scheduler", name)


#: (enum, text) -> its canonical answer: an enum's members and aliases
#: are constants, and a select asks for the same few names every time
_canonical_texts = {}
#: Distinct texts kept before the memo starts again.
MAX_TEXTS = 1024


def _canonical(enum, value):
    """``value`` as the enum's member; a name the enum does not know stays
    as written (it can then only match itself). Text answers are kept."""
    if value is None:
        return None
    if type(value) is not str:
        return _canonicalized(enum, value)
    key = (enum, value)
    found = _canonical_texts.get(key)
    if found is None:
        if len(_canonical_texts) >= MAX_TEXTS:
            _canonical_texts.clear()
        found = _canonical_texts[key] = _canonicalized(enum, value)
    return found


def _canonicalized(enum, value):
    try:
        return enum.canonicalize(value)
    except ValueError:
        return value


# --- ImagePropertiesFilter ---------------------------------------------------

def requested_triple(image_props, default_architecture):
    """(architecture, hypervisor type, vm mode) the image asks for, each
    canonical or None."""
    wanted = []
    for name, enum in TRIPLE:
        value = image_props.get(name)
        if value is None and name == "hw_architecture":
            value = default_architecture
        wanted.append(_canonical(enum, value))
    return tuple(wanted)


def supports(triples, wanted):
    """Whether one host triple holds every requested name (Nova looks
    each name up anywhere in the triple, not at its position)."""
    for triple in triples:
        canonical = [_canonical(enum, value)
                     for (_, enum), value in zip(TRIPLE, triple)]
        if all(name is None or name in canonical for name in wanted):
            return True
    return False


def version_satisfied(hypervisor_version, predicate):
    """Whether an int hypervisor version (6002001 is 6.2.1) meets a version
    predicate such as ">=6.2"; an unknown (0) version passes."""
    if not hypervisor_version:
        return True
    text = versionutils.convert_version_to_str(int(hypervisor_version))
    return versionutils.VersionPredicate(predicate).satisfied_by(text)


def host_address_bits(cpu_info):
    """cpu_info's maxphysaddr.bits, or None when not reported."""
    found = capabilities.walk_capability(cpu_info, ("maxphysaddr", "bits"))
    try:
        return int(found) if found is not None else None
    except (TypeError, ValueError):
        return None


def _version_mask(table, rows, predicate):
    distinct, codes = np.unique(table.hypervisor_version[rows],
                                return_inverse=True)
    ok = np.fromiter((version_satisfied(v, predicate) for v in distinct),
                     dtype=bool, count=len(distinct))
    return ok[codes]


def _address_bits_mask(table, rows, bits):
    column = table.interned["cpu_info"]
    ok = column.map(
        lambda info: (host_address_bits(info) or 0) >= bits, dtype=bool,
        key=("ImagePropertiesFilter.maxphysaddr", bits))
    return ok[take(column.codes, rows)]


class ImagePropertiesFilter(BaseHostFilter):
    """Hosts able to run the image: architecture, hypervisor, guest mode,
    hypervisor version and physical address bits."""

    # A rebuild changes the image: it must be checked again.
    RUN_ON_REBUILD = True

    #: supported instances, hypervisor version, cpu_info: never written
    #: by a usage change
    MASK_READS_USAGE = False

    def mask_key(self, request):
        """What the mask reads of the image (None if not hashable)."""
        props = request.image_props
        key = (requested_triple(props, self._default_architecture()),
               props.get("img_hv_requested_version"),
               props.get("hw_maxphysaddr_bits"))
        try:
            hash(key)
        except TypeError:
            return None
        return key

    def filter_mask(self, table, rows, request):
        props = request.image_props
        wanted = requested_triple(props, self._default_architecture())
        if not any(wanted):
            return np.ones(len(rows), dtype=bool)
        column = table.interned["supported_instances"]
        ok = column.map(lambda triples: supports(triples, wanted),
                        dtype=bool, key=("ImagePropertiesFilter", wanted))
        mask = ok[take(column.codes, rows)]
        predicate = props.get("img_hv_requested_version")
        if predicate:
            mask &= _version_mask(table, rows, predicate)
        bits = props.get("hw_maxphysaddr_bits")
        if bits:
            mask &= _address_bits_mask(table, rows, int(bits))
        return mask

    def _default_architecture(self):
        return _option(self.conf, "image_properties_default_architecture")

    def explain(self, table, removed_rows, request):
        props = request.image_props
        wanted = requested_triple(props, self._default_architecture())
        named = "/".join(name or "*" for name in wanted)
        extra = [f"{name} {props[name]}" for name in
                 ("img_hv_requested_version", "hw_maxphysaddr_bits")
                 if props.get(name)]
        more = f" ({', '.join(extra)})" if extra else ""
        return f"no host supports image arch/hypervisor/mode {named}{more}"


# --- AggregateImagePropertiesIsolation ---------------------------------------

def compared_properties(image_props):
    """The image properties that can exclude a host: those set to a true
    value, as text."""
    return tuple(sorted((name, str(value))
                        for name, value in image_props.items() if value))


def isolation_allows(aggregates, properties, prefix):
    """Whether every aggregate metadata key (starting with ``prefix``, if
    any) that the image also sets lists the image's value."""
    properties = dict(properties)
    for key, options in capabilities.aggregate_metadata(aggregates).items():
        if prefix and not key.startswith(prefix):
            continue
        value = properties.get(key)
        if value is not None and value not in options:
            return False
    return True


class AggregateImagePropertiesIsolation(BaseHostFilter):
    """Hosts whose aggregates' metadata does not contradict the image's
    properties."""

    # Aggregates and the image do not change within a request.
    run_filter_once_per_request = True
    # A rebuild changes the image: it must be checked again.
    RUN_ON_REBUILD = True

    def _prefix(self):
        namespace = _option(
            self.conf, "aggregate_image_properties_isolation_namespace")
        separator = _option(
            self.conf, "aggregate_image_properties_isolation_separator", ".")
        return namespace + (separator or "") if namespace else None

    def filter_mask(self, table, rows, request):
        properties = compared_properties(request.image_props)
        if not properties:
            return np.ones(len(rows), dtype=bool)
        prefix = self._prefix()
        ok = table.per_aggregate_set(
            lambda aggregates: isolation_allows(aggregates, properties,
                                                prefix),
            dtype=bool, key=("AggregateImagePropertiesIsolation", prefix,
                             properties))
        return ok[table.aggregate_codes[rows]]

    def explain(self, table, removed_rows, request):
        properties = ", ".join(
            f"{name}={value}"
            for name, value in compared_properties(request.image_props))
        return (f"every host's aggregate metadata excludes the image "
                f"properties {properties}")
