"""extra_specs_ops.match, one row per case (conformance item 18: ``=`` is
numeric at-least; ``<or>``, ``<in>``, ``<all-in>`` and the ``s`` string
operators).

Each row is (host value, extra spec value, expected), worked out from the
operator's meaning rather than from the implementation.
"""
import pytest
from hypothesis import given
from hypothesis import strategies as st

from hoststate.scheduler.filters.extra_specs_ops import match

CASES = [
    # no operator: the whole spec value, compared as text
    ("1", "1", True),
    ("1", "2", False),
    ("1.0", "1", False),            # text, not numbers
    ("abc def", "abc def", True),
    ("abc", " abc", False),         # whitespace is part of the text
    ("abc", "", False),
    ("", "", True),
    ("x", "~ x", False),            # an unknown word is no operator
    # "=": at least, numerically (item 18: "124" matches "= 123")
    ("124", "= 123", True),
    ("123", "= 123", True),
    ("122", "= 123", False),
    ("123.5", "= 123", True),
    ("12", "= 123", False),         # "12" < "123" numerically
    ("1e3", "= 999", True),
    ("abc", "= 123", False),        # not a number: no match, no error
    ("123", "= abc", False),
    ("123", "=", False),            # operator without operand
    # "==" and "!=": numeric equality
    ("123", "== 123", True),
    ("123.0", "== 123", True),      # numbers, not text
    ("124", "== 123", False),
    ("abc", "== abc", False),       # not numbers
    ("124", "!= 123", True),
    ("123.0", "!= 123", False),
    # ">=" and "<="
    ("10", ">= 9.5", True),
    ("9", ">= 9.5", False),
    ("9", "<= 9.5", True),
    ("10", "<= 9.5", False),
    ("10", ">= 9 99", True),        # only the first operand counts
    # string comparisons
    ("123", "s== 123", True),
    ("123.0", "s== 123", False),
    ("abc", "s!= abd", True),
    ("abc", "s!= abc", False),
    ("abc", "s< abd", True),
    ("abd", "s< abc", False),
    ("abc", "s<= abc", True),
    ("9", "s> 10", True),           # lexical: "9" > "10"
    ("10", "s> 9", False),
    ("abc", "s>= abc", True),
    ("abb", "s>= abc", False),
    ("abc", "s==", False),          # operator without operand
    # "<in>": the operand is a substring of the value
    ("12311321", "<in> 11", True),
    ("12311321", "<in> 12311321", True),
    ("12310321", "<in> 11", False),
    ("aes mmx", "<in> aes sse", True),  # only the first operand counts
    ("abc", "<in>", False),
    # "<all-in>": every operand is a substring
    ("['aes', 'mmx', 'aux']", "<all-in> aes mmx", True),
    ("['aes', 'mmx', 'aux']", "<all-in>  aes   mmx aux", True),
    ("['aes', 'mmx', 'aux']", "<all-in> aes txt", False),
    ("aes", "<all-in>", False),
    # "<or>": equal to one alternative
    ("12", "<or> 11 <or> 12", True),
    ("13", "<or> 11 <or> 12", False),
    ("11", "<or> 11", True),
    ("12", "<or> 11 <or> 12 <or> 13", True),
    ("1", "<or> 11 <or> 12", False),     # whole words, not substrings
    ("12", "<or> 11 12", False),    # a word after an alternative is a keyword
    ("x", "<or>", False),
]


@pytest.mark.parametrize("value, requirement, expected", CASES,
                         ids=[f"{v!r}~{r!r}" for v, r, _ in CASES])
def test_match(value, requirement, expected):
    assert match(value, requirement) is expected


def test_none_value_never_matches_an_operator():
    assert match(None, "= 1") is False
    assert match(None, "<or> a <or> b") is False


NUMBERS = st.integers(min_value=-1000, max_value=1000)


@given(NUMBERS, NUMBERS)
def test_numeric_operators_agree_with_number_order(value, operand):
    """``=`` and ``>=`` are the same test; ``==``, ``!=``, ``<=`` the
    obvious ones, whatever the spelling of the numbers."""
    text, wanted = str(value), f"{operand}.0"
    assert match(text, f"= {wanted}") is (value >= operand)
    assert match(text, f">= {wanted}") is (value >= operand)
    assert match(text, f"<= {wanted}") is (value <= operand)
    assert match(text, f"== {wanted}") is (value == operand)
    assert match(text, f"!= {wanted}") is (value != operand)


WORDS = st.text(alphabet="abc", min_size=1, max_size=3)


@given(WORDS, st.lists(WORDS, min_size=1, max_size=4))
def test_or_is_membership(value, alternatives):
    requirement = "<or> " + " <or> ".join(alternatives)
    assert match(value, requirement) is (value in alternatives)
