"""Small employers that share a building or a shopping street: the truth joint-union groups find.

Some small employers are moved, after the world is built, into shared buildings (one grid, road
and house number; each its own room or floor, which registries write or leave out as they
please) and onto shopping streets (a row of shops a short walk apart on one road, house numbers
rising along it). Each keeps a ``joint_group`` (``building:JB001``) the truth files record
(``truth/<month>/joint_groups.csv``). The moves draw from their own random stream, so the rest
of the world (and every export row of an employer that is not moved) is the same as without them.
"""

from __future__ import annotations

import math
import random

from datapool.samples.geo import ROADS, Grid
from datapool.samples.world import KIND_INDIV, KIND_LLC, KIND_SOLE, Enterprise, World

BUILDING_SIZES = (3, 6)  # employers per shared building, fewest and most
STREET_SIZES = (4, 7)  # shops per shopping street
SHOP_GAP_M = (40.0, 120.0)  # metres between neighbouring shops on a street
_M_PER_DEG_LAT = 110_574.0
_M_PER_DEG_LON_EQUATOR = 111_320.0
# how a room is written in the world (floor, room); registries spell it their own way
_ROOM_KINDS = ("room", "floor", "block", "shop")


def _candidates(world: World) -> list[Enterprise]:
    """Small active employers a registry gives a headcount for, in creation order."""
    return [
        e
        for e in world.enterprises
        if e.active
        and e.kind in (KIND_INDIV, KIND_SOLE, KIND_LLC)
        and 1 <= e.headcount <= 20
        and (e.in_si or e.in_tax)
        and not e.joint_group
    ]


def _room(rng: random.Random, k: int) -> str:
    """The room of the ``k``-th employer of a building, as the building's owner numbers it."""
    floor = rng.randint(1, 12)
    kind = rng.choice(_ROOM_KINDS)
    if kind == "room":
        return f"{floor}{k + 1:02d}室"
    if kind == "floor":
        return f"{floor}楼"
    if kind == "block":
        return f"{rng.choice('ABC')}座{floor}{k + 1:02d}"
    return f"{k + 1}号商铺"


def _offset(point: tuple[float, float], east_m: float, north_m: float) -> tuple[float, float]:
    lon, lat = point
    dlon = east_m / (_M_PER_DEG_LON_EQUATOR * math.cos(math.radians(lat)))
    return round(lon + dlon, 6), round(lat + north_m / _M_PER_DEG_LAT, 6)


def _inside(g: Grid, margin_m: float, rng: random.Random) -> tuple[float, float]:
    """A point of ``g`` at least ``margin_m`` metres from its edges (its centre if none is)."""
    lat_c = (g.lat0 + g.lat1) / 2
    mlon = margin_m / (_M_PER_DEG_LON_EQUATOR * math.cos(math.radians(lat_c)))
    mlat = margin_m / _M_PER_DEG_LAT
    if g.lon1 - g.lon0 <= 2 * mlon or g.lat1 - g.lat0 <= 2 * mlat:
        return round((g.lon0 + g.lon1) / 2, 6), round(lat_c, 6)
    return (
        round(rng.uniform(g.lon0 + mlon, g.lon1 - mlon), 6),
        round(rng.uniform(g.lat0 + mlat, g.lat1 - mlat), 6),
    )


def place_joint_groups(world: World, grids: list[Grid], rng: random.Random) -> int:
    """Move small employers into shared buildings and onto shopping streets; returns the groups.

    About one building per 250 enterprises and one street per 350, in the grids where firms
    crowd (the seat and the development zone count more, as they do in :func:`build_world`).
    """
    pool = _candidates(world)
    rng.shuffle(pool)
    n = len(world.enterprises)
    weights = [30 if g.town == "梅林镇" else 20 if "开发区" in g.town else 6 for g in grids]
    made = 0
    for b in range(max(1, n // 250)):
        size = rng.randint(*BUILDING_SIZES)
        if len(pool) < size:
            break
        grid = rng.choices(grids, weights)[0]
        road, number = rng.choice(ROADS), rng.randint(1, 300)
        base = _inside(grid, 50.0, rng)
        for k in range(size):
            e = pool.pop()
            e.grid, e.road, e.number = grid, road, number
            e.point = _offset(base, rng.uniform(-15, 15), rng.uniform(-15, 15))
            e.room = _room(rng, k)
            e.joint_group = f"building:JB{b + 1:03d}"
        made += 1
    for s in range(max(1, n // 350)):
        size = rng.randint(*STREET_SIZES)
        if len(pool) < size:
            break
        grid = rng.choices(grids, weights)[0]
        road, number = rng.choice(ROADS), rng.randint(1, 200)
        point = _inside(grid, 1000.0, rng)
        for _ in range(size):
            e = pool.pop()
            e.grid, e.road, e.number, e.point, e.room = grid, road, number, point, ""
            e.joint_group = f"street:JS{s + 1:03d}"
            number += rng.choice((2, 2, 4, 6))  # one side of the street: even steps
            point = _offset(point, rng.uniform(*SHOP_GAP_M), rng.uniform(-10, 10))
        made += 1
    return made


def truth_rows(world: World) -> list[dict[str, str]]:
    """``group, reason, enterprise_key`` of every active employer placed in a group."""
    rows = []
    for e in world.enterprises:
        if e.joint_group and e.active:
            reason, group = e.joint_group.split(":")
            rows.append({"group": group, "reason": reason, "enterprise_key": e.key})
    return rows
