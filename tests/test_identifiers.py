from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from datapool.matching.identifiers import (
    ORG_WEIGHTS,
    USCC_ALPHABET,
    USCC_WEIGHTS,
    classify,
    clean_code,
    is_valid_org_code,
    is_valid_regno,
    is_valid_uscc,
    org_check_char,
    org_code_of,
    regno_check_digit,
    uscc_check_char,
)


@pytest.mark.parametrize(
    "code,kind",
    [
        ("91350100M000100Y43", "uscc"),
        ("9135010٣M000100Y43", "uscc_bad"),  # a non-ASCII digit: never a valid code, never a crash
        ("91350100M000100Y44", "uscc_bad"),
        ("M000100Y4", "org"),
        ("M000100Y5", "org_bad"),
        ("350100M000100Y4", "taxid15"),
        ("", ""),
        ("12345", "other"),
    ],
)
def test_classify(code, kind):
    assert classify(code) == kind


def test_regno_hint_wins_for_ambiguous_fifteen_digits():
    body = "36072100000001"
    code = body + regno_check_digit(body)
    assert classify(code, "regno") == "regno"


def test_clean_code_folds_width_case_and_spaces():
    assert clean_code(" ９１３５０１００m000100y43 ") == "91350100M000100Y43"
    assert clean_code(None) == ""


def test_org_code_bridges_uscc_and_old_tax_id():
    assert org_code_of("91350100M000100Y43", "uscc") == "M000100Y4"
    assert org_code_of("350100M000100Y4", "taxid15") == "M000100Y4"
    assert org_code_of("350100M000100Y5", "taxid15_bad") == ""


def _ref_uscc(body: str) -> str:
    total = sum(USCC_ALPHABET.index(c) * (3**i % 31) for i, c in enumerate(body))
    return USCC_ALPHABET[(31 - total % 31) % 31]


uscc_bodies = st.text(alphabet=USCC_ALPHABET, min_size=17, max_size=17)


@given(uscc_bodies)
def test_uscc_check_agrees_with_reference(body):
    assert uscc_check_char(body) == _ref_uscc(body)
    assert (
        is_valid_uscc(body + _ref_uscc(body)) or not body[:2].isalnum() or not body[2:8].isdigit()
    )


@given(uscc_bodies, st.integers(0, 16), st.sampled_from(USCC_ALPHABET))
def test_uscc_check_catches_every_single_substitution(body, pos, ch):
    # weights 3^(i-1) mod 31 are non-zero modulo the prime 31: one changed character changes the sum
    code = body + uscc_check_char(body)
    typo = code[:pos] + ch + code[pos + 1 :]
    if typo != code:
        assert uscc_check_char(typo[:17]) != typo[17]


def test_uscc_weights_are_powers_of_three_mod_31():
    assert USCC_WEIGHTS == [1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28]


@given(st.text(alphabet="0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=8, max_size=8))
def test_org_check_agrees_with_reference(body):
    total = sum(int(c, 36) * w for c, w in zip(body, ORG_WEIGHTS, strict=True))
    c9 = 11 - total % 11
    assert org_check_char(body) == ("X" if c9 == 10 else "0" if c9 == 11 else str(c9))


def test_org_check_misses_substitutions_eleven_apart():
    # GB 11714 checks modulo 11: M (22) and X (33) differ by 11, so this typo passes. Tests say so,
    # and matching never lets an organisation code read out of a failing USCC veto a link.
    body = "MAMW8451"
    code = body + org_check_char(body)
    typo = "X" + code[1:]
    assert is_valid_org_code(code) and is_valid_org_code(typo)


@given(
    st.text(alphabet="0123456789", min_size=14, max_size=14),
    st.integers(0, 13),
    st.sampled_from("0123456789"),
)
def test_regno_mod_11_10_catches_single_digit_errors(body, pos, d):
    code = body + regno_check_digit(body)
    assert is_valid_regno(code)
    typo = code[:pos] + d + code[pos + 1 :]
    if typo != code:
        assert not is_valid_regno(typo)


@given(st.lists(st.text(alphabet="91３６ａbc -_\u3000Ｘx", max_size=20), max_size=20))
def test_vectorised_clean_code_agrees(values):
    import polars as pl

    from datapool.matching.identifiers import clean_codes

    out = clean_codes(pl.Series(values, dtype=pl.Utf8)).to_list()
    assert out == [clean_code(v) for v in values]


# ٣: a digit, but not ASCII
_code_chars = st.sampled_from(list("0123456789ABCDEFGHJKLMNPQRTUWXYIOSVZ٣"))


@given(
    st.lists(
        st.one_of(
            st.text(alphabet=_code_chars, min_size=18, max_size=18),
            st.text(alphabet=_code_chars, min_size=9, max_size=9),
            st.text(alphabet="0123456789", min_size=15, max_size=15),
            uscc_bodies.map(lambda b: b + uscc_check_char(b)),
            st.text(alphabet="0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=8, max_size=8).map(
                lambda b: b + org_check_char(b)
            ),
            st.text(alphabet="0123456789", min_size=14, max_size=14).map(
                lambda b: b + regno_check_digit(b)
            ),
        ),
        max_size=30,
    )
)
def test_vectorised_checks_agree_with_the_scalar_ones(codes):
    import polars as pl

    from datapool.matching.identifiers import org_valid_expr, regno_valid_expr, uscc_valid_expr

    df = pl.DataFrame({"c": codes}, schema={"c": pl.Utf8}).select(
        uscc_valid_expr(pl.col("c")).alias("u"),
        org_valid_expr(pl.col("c")).alias("o"),
        regno_valid_expr(pl.col("c")).alias("r"),
    )
    assert df["u"].to_list() == [is_valid_uscc(c) for c in codes]
    assert df["o"].to_list() == [is_valid_org_code(c) for c in codes]
    assert df["r"].to_list() == [is_valid_regno(c) for c in codes]
