"""Place enterprises in community grids: by coordinates, else by the address's town + community."""

from __future__ import annotations

import numpy as np
import polars as pl
import shapely
from shapely.strtree import STRtree

from datapool.connectors.grids import GridShape
from datapool.matching.addresses import parse_addresses


def place(enterprises: pl.DataFrame, grids: list[GridShape]) -> pl.DataFrame:
    """Return ``enterprise_id, grid_id, grid_method`` for every enterprise.

    ``grid_method`` is ``coordinates``, ``address``, or ``unplaced: <reason>``.
    """
    tree = STRtree([g.geometry for g in grids])
    lon = enterprises.get_column("lon").to_numpy()
    lat = enterprises.get_column("lat").to_numpy()
    has = ~(np.isnan(lon.astype(float)) | np.isnan(lat.astype(float)))
    by_point: list[str | None] = [None] * enterprises.height
    idx = np.flatnonzero(has)
    if idx.size:
        points = shapely.points(lon[idx].astype(float), lat[idx].astype(float))
        pi, gi = tree.query(points, predicate="intersects")
        for p, g in sorted(zip(pi.tolist(), gi.tolist(), strict=True), reverse=True):
            by_point[idx[p]] = grids[g].grid_id  # smallest grid index wins on shared borders
    lookup = {(g.street, g.community): g.grid_id for g in grids}
    communities: dict[str, list[str]] = {}
    for g in grids:
        communities.setdefault(g.community, []).append(g.grid_id)
    addresses = enterprises.get_column("address")
    parts = {
        a: (t, c)
        for a, t, c in parse_addresses(addresses.filter(pl.Series(~has)))
        .select("address", "town", "community")
        .iter_rows()
    }
    ids, methods = [], []
    for i, addr in enumerate(addresses.to_list()):
        if by_point[i]:
            ids.append(by_point[i])
            methods.append("coordinates")
            continue
        if has[i]:
            ids.append(None)
            methods.append("unplaced: coordinates outside every grid")
            continue
        town, community = parts[addr]
        grid = lookup.get((town, community)) or (
            communities[community][0]
            if community and len(communities.get(community, [])) == 1
            else None
        )
        ids.append(grid)
        methods.append(
            "address"
            if grid
            else "unplaced: "
            + (
                "no address"
                if not addr
                else "address names no known community"
                if not community
                else f"community {community} is in no grid"
            )
        )
    return pl.DataFrame(
        {
            "enterprise_id": enterprises.get_column("enterprise_id"),
            "grid_id": ids,
            "grid_method": methods,
        },
        schema={"enterprise_id": pl.Utf8, "grid_id": pl.Utf8, "grid_method": pl.Utf8},
    )
