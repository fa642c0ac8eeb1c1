"""The grids GeoJSON: polygons of community grids with their town and community."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from shapely.geometry import shape
from shapely.geometry.base import BaseGeometry

from datapool.errors import InputError

PROPERTIES = ("grid_id", "grid_name", "community", "street", "grid_worker")


@dataclass(frozen=True)
class GridShape:
    """One grid with its geometry."""

    grid_id: str
    grid_name: str
    community: str
    street: str
    grid_worker: str
    geometry: BaseGeometry


def read_grids(path: Path) -> list[GridShape]:
    """Read and check the grids file; one clear InputError for anything unusable."""
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8-sig"))
    except FileNotFoundError:
        raise InputError(f"grids file {path} does not exist") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"grids file {path} is not GeoJSON ({type(exc).__name__})") from None
    if (
        not isinstance(doc, dict)
        or doc.get("type") != "FeatureCollection"
        or not isinstance(doc.get("features"), list)
    ):
        raise InputError(f"grids file {path} is not a GeoJSON FeatureCollection")
    grids = []
    for i, feat in enumerate(doc["features"], start=1):
        props = (feat or {}).get("properties") or {}
        if not props.get("grid_id"):
            raise InputError(f"grids file {path}: feature {i} has no grid_id")
        try:
            geom = shape(feat["geometry"])
        except Exception:  # noqa: BLE001 - shapely raises many kinds for bad geometry
            raise InputError(
                f"grids file {path}: feature {i} ({props['grid_id']}) has no valid geometry"
            ) from None
        grid_id, grid_name, community, street, worker = (
            str(props.get(p) or "") for p in PROPERTIES
        )
        grids.append(GridShape(grid_id, grid_name, community, street, worker, geom))
    if not grids:
        raise InputError(f"grids file {path} has no features")
    return grids
