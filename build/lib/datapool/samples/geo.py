"""The sample district: 赣县区's towns laid out as 136 community grids.

Geometry is synthetic (a 17 x 8 lattice over the district's bounding box) but
the names are the real towns of 赣县区 (docs/design.md). Every grid has a
unique community name, so an address naming town + community places it.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path

TOWNS = [
    "梅林镇",
    "王母渡镇",
    "沙地镇",
    "江口镇",
    "田村镇",
    "南塘镇",
    "茅店镇",
    "吉埠镇",
    "五云镇",
    "湖江镇",
    "储潭镇",
    "韩坊镇",
    "阳埠乡",
    "大埠乡",
    "长洛乡",
    "大田乡",
    "石芫乡",
    "三溪乡",
    "白鹭乡",
    "江西赣县经济开发区",
]
# grids per town (136, as in the district): the seat and the development zone are dense, the rest
# rural
_GRIDS_PER_TOWN = [
    34,
    5,
    6,
    6,
    6,
    6,
    6,
    5,
    5,
    5,
    5,
    5,
    4,
    4,
    4,
    4,
    4,
    4,
    4,
    14,
]
COLS, ROWS = 17, 8
LON0, LON1, LAT0, LAT1 = 114.80, 115.30, 25.60, 26.20
_COMMUNITY_WORDS = (
    "广场 红旗 建设 和平 光明 新华 城南 城北 东门 西门 胜利 团结 幸福 长征 人民 解放 文化 育才 "
    "花园 锦江 桃江 平江 贡江 梅林 东山 西山 南山 北山 龙头 龙岭 石门 石桥 高桥 大塘 长塘 清溪 "
    "白石 黄沙 上坪 下坪 中坝 江背 河口 田心 竹园 樟树 松山 杨村 枫林 荷塘 新田 老屋 水东 水西 "
    "金星 银湖 红光 前进 联合 永丰"
).split()
ROADS = (
    "红旗大道 赣新大道 黄金大道 城南路 建设路 人民路 解放路 东门路 工业大道 科技大道 江东路 "
    "滨江大道 新华路 长征路 振兴路 富民路"
).split()


@dataclass(frozen=True)
class Grid:
    """One community grid: a lattice cell with its town and community."""

    grid_id: str
    town: str
    community: str
    worker: str
    lon0: float
    lat0: float
    lon1: float
    lat1: float

    def random_point(self, rng: random.Random) -> tuple[float, float]:
        """A point strictly inside the cell."""
        return (
            round(rng.uniform(self.lon0 + 1e-4, self.lon1 - 1e-4), 6),
            round(rng.uniform(self.lat0 + 1e-4, self.lat1 - 1e-4), 6),
        )


def make_grids(rng: random.Random) -> list[Grid]:
    """Lay the 136 grids out town by town, snake-wise over the lattice."""
    assert sum(_GRIDS_PER_TOWN) == COLS * ROWS == 136
    cells = [(c if r % 2 == 0 else COLS - 1 - c, r) for r in range(ROWS) for c in range(COLS)]
    dlon, dlat = (LON1 - LON0) / COLS, (LAT1 - LAT0) / ROWS
    words = list(_COMMUNITY_WORDS)
    rng.shuffle(words)
    surnames = "黄 刘 李 钟 谢 曾 赖 罗 陈 张 邱 廖 温 王 杨 朱".split()
    grids: list[Grid] = []
    it = iter(cells)
    n = 0
    for town, count in zip(TOWNS, _GRIDS_PER_TOWN, strict=True):
        for k in range(count):
            c, r = next(it)
            n += 1
            word = words[(n - 1) % len(words)] + (
                "" if n <= len(words) else str(n // len(words) + 1)
            )
            community = word + (
                "社区" if town in ("梅林镇", "江西赣县经济开发区") or k == 0 else "村"
            )
            worker = rng.choice(surnames) + f"网格员{n:03d}"
            grids.append(
                Grid(
                    f"G{n:03d}",
                    town,
                    community,
                    worker,
                    round(LON0 + c * dlon, 6),
                    round(LAT0 + r * dlat, 6),
                    round(LON0 + (c + 1) * dlon, 6),
                    round(LAT0 + (r + 1) * dlat, 6),
                )
            )
    return grids


def write_geojson(grids: list[Grid], path: Path) -> None:
    """Write the grids as a FeatureCollection of polygons (docs/design.md, Inputs)."""
    feats = []
    for g in grids:
        ring = [
            [g.lon0, g.lat0],
            [g.lon1, g.lat0],
            [g.lon1, g.lat1],
            [g.lon0, g.lat1],
            [g.lon0, g.lat0],
        ]
        feats.append(
            {
                "type": "Feature",
                "properties": {
                    "grid_id": g.grid_id,
                    "grid_name": f"{g.town}{g.community}网格",
                    "community": g.community,
                    "street": g.town,
                    "grid_worker": g.worker,
                },
                "geometry": {"type": "Polygon", "coordinates": [ring]},
            }
        )
    path.write_text(
        json.dumps({"type": "FeatureCollection", "features": feats}, ensure_ascii=False, indent=1),
        encoding="utf-8",
    )
