"""One typed settings object. Precedence: CLI option > DATAPOOL_* env > default.

Environment variables are read here and nowhere else. URLs may carry
credentials: use :func:`redact_url` before printing or logging one.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, fields, replace
from datetime import date
from pathlib import Path

SAMPLES = Path(__file__).resolve().parent.parent / "data" / "samples"
_SNAPSHOT_RE = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")


@dataclass(frozen=True)
class Settings:
    """Everything a run needs to know.

    Attributes:
        input_root: folder holding one ``YYYY-MM`` folder per snapshot.
        members_url: SQLAlchemy URL of the union member database (read-only).
        warehouse_url: SQLAlchemy URL of the warehouse.
        out_dir: where reports, Data Docs, maps and visit sheets go.
        grids_path: the grids GeoJSON (default: ``<input_root>/grids.geojson``).
        threshold: headcount above which an enterprise without a union is a target.
        hmac_key: key for the keyed hashes that stand in for personal data.
        progress: show progress bars.
        lock_timeout: seconds to wait for another run holding the warehouse's write lock.
        max_shrink: the largest fraction of its accepted rows (against the last published run of
            the month, else of the month before) a source may lose before the month stops.
    """

    input_root: Path = SAMPLES
    members_url: str = ""
    warehouse_url: str = ""
    out_dir: Path = Path("out")
    grids_path: Path | None = None
    threshold: int = 25
    hmac_key: str = "datapool-default-key"
    progress: bool = True
    lock_timeout: float = 600.0
    max_shrink: float = 0.3

    def resolved(self) -> Settings:
        """Fill defaults that depend on other fields."""
        members = self.members_url or f"sqlite:///{(self.input_root / 'members.sqlite').resolve()}"
        warehouse = (
            self.warehouse_url or f"sqlite:///{(self.out_dir / 'warehouse.sqlite').resolve()}"
        )
        grids = self.grids_path or self.input_root / "grids.geojson"
        return replace(self, members_url=members, warehouse_url=warehouse, grids_path=grids)


_ENV = {f.name: f"DATAPOOL_{f.name.upper()}" for f in fields(Settings)}


def from_env(environ: dict[str, str] | None = None, **overrides: object) -> Settings:
    """Build settings: ``overrides`` (non-None) beat ``DATAPOOL_*`` variables beat defaults."""
    env = os.environ if environ is None else environ
    values: dict[str, object] = {}
    for f in fields(Settings):
        raw = env.get(_ENV[f.name])
        if raw is not None:
            values[f.name] = _coerce(f.type, raw)
    values.update({k: v for k, v in overrides.items() if v is not None})
    return Settings(**values).resolved()  # type: ignore[arg-type]


def _coerce(kind: object, raw: str) -> object:
    text = str(kind)
    if "Path" in text:
        return Path(raw)
    if "int" in text:
        return int(raw)
    if "float" in text:
        return float(raw)
    if "bool" in text:
        return raw.strip().lower() in {"1", "true", "yes", "on"}
    return raw


def redact_url(url: str) -> str:
    """Hide the password (and user) of a database URL for messages and logs."""
    return re.sub(r"//[^/@]*@", "//***@", url)


def month_end(snapshot: str) -> date:
    """Last day of a ``YYYY-MM`` snapshot."""
    y, m = map(int, snapshot.split("-"))
    return date.fromordinal(date(y + (m == 12), m % 12 + 1, 1).toordinal() - 1)


def check_snapshot(value: str) -> str:
    """Return ``value`` if it is a ``YYYY-MM`` snapshot name, else raise ValueError."""
    if not _SNAPSHOT_RE.match(value or ""):
        raise ValueError(f"snapshot must look like YYYY-MM, got {value!r}")
    return value


def relative_sqlite(url: str) -> Path | None:
    """The file a SQLite URL with a relative path (``sqlite:///dir/x.db``) points at, made
    absolute against the working directory; None for any other URL."""
    m = re.match(r"^sqlite(\+\w+)?:///(?!/)([^?]+)", url or "")
    if not m or m.group(2) == ":memory:":
        return None
    return Path(m.group(2)).resolve()
