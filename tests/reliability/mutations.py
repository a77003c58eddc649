"""Hypothesis strategies for hostile platform data: the values a changed or broken API sends.

Shared by the property tests of every normaliser, so that each sees the same kinds of damage:
missing keys, wrong types, huge strings and numbers, odd Unicode (NUL, lone surrogates,
right-to-left marks), nested nulls, numbers as strings and strings as numbers.
"""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

#: Strings a database or an encoder may choke on even though JSON carries them happily.
NASTY_TEXT: tuple[str, ...] = (
    "",
    " ",
    "\x00",
    "a\x00b",
    "\ud800",
    "\udfff tail",
    "\u202eevil",
    "🇺🇸",
    '=HYPERLINK("http://x")',
    "'; DROP TABLE ads; --",
    "1e400",
    "-1",
    "NaN",
    "99999999999999999999999",
    "x" * 100_000,
)

#: Numbers outside every column's range, or not finite.
NASTY_NUMBERS: tuple[Any, ...] = (
    0,
    -1,
    2**63,
    -(2**63) - 1,
    10**30,
    1e308,
    float("inf"),
    float("nan"),
    0.5,
    True,
)

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=40),
    st.sampled_from(NASTY_TEXT),
    st.sampled_from(NASTY_NUMBERS),
)

#: Any JSON-like value, nested a few levels (lists and objects of the above, nulls inside).
json_values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=12,
)


@st.composite
def mutated(draw: st.DrawFn, record: dict[str, Any], keys: list[str] | None = None) -> Any:
    """``record`` with a few keys deleted, retyped or replaced; sometimes not an object at all."""
    if draw(st.integers(0, 19)) == 0:
        return draw(json_values)
    out = dict(record)
    names = sorted(keys if keys is not None else out)
    for name in draw(st.lists(st.sampled_from(names), min_size=1, max_size=4, unique=True)):
        action = draw(st.sampled_from(("delete", "replace", "stringify", "null_inside")))
        if action == "delete":
            out.pop(name, None)
        elif action == "replace":
            out[name] = draw(json_values)
        elif action == "stringify":
            out[name] = str(out.get(name))
        else:
            value = out.get(name)
            out[name] = [None, value] if isinstance(value, list) else {"lower_bound": None}
    return out


@st.composite
def mutated_row(draw: st.DrawFn, row: dict[str, str]) -> dict[str, str]:
    """A CSV row (all strings) with some cells emptied, swapped for junk, or overlong."""
    out = dict(row)
    for name in draw(st.lists(st.sampled_from(sorted(out)), min_size=1, max_size=4, unique=True)):
        out[name] = draw(
            st.one_of(
                st.just(""),
                st.sampled_from(NASTY_TEXT),
                st.text(max_size=30),
                st.integers().map(str),
                st.floats().map(str),
            )
        )
    return out
