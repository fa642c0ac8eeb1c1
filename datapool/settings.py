"""One typed settings object. Precedence: CLI option > ``DATAPOOL_*`` env > default.

Environment variables are read here (by pydantic-settings) and nowhere else in
datapool. Each command resolves :class:`Settings` once and passes the object on,
to the stages and into the Prefect flow. Secrets are secret types: the HMAC key
and the database URLs (which may carry passwords) print as ``**********`` and
reach Prefect's API only masked; use :func:`redact_url` to show a URL.
"""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path
from typing import Any

from pydantic import Field, SecretStr, ValidationError, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import make_url

from datapool.errors import ConfigError

SAMPLES = Path(__file__).resolve().parent.parent / "data" / "samples"
_SNAPSHOT_RE = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")
ENV_PREFIX = "DATAPOOL_"


class Settings(BaseSettings):
    """Everything a run needs to know, resolved once per command.

    Every field can be set by a ``DATAPOOL_<FIELD>`` environment variable
    (e.g. ``DATAPOOL_WAREHOUSE_URL``); keyword arguments beat the environment,
    which beats the defaults. An empty variable counts as unset.

    Attributes:
        input_root: folder holding one ``YYYY-MM`` folder per snapshot.
        members_url: SQLAlchemy URL of the union member database (read-only);
            default ``sqlite:///<input_root>/members.sqlite``.
        warehouse_url: SQLAlchemy URL of the warehouse; default
            ``sqlite:///<out_dir>/warehouse.sqlite``.
        out_dir: where reports, Data Docs, maps and visit sheets go.
        grids_path: the grids GeoJSON (default: ``<input_root>/grids.geojson``).
        threshold: headcount above which an enterprise without a union is a target.
        hmac_key: key for the keyed hashes that stand in for personal data (phones, member ids,
            unparsed rows, new enterprise ids). There is no default: see :meth:`with_key`.
        hmac_key_block: name of a Prefect Secret block holding the key, read when ``hmac_key``
            is not set.
        lock_timeout: seconds to wait for another run's lock on the warehouse.
        max_shrink: the largest fraction of its accepted rows (against the last published run of
            the month, else of the month before) a source may lose before the month stops.
        outings_per_week: the fewest visit outings a grid worker makes in a week while the grid
            has anything to visit (visit_plan; more when its targets need more).
        stops_per_outing: the most stops of one outing (visit_plan).
        watch_margin: an enterprise whose headcount is at most this far below ``threshold``
            and growing is on the watch list (visit_plan).
    """

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_ignore_empty=True,
        extra="forbid",
        frozen=True,
        validate_default=True,
    )

    input_root: Path = SAMPLES
    members_url: SecretStr = SecretStr("")
    warehouse_url: SecretStr = SecretStr("")
    out_dir: Path = Path("out")
    grids_path: Path = Path()
    threshold: int = Field(default=25, ge=0)
    hmac_key: SecretStr = SecretStr("")  # no default: see with_key
    hmac_key_block: str = ""
    lock_timeout: float = Field(default=600.0, gt=0)
    max_shrink: float = Field(default=0.3, ge=0, le=1)
    outings_per_week: int = Field(default=3, ge=1)
    stops_per_outing: int = Field(default=8, ge=1)
    watch_margin: int = Field(default=5, ge=0)

    @model_validator(mode="before")
    @classmethod
    def _derived_defaults(cls, data: Any) -> Any:
        """Fill the defaults that depend on other fields (URLs and grids beside input/output)."""
        if not isinstance(data, dict):
            return data
        values = {k: v for k, v in data.items() if v is not None and v != ""}
        root = Path(values.get("input_root", SAMPLES))
        out = Path(values.get("out_dir", "out"))
        values.setdefault("members_url", f"sqlite:///{(root / 'members.sqlite').resolve()}")
        values.setdefault("warehouse_url", f"sqlite:///{(out / 'warehouse.sqlite').resolve()}")
        values.setdefault("grids_path", root / "grids.geojson")
        return values

    def with_key(self) -> Settings:
        """These settings with the HMAC key checked and, when it is kept in a Prefect Secret
        block (``DATAPOOL_HMAC_KEY_BLOCK``), loaded from it.

        Raises:
            ConfigError: no key at all (one line saying how to give one, and that the bundled
                samples use the public test key), a key too short, or a block that cannot be
                read.
        """
        from datapool.privacy import check_key

        key = self.hmac_key.get_secret_value()
        if not key and self.hmac_key_block:
            key = _block_secret(self.hmac_key_block)
        try:
            check_key(key)
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
        return (
            self
            if key == self.hmac_key.get_secret_value()
            else self.model_copy(update={"hmac_key": SecretStr(key)})
        )


def _block_secret(name: str) -> str:
    """The value of the Prefect Secret block ``name``."""
    from prefect.blocks.system import Secret

    try:
        block: Any = Secret.load(name)  # synchronous here (no event loop runs in this thread)
        value = block.get()
    except Exception as exc:  # noqa: BLE001 - Prefect raises several kinds (missing, no API)
        raise ConfigError(
            f"the Prefect Secret block '{name}' (DATAPOOL_HMAC_KEY_BLOCK) cannot be read: "
            f"{type(exc).__name__}"
        ) from None
    return str(value or "")


def resolve_settings(**options: Any) -> Settings:
    """Settings from command-line ``options`` (None = not given) over ``DATAPOOL_*`` over defaults.

    Raises:
        ConfigError: a value that cannot work, named by its option or variable (the value
            itself is not repeated: it may be a secret).
    """
    try:
        return Settings(**{k: v for k, v in options.items() if v is not None})
    except ValidationError as exc:
        first = exc.errors()[0]
        name = str(first["loc"][0]) if first["loc"] else "settings"
        raise ConfigError(
            f"setting {name} (option or {ENV_PREFIX}{name.upper()}): {first['msg']}"
        ) from None


def redact_url(url: str | SecretStr) -> str:
    """A database URL fit for messages and logs: SQLAlchemy's rendering with the password hidden.

    Text that is not a URL SQLAlchemy can parse is not shown at all (it might hold a password).
    """
    text = url.get_secret_value() if isinstance(url, SecretStr) else url
    try:
        return make_url(text).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - make_url raises several kinds for text it cannot parse
        return "<unparseable URL>"


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
