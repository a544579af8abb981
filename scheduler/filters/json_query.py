"""Reading JsonFilter's ``query`` hint: bounded, and typed when wrong.

A query is JSON text of at most MAX_QUERY_LENGTH characters, nested at
most MAX_QUERY_DEPTH lists deep, whose numbers are finite and fit in 64
bits (``NaN`` and ``Infinity``, which Python's json module accepts, are
refused). Anything else is InvalidJsonQuery, raised before any host is
looked at; the nesting is counted before the recursive parser runs, so a
hostile query costs its length, nothing more.
"""
import json

from hoststate import exception
from hoststate.conf import limits

#: Longest query text accepted: what a RequestSpec's ``query`` hint may
#: hold (checked here again for a spec built without checks).
MAX_QUERY_LENGTH = limits.TEXT_LENGTH
#: Deepest nesting of sub-queries accepted.
MAX_QUERY_DEPTH = 32
_INT64 = 2 ** 63


class InvalidJsonQuery(exception.InvalidSchedulerRequest):
    """The ``query`` hint cannot be read or evaluated."""

    def __init__(self, value, reason):
        super().__init__(field="query", value=_shown(value), reason=reason)

    def __str__(self):
        # KeyError, a base of one subclass, would quote the message
        return self.message


class UnknownQueryOperator(InvalidJsonQuery, KeyError):
    """Nova raises KeyError for an operator it does not know."""


class QueryTypeMismatch(InvalidJsonQuery, TypeError):
    """Nova raises TypeError when Python cannot order the values."""


def _shown(value):
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= 200 else text[:200] + "..."


def parse_query(text):
    """The ``query`` hint's JSON text as a Python value, or
    InvalidJsonQuery (never a crash, and never work beyond the bounds in
    the module docstring)."""
    if not isinstance(text, str):
        raise InvalidJsonQuery(text, "must be JSON text")
    if len(text) > MAX_QUERY_LENGTH:
        raise InvalidJsonQuery(text, f"is longer than {MAX_QUERY_LENGTH} "
                                     "characters")
    if _depth(text) > MAX_QUERY_DEPTH:
        raise InvalidJsonQuery(text, f"nests lists more than "
                                     f"{MAX_QUERY_DEPTH} deep")
    try:
        query = json.loads(text, parse_constant=_no_constant)
    except (ValueError, RecursionError) as exc:
        raise InvalidJsonQuery(text, f"is not JSON: {exc}") from None
    if query and not isinstance(query, list):
        raise InvalidJsonQuery(text, "must be a list: [operator, "
                                     "arguments...]")
    _check_numbers(text, query)
    return query


def _depth(text):
    """How deep brackets nest in ``text``, counted without parsing (so a
    hostile nesting never reaches the recursive parser)."""
    depth = deepest = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    return deepest


def _no_constant(name):
    raise ValueError(f"{name} is not a finite number")


def _check_numbers(text, value):
    if isinstance(value, list):
        for item in value:
            _check_numbers(text, item)
    elif isinstance(value, dict):
        for item in value.values():
            _check_numbers(text, item)
    elif isinstance(value, int) and not isinstance(value, bool) and \
            not -_INT64 <= value < _INT64:
        raise InvalidJsonQuery(text, f"the number {value} does not fit "
                                     "in 64 bits")
