"""Hostile input: Hypothesis strategies of what a careless or malicious
caller passes, and a child process to try it in under a memory limit.

The values are the ones that broke hoststate before issue 11: NaN and
infinities, integers around and far beyond the column types, floats where
integers belong (2.7), booleans, numerals with exponents, empty and
over-long strings, NUL characters and lone surrogates, wrong types and
containers (a dict for a list, an endless iterator). Most strategies mix
them with valid values, so that a case gets past the first check and
reaches the code behind it.

``run_in_child`` runs a function of a test module in a fresh interpreter
whose address space is limited (``RLIMIT_AS``) to what it uses after its
imports plus a margin: an allocation sized by a number the input carries
(``set(range(2**31))``) then fails there as MemoryError, which the test
reports, instead of the machine swapping until the OOM killer ends it.
"""
import decimal
import json
import os
import resource
import subprocess
import sys

import sqlalchemy as sa
from hypothesis import HealthCheck
from hypothesis import Phase
from hypothesis import settings
from hypothesis import strategies as st

from hoststate.db import schema

TESTS_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GIB = 2 ** 30


# --- settings ----------------------------------------------------------------

def hostile_settings(examples):
    """Reproducible settings: the same examples on every run (CI), no
    example database, no deadline (a first database call is slow)."""
    return settings(max_examples=examples, derandomize=True, database=None,
                    deadline=None, print_blob=False,
                    phases=[Phase.explicit, Phase.generate, Phase.shrink],
                    suppress_health_check=list(HealthCheck))


# --- values ------------------------------------------------------------------

class Endless:
    """An iterator that never ends; draining it is a bug, so after a
    million items it raises instead of eating the memory."""

    def __init__(self):
        self.taken = 0

    def __iter__(self):
        return self

    def __next__(self):
        self.taken += 1
        if self.taken > 10 ** 6:
            raise AssertionError("an endless iterator was drained")
        return "x"

    def __repr__(self):
        return "Endless()"


BOUNDARY_INTS = (0, 1, -1, 2, 255, 256, 1000, 1001, 65535, 65536,
                 2 ** 31 - 1, 2 ** 31, -2 ** 31, -2 ** 31 - 1, 2 ** 32,
                 2 ** 53 + 1, 2 ** 63 - 1, 2 ** 63, -2 ** 63 - 1, 10 ** 22,
                 10 ** 400)
ODD_FLOATS = (float("nan"), float("inf"), -float("inf"), 2.7, -0.5, 0.0,
              -0.0, 1e-300, 1e308, 3.5e38, 2.0 ** 31, 1e22)
NUMERALS = ("nan", "NaN", "inf", "-inf", "Infinity", "1e999", "1e3", "2.7",
            "0x10", "1_000", " 7 ", "", "-0", "+5", "2147483648",
            "9" * 40, "٣", "true", "None")
ODD_TEXTS = ("", " ", "\x00", "a\x00b", "\ud800", "\n", "x\ny", "é" * 255,
             "ü" * 256, "x" * 255, "x" * 256, "x" * 65536, "$state_path",
             "%(x)s", "<None>", "'quoted'", "[section]", "null", "🚀" * 70)


def integers():
    """Integers near the bounds that matter and far beyond them."""
    return st.one_of(st.sampled_from(BOUNDARY_INTS),
                     st.integers(-2 ** 70, 2 ** 70),
                     st.integers(-3, 1100))


def numbers():
    """Anything a numeric field may be handed."""
    return st.one_of(integers(), st.sampled_from(ODD_FLOATS),
                     st.floats(allow_nan=True, allow_infinity=True),
                     st.booleans(), st.sampled_from(NUMERALS),
                     st.just(decimal.Decimal("2.5")), st.none())


def texts():
    """Anything a string field may be handed."""
    return st.one_of(st.sampled_from(ODD_TEXTS), st.text(max_size=40),
                     st.text(min_size=250, max_size=300),
                     st.integers(-5, 5), st.sampled_from(ODD_FLOATS),
                     st.booleans(), st.none(), st.binary(max_size=8))


def containers(items=st.text(max_size=5)):
    """Wrong-shaped containers, over-long ones and an endless iterator."""
    return st.one_of(
        st.lists(items, max_size=4), st.tuples(items), st.sets(st.text()),
        st.dictionaries(st.text(max_size=5), items, max_size=3),
        st.builds(lambda n: ["h%d" % i for i in range(n)],
                  st.sampled_from([1000, 1001, 5000])),
        st.builds(Endless))


def anything():
    return st.one_of(numbers(), texts(), containers())


def valid_or(valid, hostile):
    """Mostly ``valid`` (two in three), else ``hostile``: a case must often
    get past the first check to reach the code behind it."""
    return st.one_of(valid, valid, hostile)


# --- flavors, specs, hints ---------------------------------------------------

#: Extra spec keys the NUMA, CPU and PCI code reads, with values that
#: stress it (the text is the spec's value, as Nova stores it).
EXTRA_SPEC_VALUES = {
    "hw:numa_nodes": ("1", "2", "128", "129", "0", "-1", "65536",
                      "2147483647", "nan", "two"),
    "hw:cpu_policy": ("dedicated", "shared", "mixed", "bogus"),
    "hw:cpu_thread_policy": ("isolate", "require", "prefer", "x"),
    "hw:numa_cpus.0": ("0", "0-1", "0-65535", "0-2147483647",
                       "^0", "1-0", "x"),
    "hw:numa_mem.0": ("512", "0", "2147483647", "-5", "1e3"),
    "hw:mem_page_size": ("small", "large", "any", "2MB", "1GB",
                         "2147483647", "0", "x"),
    "hw:cpu_dedicated_mask": ("0", "^0", "0-65535", "0-2147483647"),
    "hw:emulator_threads_policy": ("isolate", "share", "x"),
    "hw:pci_numa_affinity_policy": ("required", "x"),
    "pci_passthrough:alias": ("a1:1", "a1:2147483647", "a1:x", ""),
    "resources:VCPU": ("0", "1", "2147483647"),
    "aggregate_instance_extra_specs:ssd": ("true", "x" * 255),
    "capabilities:cpu_info:arch": ("x86_64", "<in> x86"),
}


def with_hostile(valid, hostile, most=1):
    """Dicts from ``valid`` (a strategy of dicts) in which up to ``most``
    keys take a value from ``hostile`` ({key: strategy}) instead: one bad
    value per case reaches the check meant for it, and a case with none
    reaches the code behind every check."""
    @st.composite
    def build(draw):
        values = dict(draw(valid))
        names = draw(st.lists(st.sampled_from(sorted(hostile)),
                              max_size=most, unique=True))
        for name in names:
            values[name] = draw(hostile[name])
        return values
    return build()


def extra_specs():
    """Extra specs the NUMA, CPU and PCI code reads, with stress values
    (valid to the flavor, extreme to the code behind it)."""
    pairs = st.sampled_from(sorted(EXTRA_SPEC_VALUES)).flatmap(
        lambda key: st.tuples(st.just(key),
                              st.sampled_from(EXTRA_SPEC_VALUES[key])))
    return st.lists(pairs, max_size=4).map(dict)


def hostile_extra_specs():
    return st.one_of(st.dictionaries(texts(), texts(), max_size=3),
                     containers(), st.none())


#: Flavor sizes from tiny to Nova's largest (2**31 - 1).
SIZES = st.one_of(st.integers(1, 4), st.sampled_from(
    (512, 2048, 65535, 65536, 2 ** 31 - 1)))


def flavor_kwargs():
    """Keyword arguments of Flavor(...): valid ones whose sizes range up
    to 2**31 - 1 and whose extra specs stress the NUMA code, with at most
    one hostile value."""
    valid = st.fixed_dictionaries({
        "flavorid": st.just("f1"), "name": st.just("m1.small"),
        "vcpus": SIZES, "memory_mb": SIZES,
        "root_gb": st.integers(0, 2), "ephemeral_gb": st.just(0),
        "swap": st.just(0), "extra_specs": extra_specs()})
    hostile = {name: numbers() for name in (
        "vcpus", "memory_mb", "root_gb", "ephemeral_gb", "swap", "id",
        "rxtx_factor", "vcpu_weight")}
    hostile.update(flavorid=texts(), name=texts(), description=texts(),
                   disabled=anything(), extra_specs=hostile_extra_specs())
    return with_hostile(valid, hostile)


HINT_NAMES = ("group", "different_host", "same_host", "query",
              "build_near_host_ip", "cidr", "target_cell", "_nova_check_type",
              "custom")
QUERIES = ('[">=", "$free_ram_mb", 1024]', "[", '[">", "$vcpus", NaN]',
           "[" * 5000 + "]" * 5000, '["=", "$host", "' + "x" * 65000 + '"]',
           '[">", "$free_ram_mb", 99999999999999999999999]',
           '["and", ' + ", ".join(['["=", 1, 1]'] * 2000) + "]",
           '"just a string"', "{}", '["not"]', '["in", "$host"]')
HINT_VALUES = ("10.0.0.1", "10.0.0.0/8", "/24", "/99", "not-an-ip",
               "00000000-0000-4000-8000-000000000001", "cell1", "rebuild")


def hints():
    """Valid scheduler hints whose values stress the filters reading them
    (JSON queries that are deep, long or not JSON; lists of a thousand
    uuids; addresses that are not)."""
    value = st.one_of(
        st.sampled_from(QUERIES), st.sampled_from(HINT_VALUES),
        st.lists(st.sampled_from(HINT_VALUES), min_size=1, max_size=3),
        st.builds(lambda n: ["00000000-0000-4000-8000-%012d" % i
                             for i in range(n)], st.sampled_from([999])))
    return st.dictionaries(st.sampled_from(HINT_NAMES), value, max_size=3)


def hostile_hints():
    """Shapes the API never sends and values beyond the bounds."""
    return st.one_of(anything(), st.dictionaries(texts(), anything(),
                                                 max_size=2),
                     st.builds(lambda n: {"different_host": ["u"] * n},
                               st.sampled_from([1000, 1001])))


HOST_NAMES = st.lists(st.sampled_from(["h1", "h2", "h1-n1", "h2-n2",
                                       "missing"]), max_size=3)
IMAGE_PROPERTIES = ("hw_numa_nodes", "hw_numa_cpus.0", "hw_numa_mem.0",
                    "hw_cpu_policy", "hw_mem_page_size", "min_ram", "size",
                    "hw_maxphysaddr_bits", "hw_architecture")


def request_kwargs():
    """Keyword arguments of RequestSpec.from_components besides the uuid
    and the flavor: valid ones (a few instances, stressing hints, forced
    and ignored hosts) with at most one hostile value."""
    valid = st.fixed_dictionaries({}, optional={
        "num_instances": st.sampled_from([1, 1, 2, 3, 1000]),
        "scheduler_hints": hints(),
        "force_hosts": HOST_NAMES, "force_nodes": HOST_NAMES,
        "ignore_hosts": HOST_NAMES,
        "availability_zone": st.sampled_from(["nova", "az-missing"]),
        "project_id": st.just("p1"),
        "image": st.dictionaries(st.sampled_from(IMAGE_PROPERTIES),
                                 st.sampled_from(["1", "2", "128", "0-3",
                                                  "dedicated", "large",
                                                  "x86_64"]), max_size=2)})
    hostile = dict(
        num_instances=numbers(), scheduler_hints=hostile_hints(),
        force_hosts=anything(), force_nodes=anything(),
        ignore_hosts=anything(), availability_zone=texts(),
        project_id=texts(), user_id=texts(),
        image=st.one_of(anything(), st.dictionaries(
            st.sampled_from(IMAGE_PROPERTIES), anything(), max_size=3)))
    return with_hostile(valid, hostile)


def instance_uuids(first):
    """What a caller may pass as ``instance_uuids``: none, good ones,
    duplicates, non-uuids, the wrong count, an endless iterator."""
    valid = st.one_of(st.none(), st.none(), st.just([first]), st.lists(
        st.uuids().map(str), min_size=1, max_size=3, unique=True))
    return valid_or(valid, st.one_of(
        st.just([first, first]), st.lists(texts(), min_size=1, max_size=2),
        st.builds(lambda n: ["00000000-0000-4000-8000-%012d" % i
                             for i in range(n)],
                  st.sampled_from([1001, 100000])),
        st.builds(Endless), anything()))


# --- the database ------------------------------------------------------------

def row_counts(engine):
    """{table: number of rows} of every table of the schema."""
    with engine.connect() as conn:
        return {table.name: conn.execute(
            sa.select(sa.func.count()).select_from(table)).scalar_one()
            for table in schema.metadata.sorted_tables}


def node_usage(engine):
    """{node: (vcpus_used, memory_mb_used, local_gb_used)}: what a claim
    changes without adding a row."""
    nodes = schema.compute_nodes
    with engine.connect() as conn:
        return {row[0]: tuple(row[1:]) for row in conn.execute(sa.select(
            nodes.c.hypervisor_hostname, nodes.c.vcpus_used,
            nodes.c.memory_mb_used, nodes.c.local_gb_used))}


# --- the child process -------------------------------------------------------

def limit_memory(margin=2 * GIB):
    """Limit this process's address space to what it has mapped now plus
    ``margin``; returns the limit in bytes."""
    with open("/proc/self/status") as status:
        size_kb = next(int(line.split()[1]) for line in status
                       if line.startswith("VmSize:"))
    limit = size_kb * 1024 + margin
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    return limit


def run_in_child(module, function, args=(), timeout=300, margin=2 * GIB,
                 cwd=None):
    """Run ``module.function(*args)`` in a new interpreter whose memory is
    limited (see :func:`limit_memory`), after the module's imports, in
    directory ``cwd`` (files a case writes by a relative name land there).

    ``args`` must be JSON. Returns the CompletedProcess; the function
    reports by its exit status (0 passed) and its output.
    """
    code = ("import json, sys, importlib\n"
            "from support import hostile\n"
            f"module = importlib.import_module({module!r})\n"
            f"hostile.limit_memory({margin})\n"
            f"sys.exit(getattr(module, {function!r})"
            f"(*json.loads(sys.argv[1])) or 0)\n")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [TESTS_DIR] + [p for p in os.environ.get("PYTHONPATH", "").split(
            os.pathsep) if p]))
    return subprocess.run([sys.executable, "-c", code, json.dumps(list(args))],
                          capture_output=True, text=True, timeout=timeout,
                          env=env, cwd=cwd or TESTS_DIR)
