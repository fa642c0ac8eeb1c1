"""A name led by a county's short name: that county's, or a 字号 that begins with those characters.

阳信德通商贸有限公司 reads as 阳信县 (山东)'s 德通 or as the 字号 阳信德通 with no region written: a
字号 may well begin with characters that spell a county somewhere in China. The name alone cannot
tell; a USCC issued outside that county can (a name's region is the place it is registered in, or
above), so standardise reads such a name with its USCC's authority, and a looked-up name (no code)
is looked up both ways, the look-up's order deciding (tests/test_lookup.py).
"""

from __future__ import annotations

import random

import polars as pl
import pytest

from datapool.matching.names import name_fronts
from datapool.matching.standardise import standardise
from datapool.samples.world import make_uscc
from datapool.schemas.records import RECORD_SCHEMA, conform


def _uscc(division: str) -> str:
    return make_uscc(random.Random(division), "91", division)


@pytest.mark.parametrize(
    ("name", "division", "region", "core"),
    [
        # registered in 于都县: 阳信 cannot be its region, it begins the 字号
        ("阳信德通商贸有限公司", "360731", 0, "阳信德通商贸"),
        ("阳信德通商贸有限责任公司", "360700", 0, "阳信德通商贸"),
        # registered in 阳信县 (or 山东, or 滨州 above it): the county's 德通
        ("阳信德通商贸有限公司", "371622", 371622, "德通商贸"),
        ("阳信德通商贸有限公司", "370000", 371622, "德通商贸"),
        # no code: the first reading (the county's), as the name alone says
        ("阳信德通商贸有限公司", None, 371622, "德通商贸"),
        # a full name (阳信县) is a region whatever the code says
        ("阳信县德通商贸有限公司", "360731", 371622, "德通商贸"),
        # a branch's name leads with its head office's region, not its own authority's
        ("阳信德通商贸有限公司赣县分公司", "360704", 371622, "德通商贸"),
        # a region written before it keeps the short name in the 字号 already (not inside it)
        ("于都县阳信德通商贸有限公司", "360731", 360731, "阳信德通商贸"),
        ("于都阳信德通商贸有限公司", None, 360731, "阳信德通商贸"),
        # a region bracketed after the 字号 that 阳信县 is outside of: 阳信 begins the 字号
        ("阳信德通商贸(于都)有限公司", None, 360731, "阳信德通商贸"),
        ("博兴鸿(赣州市)建筑工程有限公司", None, 360700, "博兴鸿建筑工程"),
        ("博兴鸿(赣州市)建筑工程有限公司", "360721", 360700, "博兴鸿建筑工程"),
        ("信丰宏达建材(赣州)有限公司", None, 360722, "宏达建材"),  # 信丰县 is in 赣州
        # a spelling two provinces' divisions share (南山区: 深圳's, 鹤岗's) is no region alone;
        # the USCC's authority says which one it is, or none when it lies in neither
        ("南山区佳凤汽车销售有限公司", None, 0, "佳凤汽车销售"),
        ("南山区佳凤汽车销售有限公司", "440305", 440305, "佳凤汽车销售"),
        ("南山佳凤汽车销售有限公司", "440300", 440305, "佳凤汽车销售"),
        ("南山区佳凤汽车销售有限公司", "230404", 230404, "佳凤汽车销售"),
        ("南山区佳凤汽车销售有限公司", "360704", 0, "佳凤汽车销售"),
        ("朝阳宏达建材有限公司", "110105", 110105, "宏达建材"),
        ("南山贸易有限公司", "440305", 0, "南山贸易"),  # 南山 is the 字号 here (贸易 follows)
        # a code that agrees with the name changes nothing
        ("信丰宏达建材有限公司", "360722", 360722, "宏达建材"),
        ("信丰宏达建材有限公司", "360700", 360722, "宏达建材"),
        ("赣县宏达建材有限公司", "360721", 360704, "宏达建材"),  # 赣县's code before 2016
    ],
)
def test_a_short_leading_region_read_with_the_uscc(name, division, region, core):
    row = {"source": "market_supervision", "source_row": 1, "source_key": "K1", "name": name}
    if division:
        row["id"] = _uscc(division)
    std = standardise(conform(pl.DataFrame([row]), RECORD_SCHEMA)).row(0, named=True)
    assert (std["region_code"], std["core"]) == (region, core)


def test_the_other_reading_also_keys_and_forms_alike():
    # the reread row's keys are those of the same 字号 written without a region
    rows = [
        {"source": "market_supervision", "source_row": 1, "source_key": "K1",
         "name": "阳信德通商贸有限公司", "id": _uscc("360731")},
        {"source": "market_supervision", "source_row": 2, "source_key": "K2",
         "name": "于都县阳信德通商贸有限责任公司"},
    ]  # fmt: skip
    std = standardise(conform(pl.DataFrame(rows), RECORD_SCHEMA), readings=True)
    for col in ("core", "core_key_h", "brand_key_h", "form_family"):
        assert std[col][0] == std[col][1], col
    assert std["lead_region"].is_null().all()
    # a registry's rows keep no reading they do not take
    assert "lead_body" not in standardise(conform(pl.DataFrame(rows), RECORD_SCHEMA)).columns


@pytest.mark.parametrize(
    ("name", "lead_body", "lead_region"),
    [
        ("阳信德通商贸有限公司", "阳信德通商贸有限公司", 0),
        ("山东阳信德通商贸有限公司", "阳信德通商贸有限公司", 370000),  # the region before it
        # a region bracketed after the 字号 (a name writes its region once) that the short name
        # is outside of: the short name begins the 字号, the one reading
        ("阳信德通商贸(于都)有限公司", None, None),
        ("阳信德通(于都)商贸有限公司", None, None),
        # ... inside it: either reading still
        ("信丰宏达建材(赣州)有限公司", "信丰宏达建材有限公司", 360700),
        ("德通商贸(于都)有限公司", None, None),
        ("阳信县德通商贸有限公司", None, None),  # a full name is a region
        ("金山贸易有限公司", None, None),  # already the 字号 (an industry word follows)
        ("宏达建材有限公司", None, None),
    ],
)
def test_the_other_reading(name, lead_body, lead_region):
    r = name_fronts(pl.Series([name]), keys=False).row(0, named=True)
    assert (r["lead_body"], r["lead_region"]) == (lead_body, lead_region)
