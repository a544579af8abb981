"""Matching one host or aggregate value against a flavor extra spec.

An extra spec value is either a plain string (the value must equal it) or
an operator followed by operands, separated by whitespace:

========== ===========================================================
``=``      numeric, at least: ``"124"`` matches ``"= 123"`` (a flavor
           asks for a minimum, not an exact figure)
``==``     numeric equality; ``!=``, ``>=``, ``<=`` likewise
``s==``    string comparisons: ``s==``, ``s!=``, ``s<``, ``s<=``,
           ``s>``, ``s>=`` (lexical, against the first operand)
``<in>``   the first operand is a substring of the value
``<all-in>`` every operand is a substring of the value
``<or>``   the value equals one of the alternatives:
           ``"<or> a <or> b <or> c"``
========== ===========================================================

Only the first operand counts for the binary operators. A value or operand
that is not a number makes a numeric operator fail rather than raise: one
host reporting ``"n/a"`` must not abort the whole request. These are
Nova's semantics, so flavors written for Nova select the same hosts.
"""
import operator

OR = "<or>"
ALL_IN = "<all-in>"


def _numeric(compare):
    """A numeric comparison that is simply false when either side is not a
    number."""
    def method(value, operand):
        try:
            return compare(float(value), float(operand))
        except (TypeError, ValueError):
            return False
    return method


#: Binary operators: method(value, first operand).
OPERATORS = {
    "=": _numeric(operator.ge),
    "==": _numeric(operator.eq),
    "!=": _numeric(operator.ne),
    ">=": _numeric(operator.ge),
    "<=": _numeric(operator.le),
    "s==": operator.eq,
    "s!=": operator.ne,
    "s<": operator.lt,
    "s<=": operator.le,
    "s>": operator.gt,
    "s>=": operator.ge,
    "<in>": lambda value, operand: operand in value,
}


def match(value, requirement):
    """Whether ``value`` (a string) satisfies the extra spec value
    ``requirement``."""
    words = requirement.split()
    op = words[0] if words else None
    if op != OR and op != ALL_IN and op not in OPERATORS:
        return value == requirement
    if value is None:
        return False
    operands = words[1:]
    if op == OR:
        return _match_or(value, operands)
    if not operands:
        return False
    if op == ALL_IN:
        return all(operand in value for operand in operands)
    return OPERATORS[op](value, operands[0])


def _match_or(value, words):
    """``a <or> b <or> c``: alternatives at the even positions, the
    ``<or>`` keywords at the odd ones (whatever they say)."""
    return value in words[0::2]
