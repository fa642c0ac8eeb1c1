"""The sample world's names follow registration law: one name per registering authority.

Two different enterprises registered by one authority never share a name up to how its
region is written: 赣州市赣县区X研究会, 赣县区X研究会 and 赣县X研究会 are one name (赣县 is
赣县区's name until 2016). The matcher could not tell such homonyms apart, and no registry
holds them (企业名称登记管理规定 art. 17; 社会团体登记管理条例 art. 13).
"""

from __future__ import annotations

import random
from datetime import date

import pytest

from datapool.samples.geo import make_grids
from datapool.samples.world import (
    KIND_BRANCH,
    KIND_LLC,
    KIND_SOCIAL,
    Enterprise,
    build_world,
    name_key,
    next_month,
)


def _ent(
    kind: str = KIND_LLC,
    region: str = "赣县区",
    brand: str = "宏达",
    industry: str = "建材",
    form: str = "有限公司",
    region_text: str | None = None,
    head_key: str = "",
    branch_place: str = "",
) -> Enterprise:
    grid = make_grids(random.Random(1))[0]
    return Enterprise(
        key="T1",
        kind=kind,
        region=region,
        brand=brand,
        industry=industry,
        form=form,
        uscc="",
        regno="",
        founded=date(2020, 1, 1),
        grid=grid,
        road="",
        number=1,
        point=None,
        headcount=1,
        phone="",
        legal_rep="",
        industry_code="",
        region_text=region_text,
        head_key=head_key,
        branch_place=branch_place,
    )


SOC = {"kind": KIND_SOCIAL, "brand": "诗词", "industry": ""}


@pytest.mark.parametrize(
    ("a", "b", "same"),
    [
        # the region as written does not matter, the authority does
        ({"region_text": "赣州市赣县区"}, {"region_text": "赣县"}, True),
        ({"region_text": "赣县区"}, {"region_text": "赣县"}, True),
        ({"region_text": "赣县区"}, {"region": "", "region_text": ""}, True),  # the district's
        ({**SOC, "form": "商会", "region_text": "赣州市赣县区"}, {**SOC, "form": "商会"}, True),
        # another authority: a namesake the law allows (赣州市's bureau, 信丰县's)
        ({"region": "赣州市"}, {"region": "赣县区"}, False),
        ({"region": "信丰县"}, {"region": "赣县区"}, False),
        # an enterprise's organisation form does not make another name (art. 17: the 字号 within
        # an industry); its industry does
        ({"form": "有限公司"}, {"form": "有限责任公司"}, True),
        ({"form": "有限公司"}, {"form": "商行"}, True),
        ({"industry": "建材"}, {"industry": "物流"}, False),
        ({"brand": "宏达"}, {"brand": "宏达鑫"}, False),
        # a social organisation's form word is part of its name
        ({**SOC, "form": "商会"}, {**SOC, "form": "研究会"}, False),
        # a branch: its head office and its place (梅林 and 梅林镇 are one place)
        (
            {"kind": KIND_BRANCH, "head_key": "T9", "branch_place": "梅林"},
            {"kind": KIND_BRANCH, "head_key": "T9", "branch_place": "梅林镇"},
            True,
        ),
        (
            {"kind": KIND_BRANCH, "head_key": "T9", "branch_place": "梅林"},
            {"kind": KIND_BRANCH, "head_key": "T9", "branch_place": "赣县"},
            False,
        ),
    ],
)
def test_name_key(a, b, same):
    assert (name_key(_ent(**a)) == name_key(_ent(**b))) is same


def test_no_two_enterprises_share_a_name_within_an_authority():
    rng = random.Random(3)
    grids = make_grids(rng)
    world = build_world(rng, 3000, grids)
    for month in range(3):
        if month:
            world = next_month(rng, world, grids, 90)
        live = [e for e in world.enterprises if e.active]
        keys = [name_key(e) for e in live]
        twice = {k for k in keys if keys.count(k) > 1} if len(set(keys)) < len(keys) else set()
        assert not twice, sorted(twice)[:5]
        # and the names as registered differ too
        names = [e.name(world) for e in live]
        assert len(set(names)) == len(names)


def test_samples_written_over_old_ones_keep_no_old_visit_sheet(tmp_path):
    # make samples writes over data/samples: a sheet of the world before must not stay behind,
    # or the pipeline reads it as this month's visit records
    from datapool.samples import generate

    folder = tmp_path / "2025-06" / "visit_records"
    generate(tmp_path, 400, ["2025-05", "2025-06"], seed=1, members=False)
    (folder / "2025-06_G999_left_over.xlsx").write_bytes(b"old")
    generate(tmp_path, 400, ["2025-05", "2025-06"], seed=2, members=False)
    fresh = tmp_path / "fresh"
    generate(fresh, 400, ["2025-05", "2025-06"], seed=2, members=False)
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        p.name for p in (fresh / "2025-06" / "visit_records").iterdir()
    )


def test_a_registry_writes_the_industrys_other_form_now_and_then():
    # 科技 is short for 科学技术: the default noise writes 网络技术 for 网络科技 on some names, the
    # same one each month, and the matcher reads both as the industry after one 字号
    from datapool.matching.names import parse_name
    from datapool.samples.noise import industry_spelling

    brands = [a + b for a in "宏鑫华隆泰源恒通利发" for b in "达盛兴昌丰金汇嘉瑞祥"]
    typed = {
        b: industry_spelling(f"赣州{b}网络科技有限公司", _ent(brand=b, industry="网络科技"), 1.0)
        for b in brands
    }
    for b in brands:  # the same each time (each month)
        again = industry_spelling(
            f"赣州{b}网络科技有限公司", _ent(brand=b, industry="网络科技"), 1.0
        )
        assert again == typed[b]
        assert typed[b] in (f"赣州{b}网络科技有限公司", f"赣州{b}网络技术有限公司")
    other = [b for b in brands if "网络技术" in typed[b]]
    assert 0 < len(other) < len(brands) / 3
    for b in other:
        p = parse_name(typed[b])
        assert (p.region, p.brand, p.industry) == ("赣州市", b, "网络技术")
    # an industry without another form, or a name that does not hold it, is left alone
    assert industry_spelling("宏达建材有限公司", _ent(), 1.0) == "宏达建材有限公司"
    assert industry_spelling("宏达有限公司", _ent(industry="网络科技"), 1.0) == "宏达有限公司"
