from __future__ import annotations

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from datapool.matching.addresses import parse_address
from datapool.matching.names import fold, parse_name


@pytest.mark.parametrize(
    "raw,region,brand,industry,form",
    [
        ("赣州市赣县区宏达建材有限公司", "赣县区", "宏达", "建材", "有限公司"),
        ("赣县宏达建材有限责任公司", "赣县区", "宏达", "建材", "有限公司"),
        ("宏达建材(赣县)有限公司", "赣县区", "宏达", "建材", "有限公司"),
        ("贛縣宏達建材有限責任公司", "赣县区", "宏达", "建材", "有限公司"),
        ("江西宏达建材有限公司", "江西省", "宏达", "建材", "有限公司"),
        ("赣州宏达建材有限公司", "赣州市", "宏达", "建材", "有限公司"),
        (" 宏达 建材有限公司 ", "", "宏达", "建材", "有限公司"),
        ("宏达建材（赣县）有限公司", "赣县区", "宏达", "建材", "有限公司"),
        ("赣县区鑫盛脐橙专业合作社", "赣县区", "鑫盛", "脐橙", "专业合作社"),
        ("赣州好邻居企业管理合伙企业(有限合伙)", "赣州市", "好邻居", "企业管理", "有限合伙"),
        # a bracketed region before the name or after the 字号, one level or several stacked
        ("（赣州）宏达建材有限公司", "赣州市", "宏达", "建材", "有限公司"),
        ("（赣州市赣县区）宏达建材有限公司", "赣县区", "宏达", "建材", "有限公司"),
        ("【江西省赣州市赣县区】宏达建材有限公司", "赣县区", "宏达", "建材", "有限公司"),
        ("宏达建材(江西赣州)有限公司", "赣州市", "宏达", "建材", "有限公司"),
        ("客家文化(江西赣州市赣县区)协会", "赣县区", "客家", "文化", "协会"),
        # a note that is not regions alone is no region (two disjoint ones are not stacked)
        ("宏达建材(赣州宏运)有限公司", "", "宏达", "建材", "有限公司"),
        ("宏达建材(信丰赣县)有限公司", "", "宏达", "建材", "有限公司"),
    ],
)
def test_parse_name_parts(raw, region, brand, industry, form):
    p = parse_name(raw)
    assert (p.region, p.brand, p.industry, p.form) == (region, brand, industry, form)


def test_branch_keeps_head_and_place():
    p = parse_name("美佳企业管理有限责任公司梅林分公司")
    assert p.branch and p.branch_place == "梅林" and p.core == "美佳企业管理"
    assert not parse_name("美佳企业管理有限公司").branch


def test_former_name_in_brackets():
    p = parse_name("宏达建材有限公司(原赣县宏远建材有限公司)")
    assert p.core == "宏达建材" and parse_name(p.former).core == "宏远建材"


def test_odd_brackets_fold():
    assert fold("宏达〔赣县〕【测试】") == "宏达(赣县)(测试)"


@given(
    st.text(
        alphabet=st.sampled_from(
            list("赣州市县区宏达建材有限责任公司（）()【】〔〕 　１２AB貛縣達")
        ),
        max_size=30,
    )
)
def test_fold_is_idempotent(text):
    assert fold(fold(text)) == fold(text)


@given(
    st.text(
        alphabet=st.sampled_from(list("江西省赣州市县区梅林镇广场社区红旗大道号８８12 附近")),
        max_size=40,
    )
)
def test_address_normaliser_is_idempotent(text):
    norm = parse_address(text)[0]
    assert parse_address(norm)[0] == norm


def test_address_parts():
    assert parse_address("江西省赣州市赣县区梅林镇广场社区红旗大道８８号1栋")[1:] == (
        "梅林镇",
        "广场社区",
        "红旗大道",
        "88",
    )
    assert parse_address("赣县经开区桃江社区解放路256号")[1] == "江西赣县经济开发区"


@settings(deadline=None)  # each call compiles the pattern of every division's spellings (~7,000)
@given(
    st.lists(
        st.text(
            alphabet=st.sampled_from(
                list("赣州市县区宏达建材有限责任公司分原名（）() 　貛縣達梅林镇协会")
            ),
            max_size=25,
        ),
        max_size=8,
    )
)
def test_a_name_parses_the_same_alone_or_in_a_column(names):
    from datapool.matching.names import parse_names

    table = {
        r["name"]: r
        for r in parse_names(pl.Series(names, dtype=pl.Utf8), keys=False).iter_rows(named=True)
    }
    for n in names:
        p, r = parse_name(n), table[n]
        assert (p.clean, p.region, p.brand, p.industry, p.form, p.branch, p.core) == (
            r["name_clean"],
            r["region"],
            r["brand"],
            r["industry_words"],
            r["form"],
            r["branch"],
            r["core"],
        )


@settings(deadline=None)  # see above
@given(
    st.lists(
        st.text(
            alphabet=st.sampled_from(
                list("赣州市县区宏达建材有限公司分原名曾用（）() 梅林镇社区大道路8号")
            ),
            max_size=20,
        ),
        max_size=12,
    )
)
def test_parts_come_in_the_order_of_the_values(values):
    # standardise places each row's parts by the position of its value among the distinct values
    from datapool.matching.addresses import parse_addresses
    from datapool.matching.names import parse_names

    distinct = pl.Series(values, dtype=pl.Utf8).unique(maintain_order=True)
    assert parse_names(distinct, distinct=True)["name"].to_list() == distinct.to_list()
    assert parse_addresses(distinct, distinct=True)["address"].to_list() == distinct.to_list()
