"""JsonFilter: hosts selected by a query the user writes in a hint.

The ``query`` hint is a JSON prefix expression::

    ["and", [">=", "$free_ram_mb", 1024], ["=", "$hypervisor_type", "QEMU"]]

Operators: ``= < > <= >=`` (the first argument against each of the
others), ``in`` (the first argument equals one of the others), ``and``,
``or`` and ``not`` (which negates each argument and gives a list: at the
top, the host passes if any item is true). A string ``$name.key...``
reads a host attribute by its HostState name (``$free_ram_mb``,
``$hypervisor_type``, ``$stats.key``, ``$cpu_info.arch``...), other
strings are literals, a list is a sub-query. Nova's rules, kept:

* an argument that is null, an empty string or a lookup finding nothing is
  dropped (per host), so the others move up;
* a comparison left with fewer than two arguments is false;
* an unknown operator raises KeyError; comparing a number with a string
  raises TypeError, as Python does (here both are also
  InvalidSchedulerRequest errors naming the hint and the value, so a
  caller gets a typed error, not a crash);
* an empty query lets every host pass.

The query is read and bounded before it is evaluated (json_query.py).

Here the expression is evaluated once for all rows: a numeric attribute
is its column, and comparisons among numbers are numpy expressions; any
other comparison is made once per distinct combination of its
arguments' values. A lookup through something that is not a mapping finds
nothing (Nova raises AttributeError), and ``cpu_info`` is the parsed
document, so ``$cpu_info.arch`` works.
"""
import operator

import numpy as np

from hoststate.scheduler.filters import BaseHostFilter
from hoststate.scheduler.filters import capabilities
from hoststate.scheduler.filters.json_query import InvalidJsonQuery  # noqa
from hoststate.scheduler.filters.json_query import QueryTypeMismatch
from hoststate.scheduler.filters.json_query import UnknownQueryOperator
from hoststate.scheduler.filters.json_query import parse_query

# --- argument values over the rows -------------------------------------------

class _Const:
    """One value for every row (a literal, or a sub-query's constant)."""

    def __init__(self, value):
        self.value = value

    def factor(self, count):
        return np.zeros(count, dtype=np.intp), [self.value]

    def truth(self, count):
        """(present, truthy) per row."""
        return (np.full(count, self.value is not None),
                np.full(count, bool(self.value)))


class _Numbers:
    """A number per row, never missing: a numeric column, or a boolean
    result (``kind`` bool)."""

    def __init__(self, values, kind):
        self.values = values
        self.kind = kind

    def factor(self, count):
        distinct, codes = np.unique(self.values, return_inverse=True)
        return codes, [self.kind(value) for value in distinct.tolist()]

    def truth(self, count):
        return np.ones(count, dtype=bool), self.values != 0


class _Values:
    """Any value per row, as codes into distinct values; None: missing."""

    def __init__(self, codes, values):
        self.codes = codes
        self.values = values

    def factor(self, count):
        return self.codes, self.values

    def truth(self, count):
        present = np.fromiter((value is not None for value in self.values),
                              dtype=bool, count=len(self.values))
        truthy = np.fromiter((bool(value) for value in self.values),
                             dtype=bool, count=len(self.values))
        return present[self.codes], truthy[self.codes]


class _Negations:
    """What ``not`` gives: a list per row, item i the negation of argument
    i where that argument is present."""

    def __init__(self, items):
        self.items = items          # [(present, value)] bool arrays

    def factor(self, count):
        if not self.items:
            return _Const([]).factor(count)
        states = np.stack([np.where(present, 1 + value.astype(np.intp), 0)
                           for present, value in self.items])
        distinct, codes = np.unique(states, axis=1, return_inverse=True)
        lists = [[bool(state - 1) for state in column if state]
                 for column in distinct.T.tolist()]
        return codes.reshape(-1), lists

    def truth(self, count):
        """A list is true when it is not empty."""
        nonempty = np.zeros(count, dtype=bool)
        for present, _ in self.items:
            nonempty |= present
        return np.ones(count, dtype=bool), nonempty

    def any(self, count):
        """Any item true: the top-level answer."""
        result = np.zeros(count, dtype=bool)
        for present, value in self.items:
            result |= present & value
        return result


def _is_number(value):
    return isinstance(value, (int, float))


def _numeric(argument):
    """The argument as a number array or scalar, or None if it is not
    numeric (then the comparison goes per distinct value)."""
    if isinstance(argument, _Numbers):
        return argument.values
    if isinstance(argument, _Const) and _is_number(argument.value):
        return argument.value
    return None


def _per_distinct(arguments, function, count):
    """``function(values of the arguments)`` per row, computed once per
    distinct combination of values."""
    factors = [argument.factor(count) for argument in arguments]
    joint = np.zeros(count, dtype=np.int64)
    for codes, values in factors:
        joint = joint * max(len(values), 1) + codes
        _, joint = np.unique(joint, return_inverse=True)
    _, first, joint = np.unique(joint, return_index=True,
                                return_inverse=True)
    results = np.fromiter(
        (function([values[codes[row]] for codes, values in factors])
         for row in first.tolist()), dtype=bool, count=len(first))
    return results[joint.reshape(-1)]


def _compare_values(values, compare):
    """Nova's comparison of one host's argument values."""
    values = [value for value in values if value is not None]
    if len(values) < 2:
        return False
    first, rest = values[0], values[1:]
    if compare is None:
        return first in rest
    try:
        return not [value for value in rest if not compare(first, value)]
    except TypeError as exc:
        raise QueryTypeMismatch([first, *rest], str(exc)) from None


# --- operators ---------------------------------------------------------------

def _comparison(compare):
    """An operator comparing the first argument with each other one;
    ``compare`` None is ``in``."""
    def evaluate(arguments, count):
        numbers = [_numeric(argument) for argument in arguments]
        if all(number is not None for number in numbers):
            return _Numbers(_compare_numbers(numbers, compare, count), bool)
        return _Numbers(_per_distinct(
            arguments, lambda values: _compare_values(values, compare),
            count), bool)
    return evaluate


def _compare_numbers(numbers, compare, count):
    result = np.zeros(count, dtype=bool)
    if len(numbers) < 2:
        return result
    first = numbers[0]
    if compare is None:
        for other in numbers[1:]:
            result |= np.asarray(first == other)
        return result
    result[:] = True
    for other in numbers[1:]:
        result &= np.asarray(compare(first, other))
    return result


def _and(arguments, count):
    result = np.ones(count, dtype=bool)
    for argument in arguments:
        present, truthy = argument.truth(count)
        result &= ~present | truthy
    return _Numbers(result, bool)


def _or(arguments, count):
    result = np.zeros(count, dtype=bool)
    for argument in arguments:
        present, truthy = argument.truth(count)
        result |= present & truthy
    return _Numbers(result, bool)


def _not(arguments, count):
    items = []
    for argument in arguments:
        present, truthy = argument.truth(count)
        items.append((present, ~truthy))
    return _Negations(items)


COMMANDS = {
    "=": _comparison(operator.eq),
    "<": _comparison(operator.lt),
    ">": _comparison(operator.gt),
    "in": _comparison(None),
    "<=": _comparison(operator.le),
    ">=": _comparison(operator.ge),
    "not": _not,
    "or": _or,
    "and": _and,
}


# --- evaluation --------------------------------------------------------------

def walk_json(value, path):
    """Follow ``path`` through mappings; None when a step finds nothing or
    meets something else."""
    for name in path:
        if not isinstance(value, dict):
            return None
        value = value.get(name)
    return value


class _Evaluator:
    """A query evaluated over ``rows`` of ``table``."""

    def __init__(self, table, rows):
        self.table = table
        self.rows = rows
        self.count = len(rows)

    def query(self, query):
        if not query:
            return _Const(True)
        operator_ = query[0]
        command = COMMANDS.get(operator_) \
            if isinstance(operator_, str) else None
        if command is None:
            raise UnknownQueryOperator(
                query, f"unknown operator {operator_!r}; known: "
                       f"{' '.join(COMMANDS)}")
        arguments = [self.argument(argument) for argument in query[1:]]
        arguments = [argument for argument in arguments
                     if not (isinstance(argument, _Const) and
                             argument.value is None)]
        return command(arguments, self.count)

    def argument(self, argument):
        if isinstance(argument, list):
            return self.query(argument)
        if isinstance(argument, str):
            return self.lookup(argument)
        return _Const(argument)

    def lookup(self, text):
        """A string argument: a literal, or ``$name.key...``."""
        if not text:
            return _Const(None)
        if not text.startswith("$"):
            return _Const(text)
        name, *path = text[1:].split(".")
        if name not in capabilities.ATTRIBUTES:
            return _Const(None)
        if not path and (name in capabilities.INT_ATTRIBUTES or
                         name in capabilities.FLOAT_ATTRIBUTES):
            kind = int if name in capabilities.INT_ATTRIBUTES else float
            return _Numbers(self.table.columns[name][self.rows], kind)
        path = tuple(path)
        codes, values = capabilities.attribute_values(
            self.table, self.rows, name,
            lambda value: walk_json(value, path) if path else value,
            key=("json", path))
        return _Values(codes, values)


def evaluate(table, rows, query):
    """The rows passing a parsed ``query``, as a bool mask."""
    if not query:
        return np.ones(len(rows), dtype=bool)
    result = _Evaluator(table, rows).query(query)
    if isinstance(result, _Negations):
        return result.any(len(rows))
    present, truthy = result.truth(len(rows))
    return present & truthy


class JsonFilter(BaseHostFilter):
    """Hosts for which the ``query`` hint holds."""

    RUN_ON_REBUILD = False

    def filter_mask(self, table, rows, request):
        query = request.hint("query")
        if not query:
            return np.ones(len(rows), dtype=bool)
        return evaluate(table, rows, parse_query(query))

    def explain(self, table, removed_rows, request):
        return f"no host satisfies the query {request.hint('query')}"
