from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from datapool.matching.names import parse_name, parse_names
from datapool.matching.regions import (
    DIVISIONS_DIR,
    compatible,
    divisions,
    official,
    uscc_region,
)


@pytest.mark.parametrize(
    "raw,code,brand",
    [
        ("江西宏达建材有限公司", 360000, "宏达"),
        ("江西省赣州市信丰县宏达建材有限公司", 360722, "宏达"),
        ("赣州信丰宏达建材有限公司", 360722, "宏达"),
        ("信丰宏达建材有限公司", 360722, "宏达"),
        ("赣县宏达建材有限公司", 360704, "宏达"),  # 赣县 360721 became 赣县区 360704 in 2016
        ("龙南县宏达建材有限公司", 360783, "宏达"),  # 龙南县 became 龙南市 in 2020
        ("南康市宏达建材有限公司", 360703, "宏达"),  # 南康市 became 南康区 in 2013
        ("南昌县宏达建材有限公司", 360121, "宏达"),
        ("广东省深圳市南山区宏达科技有限公司", 440305, "宏达"),
        ("深圳宏达科技有限公司", 440300, "宏达"),
        ("新疆宏达商贸有限公司", 650000, "宏达"),
        ("内蒙古宏达商贸有限公司", 150000, "宏达"),
        ("黔南宏达商贸有限公司", 522700, "宏达"),
        (
            "北京朝阳宏达科技有限公司",
            110105,
            "宏达",
        ),  # 朝阳 is also a city of 辽宁: 北京 says which
        ("辽宁朝阳宏达科技有限公司", 211300, "宏达"),
        ("朝阳宏达科技有限公司", 0, "宏达"),  # which 朝阳 is not known: no region
        ("宏达建材(信丰)有限公司", 360722, "宏达"),
        ("赣州市赣县区大田赖记快递行", 360704, "大田赖记"),  # 大田 after 赣县区 is its 大田乡
        ("金山贸易有限公司", 0, "金山"),  # a short name before an industry word is the 字号
        ("赣州信丰企业管理有限公司", 360700, "信丰"),
        # a social group has no 字号: a short region before its field (an industry word) is its
        # region, as the full name's is
        ("江西家政服务研究会", 360000, "家政服务"),
        ("江西省家政服务研究会", 360000, "家政服务"),
        ("赣县物流行业协会", 360704, "物流行业"),
        ("江西书画研究会", 360000, "书画"),
        ("江西家政服务中心", 0, "江西"),  # a 中心 has a 字号: 江西 is it
        ("宏达建材有限公司", 0, "宏达"),
    ],
)
def test_a_name_parses_its_region(raw, code, brand):
    p = parse_names(pl.Series([raw]), keys=False).row(0, named=True)
    assert (p["region_code"], p["brand"]) == (code, brand)
    assert parse_name(raw).region == (divisions().names.get(code, "") if code else "")


def test_every_division_parses_from_a_name():
    # a name from any province, prefecture or county, written with the division's full name,
    # parses that division; a name several divisions share (桥西区 in two cities of 河北) their
    # common region
    table = pl.read_csv(DIVISIONS_DIR / "divisions.csv", schema_overrides={"code": pl.Int64})
    shared = divisions().aliases.filter(pl.col("alias").is_in(table["name"].implode()))
    expect = table.join(
        shared, left_on="name", right_on="alias", suffix="_shared", maintain_order="left"
    )
    got = parse_names(table["name"] + "宏达建材有限公司", keys=False, distinct=True)
    expect = expect.with_columns(
        got=got["region_code"],
        want=pl.when(pl.len().over("name") > 1).then("code_shared").otherwise("code"),
    )
    assert expect.filter(pl.col("got") != pl.col("want")).height == 0
    assert (expect["got"] != 0).mean() > 0.97  # the rest are names shared across provinces


@pytest.mark.parametrize(
    "a,b,ok",
    [
        (360000, 360700, True),  # 江西 ⊃ 赣州
        (360700, 360704, True),  # 赣州 ⊃ 赣县区
        (360000, 360704, True),
        (360704, 360704, True),
        (360704, 360722, False),  # 赣县区, 信丰县: disjoint
        (360700, 360100, False),  # 赣州, 南昌
        (360000, 440000, False),
        (360000, 440300, False),
        (0, 360704, True),  # no region: compatible with any
        (360704, 0, True),
        (0, 0, True),
        (110000, 110105, True),  # a municipality and its district
    ],
)
def test_region_compatibility(a, b, ok):
    assert bool(compatible(np.array([a]), np.array([b]))[0]) is ok
    assert bool(compatible(np.array([b]), np.array([a]))[0]) is ok


@pytest.mark.parametrize(
    "uscc,code",
    [
        ("91360721MA35H5XW4E", 360704),  # 赣县's old code: its registering authority is 赣县区's
        ("91360704MA35H5XW4E", 360704),
        ("91360700MA35H5XW4E", 360700),
        ("91360799MA35H5XW4E", 360700),  # an unknown county code: its prefecture
        ("91999999MA35H5XW4E", 0),
    ],
)
def test_uscc_region(uscc, code):
    assert pl.select(uscc_region(pl.lit(uscc))).item() == code


def test_official_names():
    assert official(pl.Series([360704, 0, 360000])).to_list() == ["赣县区", "", "江西省"]
