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
        # GB/T 4754's 社会工作 (大类 85) is an industry word, so a county's short name before it
        # begins the 字号 (光泽: 福建's 光泽县, and an auspicious word)
        ("光泽社会工作服务中心", "", "光泽", "社会工作", "服务中心"),
        ("赣州市赣县区光泽社会工作服务中心", "赣县区", "光泽", "社会工作", "服务中心"),
        ("宏达社会工作服务中心", "", "宏达", "社会工作", "服务中心"),
        # 科技 is 科学技术: each 科技 industry word in its 技术 form too
        ("福合藤网络技术有限公司", "", "福合藤", "网络技术", "有限公司"),
        ("赣州福合腾网络科技有限公司", "赣州市", "福合腾", "网络科技", "有限公司"),
        ("宏达环保技术有限公司", "", "宏达", "环保技术", "有限公司"),
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


@pytest.mark.parametrize(
    ("address", "parts"),
    [
        # the levels above the town at any level, in full or short, or none
        ("江西省赣州市赣县区梅林镇长征路67号", ("梅林镇", "", "长征路", "67")),
        ("江西赣州赣县梅林镇长征路67号", ("梅林镇", "", "长征路", "67")),
        ("赣州赣县白鹭乡永丰3村城南路115号", ("白鹭乡", "永丰3村", "城南路", "115")),
        ("赣县区梅林镇长征路67号", ("梅林镇", "", "长征路", "67")),
        # the development zone in each spelling
        (
            "江西赣县经济开发区江背3社区江东路154号",
            ("江西赣县经济开发区", "江背3社区", "江东路", "154"),
        ),
        ("赣县经济技术开发区江东路154号", ("江西赣县经济开发区", "", "江东路", "154")),
        ("江西赣州赣县开发区江东路154号", ("江西赣县经济开发区", "", "江东路", "154")),
        ("开发区江东路154号", ("江西赣县经济开发区", "", "江东路", "154")),
        # a 社区 before a 村: 杨村社区 is one community
        ("梅林镇杨村社区长征路67号", ("梅林镇", "杨村社区", "长征路", "67")),
        ("茅店镇长征2村新华路170号", ("茅店镇", "长征2村", "新华路", "170")),
        # several numbers: the first
        ("梅林镇新华路224、225号", ("梅林镇", "", "新华路", "224")),
        ("梅林镇新华路224-226号", ("梅林镇", "", "新华路", "224")),
        ("梅林镇新华路224号-228号", ("梅林镇", "", "新华路", "224")),
        ("梅林镇新华路２２４－２２６号", ("梅林镇", "", "新华路", "224")),
        ("梅林镇新华路224号3栋2单元", ("梅林镇", "", "新华路", "224")),
    ],
)
def test_address_spellings(address, parts):
    assert parse_address(address)[1:] == parts


@pytest.mark.parametrize(
    ("others", "address", "town"),
    [
        # a bare town name is read as the one town of the other addresses with that name
        (["梅林镇城北社区人民路1号"], "梅林文化社区红旗大道42号", "梅林镇"),
        (["阳埠乡石桥2村建设路1号"], "阳埠石桥2村建设路76号", "阳埠乡"),
        (["江西赣县经济开发区科技大道1号"], "江西赣县经济开发区科技大道2号", "江西赣县经济开发区"),
        # no town of that name among the others: not read
        (["湖江镇富民路1号"], "梅林文化社区红旗大道42号", ""),
        # two towns share the name: not read
        (["梅林镇人民路1号", "梅林乡人民路1号"], "梅林文化社区红旗大道42号", ""),
        # what follows is a village's, a community's or a road's suffix: another part's name
        (["湖江镇富民路1号"], "湖江村白石路3号", ""),
        (["梅林镇人民路1号"], "梅林社区人民路3号", ""),
        (["梅林镇人民路1号"], "梅林路3号", ""),
        # a town written in full is left as it is
        (["梅林镇人民路1号"], "梅林镇文化社区红旗大道42号", "梅林镇"),
    ],
)
def test_a_bare_town_is_read_from_the_other_addresses(others, address, town):
    from datapool.matching.addresses import parse_addresses

    parsed = parse_addresses(pl.Series([*others, address]))
    assert parsed.filter(pl.col("address") == address)["town"].item() == town


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


def test_the_pinyin_table_is_pypinyins_reading_of_each_character():
    """names.pinyin.tsv holds what pypinyin's lazy_pinyin gives each character alone; any
    character not in it is its own key there too (regenerate: names.write_pinyin_table())."""
    from pypinyin import lazy_pinyin
    from pypinyin.pinyin_dict import pinyin_dict

    from datapool.matching.names import _char_pinyin, pinyin_key, pinyin_table

    table = pinyin_table()
    codes = set(range(0x110000)) - set(range(0xD800, 0xE000))  # every character but surrogates
    assert set(pinyin_dict) <= codes
    for code in sorted(set(pinyin_dict) | set(range(0x3000, 0xA000)) | set(range(0xFF00, 0xFFF0))):
        ch = chr(code)
        expected = lazy_pinyin(ch)[0] if ch.strip() else ""
        assert _char_pinyin(ch) == expected, ch
    assert len(table) == sum(1 for c in pinyin_dict if chr(c).strip()) == 41923
    assert pinyin_key("鑫达 宏達A1") == "xindahongdaA1"
    assert pinyin_key("新达") == pinyin_key("鑫达") == "xinda"
