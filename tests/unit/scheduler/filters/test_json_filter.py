"""JsonFilter: queries worked out by hand (conformance item 19: an unknown
operator raises KeyError, too few arguments are false, an empty query
passes), then property tests of the vectorized evaluation against a
per-host evaluator written after Nova's ``_process_filter``."""
import json
import operator

import hypothesis
import pytest
from hypothesis import strategies as st

from hoststate import exception
from hoststate.scheduler.filters import json_filter
from support.host_tables import all_rows, hosts_at, make_table, node_record

from .test_capabilities import CONF, make_request, nova_hosts

FILTER = json_filter.JsonFilter(CONF)


def passing(table, query):
    """Host names passing ``query`` (a Python value, sent as JSON text)."""
    text = query if isinstance(query, str) else json.dumps(query)
    rows = all_rows(table)
    mask = FILTER.filter_mask(table, rows, make_request(hints={"query": text}))
    assert mask.dtype == bool and mask.shape == rows.shape
    return hosts_at(table, rows[mask])


# --- the per-host reference --------------------------------------------------

def nova_lookup(host, text):
    """Nova's _parse_string; cpu_info read as a document (as the filter
    documents) and a step through a non-mapping finding nothing."""
    if not text:
        return None
    if not text.startswith("$"):
        return text
    name, *path = text[1:].split(".")
    value = getattr(host, name, None)
    if name == "cpu_info" and value is not None:
        value = json.loads(value) if value else {}
    if value is None:
        return None
    for item in path:
        if not isinstance(value, dict):
            return None
        value = value.get(item)
        if value is None:
            return None
    return value


def nova_compare(arguments, compare):
    if len(arguments) < 2:
        return False
    if compare is None:
        return arguments[0] in arguments[1:]
    return not [a for a in arguments[1:] if not compare(arguments[0], a)]


NOVA_COMMANDS = {
    "=": lambda args: nova_compare(args, operator.eq),
    "<": lambda args: nova_compare(args, operator.lt),
    ">": lambda args: nova_compare(args, operator.gt),
    "in": lambda args: nova_compare(args, None),
    "<=": lambda args: nova_compare(args, operator.le),
    ">=": lambda args: nova_compare(args, operator.ge),
    "not": lambda args: [not a for a in args],
    "or": any,
    "and": all,
}


def nova_process(host, query):
    if not query:
        return True
    method = NOVA_COMMANDS[query[0]]
    arguments = []
    for argument in query[1:]:
        if isinstance(argument, list):
            argument = nova_process(host, argument)
        elif isinstance(argument, str):
            argument = nova_lookup(host, argument)
        if argument is not None:
            arguments.append(argument)
    return method(arguments)


def nova_json_pass(host, query):
    result = nova_process(host, query)
    if isinstance(result, list):
        result = any(result)
    return bool(result)


# --- by hand -----------------------------------------------------------------

HOSTS = [
    dict(host="host1", free_ram_mb=1024, local_gb=100, vcpus=4,
         hypervisor_type="QEMU", stats={"foo": "bar"},
         cpu_info={"arch": "x86_64", "maxphysaddr": {"bits": 42}}),
    dict(host="host2", free_ram_mb=4096, local_gb=200, vcpus=8,
         hypervisor_type="KVM", stats={"foo": "baz", "gpu": "1"},
         cpu_info={"arch": "aarch64"}),
    dict(host="host3", free_ram_mb=512, local_gb=20, vcpus=8,
         hypervisor_type="QEMU", stats={}, cpu_info={}),
]
ALL = ["host1", "host2", "host3"]

CASES = [
    # numeric columns
    ([">=", "$free_ram_mb", 1024], ["host1", "host2"]),
    (["<", "$free_ram_mb", 1024], ["host3"]),
    (["=", "$vcpus_total", 8], ["host2", "host3"]),
    (["=", "$vcpus_total", 8.0], ["host2", "host3"]),
    ([">", "$free_disk_mb", 102400], ["host2"]),
    (["<=", "$free_disk_mb", 102400], ["host1", "host3"]),
    # the first argument against each of the others
    (["<", 600, "$free_ram_mb"], ["host1", "host2"]),
    (["<", "$free_ram_mb", 2048, 5000], ["host1", "host3"]),
    (["in", "$vcpus_total", 2, 4, 6], ["host1"]),
    # text, stats, documents
    (["=", "$hypervisor_type", "QEMU"], ["host1", "host3"]),
    (["in", "$hypervisor_type", "KVM", "XEN"], ["host2"]),
    (["=", "$stats.foo", "bar"], ["host1"]),
    (["=", "$cpu_info.arch", "aarch64"], ["host2"]),
    ([">=", "$cpu_info.maxphysaddr.bits", 40], ["host1"]),
    (["=", "$host", "host2"], ["host2"]),
    # a number is not its text
    (["=", "$free_ram_mb", "1024"], []),
    # boolean combinations
    (["and", [">=", "$free_ram_mb", 1024], ["=", "$hypervisor_type", "QEMU"]],
     ["host1"]),
    (["or", ["<", "$free_ram_mb", 1000], ["=", "$stats.gpu", "1"]],
     ["host2", "host3"]),
    (["not", ["=", "$stats.foo", "bar"]], ["host2", "host3"]),
    (["=", [">", "$free_ram_mb", 1000], True], ["host1", "host2"]),
    # not gives a list: at the top any item true passes
    (["not", ["=", "$vcpus_total", 8], ["=", "$hypervisor_type", "KVM"]],
     ["host1", "host3"]),
    # ... and a non-empty list is true, whatever it holds
    (["and", ["not", ["=", 1, 1]]], ALL),
    (["and"], ALL),
    (["or"], []),
    (["not"], []),
    # a missing lookup is no item of not's list
    (["not", "$stats.gpu"], []),
    (["not", "$stats.gpu", "$vcpus_total"], []),
    (["or", "$stats.gpu"], ["host2"]),
    (["and", "$stats.gpu"], ALL),
    # missing values are dropped per host, the others move up
    (["=", "$stats.gpu", "1"], ["host2"]),
    (["=", "$stats.gpu", "2", "2"], ["host1", "host3"]),
    (["<", "$stats.missing", 1, 2], ALL),
    (["=", None, "$vcpus_total", 8], ["host2", "host3"]),
    (["=", "", "$vcpus_total", 8], ["host2", "host3"]),
    (["=", "$no_such_attribute", "$vcpus_total", 8], ["host2", "host3"]),
    (["=", "$free_ram_mb.x", 1024], []),
    # item 19: fewer than two arguments is false; an empty query passes
    (["=", "$free_ram_mb"], []),
    (["<"], []),
    (["=", "", None, "$nothing"], []),
    ([], ALL),
    ("", ALL),
]


@pytest.fixture(scope="module")
def table():
    return make_table(HOSTS)


@pytest.mark.parametrize("query, expected", CASES,
                         ids=[json.dumps(c[0]) for c in CASES])
def test_json_filter(table, query, expected):
    assert passing(table, query) == expected


def test_cases_agree_with_the_per_host_reference():
    hosts = nova_hosts(HOSTS)
    for query, expected in CASES:
        parsed = json.loads(query) if isinstance(query, str) and query \
            else query
        assert [name for name, host in hosts.items()
                if not parsed or nova_json_pass(host, parsed)] == expected


def test_no_query_hint_passes(table):
    rows = all_rows(table)
    assert FILTER.filter_mask(table, rows, make_request()).all()


def test_unknown_operator_raises_key_error(table):
    """Item 19."""
    with pytest.raises(KeyError):
        passing(table, ["hello", "$free_ram_mb", 1024])
    with pytest.raises(KeyError):
        passing(table, ["and", [">", "$free_ram_mb", 0], ["~", 1, 1]])


def test_ordering_a_number_against_text_raises_type_error(table):
    with pytest.raises(TypeError):
        passing(table, ["<", "$hypervisor_type", 5])


def test_flags():
    assert not json_filter.JsonFilter.RUN_ON_REBUILD
    assert not json_filter.JsonFilter.run_filter_once_per_request


def test_a_later_query_is_not_answered_from_an_earlier_ones_cache(table):
    assert passing(table, ["=", "$stats.foo", "bar"]) == ["host1"]
    assert passing(table, ["=", "$stats.foo", "baz"]) == ["host2"]
    assert passing(table, ["=", "$stats.gpu", "1"]) == ["host2"]


def test_a_node_update_is_seen():
    uuid = "33333333-3333-3333-3333-333333333333"
    table = make_table([dict(host="host1", uuid=uuid, stats={"foo": "bar"},
                             free_ram_mb=1024)])
    assert passing(table, ["=", "$stats.foo", "bar"]) == ["host1"]
    table.write_nodes([node_record("host1", uuid=uuid, stats={"foo": "qux"},
                                   free_ram_mb=512)])
    assert passing(table, ["=", "$stats.foo", "bar"]) == []
    assert passing(table, [">=", "$free_ram_mb", 1024]) == []


# --- property tests ----------------------------------------------------------

HOST_VALUES = st.fixed_dictionaries({
    "free_ram_mb": st.sampled_from([512, 1024, 4096]),
    "vcpus": st.sampled_from([4, 8]),
    "local_gb": st.sampled_from([20, 100]),
    "hypervisor_type": st.sampled_from(["QEMU", "KVM"]),
    "stats": st.dictionaries(st.sampled_from(["foo", "gpu"]),
                             st.sampled_from(["bar", "1", "2"]), max_size=2),
    "cpu_info": st.sampled_from([{}, {"arch": "x86_64"},
                                 {"arch": "aarch64",
                                  "maxphysaddr": {"bits": 46}}]),
})
COMMAND_NAMES = st.sampled_from(sorted(json_filter.COMMANDS))
COMPARISONS = st.sampled_from(["=", "<", ">", "<=", ">=", "in"])
#: (variable, literals that split the generated hosts)
NUMBER_FIELDS = [("$free_ram_mb", [512, 1024, 4096, 2048.5]),
                 ("$vcpus_total", [4, 8]),
                 ("$free_disk_mb", [20480, 102400]),
                 ("$cpu_info.maxphysaddr.bits", [46, 40])]
TEXT_FIELDS = [("$hypervisor_type", ["QEMU", "KVM"]),
               ("$stats.foo", ["bar", "1"]), ("$stats.gpu", ["1", "2"]),
               ("$cpu_info.arch", ["x86_64", "aarch64"]),
               ("$host", ["host0", "host1"])]
#: arguments that are dropped, missing, or of another type
NOISE = st.sampled_from([None, "", True, "$nope", "$free_ram_mb.x"])
NUMBER_VARIABLES = st.sampled_from([v for v, _ in NUMBER_FIELDS] +
                                   ["$nope", "$free_ram_mb.x"])
NUMBERS = st.sampled_from([1024, 8, 102400, 46, 512, 4, True, None, ""])
TEXT_VARIABLES = st.sampled_from([v for v, _ in TEXT_FIELDS] + ["$stats"])
TEXTS = st.sampled_from(["QEMU", "bar", "x86_64", "1", 1, None, ""])


def comparisons(fields, noise=NOISE):
    """A variable compared with literals (mostly ones that split the
    hosts), the variable first or not."""
    def compare(field):
        variable, literals = field
        literal = st.sampled_from(literals)
        return st.builds(
            lambda name, others, at: [name] + others[:at] + [variable] +
            others[at:],
            COMPARISONS,
            st.lists(st.one_of(literal, literal, literal, noise),
                     min_size=1, max_size=2),
            st.integers(0, 2))
    return st.sampled_from(fields).flatmap(compare)


#: bare lookups under and/or/not: dropped where missing, else truthy
BARE = st.sampled_from(["$stats.gpu", "$stats.foo", "$free_ram_mb",
                        "$cpu_info.maxphysaddr.bits", "", None])


def combined(atoms):
    """Atoms (and bare lookups) under and/or/not, and at times compared
    with a boolean."""
    def combine(children):
        return st.one_of(
            st.builds(lambda name, args: [name] + args,
                      st.sampled_from(["and", "or", "not"]),
                      st.lists(st.one_of(children, children, BARE),
                               max_size=3)),
            st.builds(lambda child, flag: ["=", child, flag], children,
                      st.booleans()))
    return st.recursive(atoms, combine, max_leaves=5)


def chaotic(leaves):
    """Any operator over any arguments, nested."""
    def command(arguments):
        return st.builds(lambda name, args: [name] + args, COMMAND_NAMES,
                         st.lists(arguments, max_size=4))
    return command(st.recursive(leaves, command, max_leaves=6))


NUMERIC_ATOMS = comparisons(NUMBER_FIELDS)
MIXED_ATOMS = st.one_of(
    comparisons(TEXT_FIELDS, st.one_of(NOISE, st.sampled_from([1, "1"]))),
    NUMERIC_ATOMS)
NUMERIC_QUERIES = st.one_of(
    NUMERIC_ATOMS, combined(NUMERIC_ATOMS),
    chaotic(st.one_of(NUMBER_VARIABLES, NUMBERS)))
MIXED_QUERIES = st.one_of(
    MIXED_ATOMS, combined(MIXED_ATOMS),
    chaotic(st.one_of(TEXT_VARIABLES, TEXTS, NUMBER_VARIABLES, NUMBERS)))


def check_against_reference(values, query_list):
    descriptions = [dict(host=f"host{i}", **v) for i, v in enumerate(values)]
    table = make_table(descriptions)
    hosts = nova_hosts(descriptions)
    rows = all_rows(table)
    names = hosts_at(table, rows)
    for query in query_list:
        request = make_request(hints={"query": json.dumps(query)})
        try:
            expected = [nova_json_pass(hosts[name], query) for name in names]
        except TypeError:
            # Nova raises for the whole request when any host does
            with pytest.raises(TypeError):
                FILTER.filter_mask(table, rows, request)
            continue
        assert FILTER.filter_mask(table, rows, request).tolist() == expected


@hypothesis.settings(max_examples=100, deadline=None)
@hypothesis.given(st.lists(HOST_VALUES, min_size=1, max_size=6),
                  st.lists(NUMERIC_QUERIES, min_size=1, max_size=3))
def test_numeric_queries_equal_per_host_reference(values, query_list):
    check_against_reference(values, query_list)


@hypothesis.settings(max_examples=100, deadline=None)
@hypothesis.given(st.lists(HOST_VALUES, min_size=1, max_size=6),
                  st.lists(MIXED_QUERIES, min_size=1, max_size=3))
# rare by chance: not over a lookup some hosts lack
@hypothesis.example(
    values=[dict(free_ram_mb=512, vcpus=4, local_gb=20,
                 hypervisor_type="QEMU", stats={"gpu": "1"}, cpu_info={}),
            dict(free_ram_mb=512, vcpus=4, local_gb=20,
                 hypervisor_type="QEMU", stats={}, cpu_info={})],
    query_list=[["not", "$stats.gpu"], ["not", "$stats.gpu", 0]])
def test_mixed_queries_equal_per_host_reference(values, query_list):
    check_against_reference(values, query_list)


# --- hostile queries: typed errors, bounded work -----------------------------

@pytest.mark.parametrize("text, reason", [
    ("[", "is not JSON: Expecting value: line 1 column 2 (char 1)"),
    ('[">", "$free_ram_mb", NaN]',
     "is not JSON: NaN is not a finite number"),
    ('[">", "$free_ram_mb", -Infinity]',
     "is not JSON: -Infinity is not a finite number"),
    ('[">", "$free_ram_mb", 9223372036854775808]',
     "the number 9223372036854775808 does not fit in 64 bits"),
    ('{"and": 1}', "must be a list: [operator, arguments...]"),
    ("[" * 33 + "]" * 33, "nests lists more than 32 deep"),
    ("[" * 60000, "nests lists more than 32 deep"),
], ids=["truncated", "nan", "infinity", "beyond-64-bits", "object",
        "33-deep", "60000-open"])
def test_a_hostile_query_is_a_typed_error_naming_the_hint(table, text,
                                                          reason):
    with pytest.raises(json_filter.InvalidJsonQuery) as caught:
        passing(table, text)
    assert caught.value.field == "query"
    assert caught.value.reason == reason
    assert str(caught.value).startswith(
        "Invalid scheduling request: query=")
    assert len(str(caught.value)) < 400        # the value is shortened


def test_a_query_longer_than_a_spec_holds_is_refused_by_both():
    """The spec refuses it when it is built; the filter again for a spec
    built without checks (``trusted``), by the same limit."""
    text = '"' + "x" * 65534 + '"'
    with pytest.raises(exception.ObjectFieldInvalid):
        make_request(hints={"query": text})
    with pytest.raises(json_filter.InvalidJsonQuery) as caught:
        json_filter.parse_query(text)
    assert caught.value.reason == "is longer than 65535 characters"


def test_brackets_inside_strings_do_not_count_as_nesting(table):
    assert passing(table, ["=", "[[[[" * 20, "x"]) == []


def test_unknown_operator_and_type_errors_are_typed_and_nova_compatible(
        table):
    with pytest.raises(json_filter.UnknownQueryOperator) as caught:
        passing(table, [["and"], 1])
    assert isinstance(caught.value, KeyError)
    assert str(caught.value) == (
        "Invalid scheduling request: query=\"[['and'], 1]\": unknown "
        "operator ['and']; known: = < > in <= >= not or and")
    with pytest.raises(json_filter.QueryTypeMismatch) as caught:
        passing(table, ["<", "$hypervisor_type", 5])
    assert isinstance(caught.value, TypeError)
