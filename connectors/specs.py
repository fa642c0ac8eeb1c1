"""One declarative description per agency export (docs/design.md, Inputs).

A spec maps the agency's own Chinese header to a canonical field and names
the parser for it. The generic reader in :mod:`datapool.connectors.reader`
does the rest; adding a registry means adding a spec, not a reader.

Parsers: ``text``, ``id`` (identifier, always text), ``date``, ``count``
(non-negative integer), ``decimal``, ``lon`` / ``lat`` (WGS-84 degrees),
``phone`` (kept only as a keyed hash), ``personal`` (dropped on read).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Column:
    """One column of an export."""

    header: str
    field: str
    parser: str = "text"
    required: bool = True
    not_blank: bool = False


@dataclass(frozen=True)
class ExportSpec:
    """An agency export: file stem, accepted formats, columns, and its stable row key."""

    source: str
    stem: str
    formats: tuple[str, ...]
    columns: tuple[Column, ...]
    key_field: str
    id_hint: str = ""
    active_values: tuple[str, ...] = ()


MARKET = ExportSpec(
    source="market_supervision",
    stem="market_supervision",
    formats=("csv", "xlsx"),
    columns=(
        Column("统一社会信用代码", "id", "id"),
        Column("注册号", "regno", "id", required=False),
        Column("企业名称", "name", not_blank=True),
        Column("企业类型", "kind", required=False),
        Column("法定代表人", "legal_rep", "personal", required=False),
        Column("注册资本(万元)", "capital", "decimal", required=False),
        Column("成立日期", "founded_on", "date", required=False),
        Column("登记状态", "status"),
        Column("住所", "address"),
        Column("行业代码", "industry", required=False),
        Column("经度", "lon", "lon", required=False),
        Column("纬度", "lat", "lat", required=False),
    ),
    key_field="id",
    id_hint="",
    active_values=("存续", "在业", "开业", "正常"),
)

CIVIL = ExportSpec(
    source="civil_affairs",
    stem="civil_affairs",
    formats=("xlsx", "csv"),
    columns=(
        Column("统一社会信用代码", "id", "id"),
        Column("社会组织名称", "name", not_blank=True),
        Column("社会组织类型", "kind", required=False),
        Column("法定代表人", "legal_rep", "personal", required=False),
        Column("业务主管单位", "supervisor", required=False),
        Column("成立登记日期", "founded_on", "date", required=False),
        Column("登记状态", "status"),
        Column("住所", "address"),
        Column("从业人员数", "headcount", "count", required=False),
    ),
    key_field="id",
    active_values=("正常",),
)

SOCIAL_INSURANCE = ExportSpec(
    source="social_insurance",
    stem="social_insurance",
    formats=("csv", "xlsx"),
    columns=(
        Column("单位编号", "account", "id", not_blank=True),
        Column("单位名称", "name", not_blank=True),
        Column("统一社会信用代码", "id", "id"),
        Column("参保人数", "headcount", "count"),
        Column("单位地址", "address", required=False),
        Column("联系电话", "phone", "phone", required=False),
        Column("参保状态", "status"),
        Column("数据期", "period", required=False),
    ),
    key_field="account",
    active_values=("正常参保", "正常"),
)

TAX = ExportSpec(
    source="tax_registry",
    stem="tax_registry",
    formats=("csv", "xlsx"),
    columns=(
        Column("纳税人识别号", "id", "id", not_blank=True),
        Column("纳税人名称", "name", not_blank=True),
        Column("法定代表人", "legal_rep", "personal", required=False),
        Column("生产经营地址", "address"),
        Column("纳税人状态", "status"),
        Column("行业", "industry", required=False),
        Column("从业人数", "headcount", "count", required=False),
        Column("登记日期", "founded_on", "date", required=False),
    ),
    key_field="id",
    id_hint="taxid15",
    active_values=("正常", "非正常"),
)

SPECS: tuple[ExportSpec, ...] = (MARKET, CIVIL, SOCIAL_INSURANCE, TAX)
SOURCES: tuple[str, ...] = tuple(s.source for s in SPECS)
CANONICAL_FIELDS: tuple[str, ...] = (
    "id",
    "regno",
    "name",
    "kind",
    "status",
    "address",
    "industry",
    "headcount",
    "founded_on",
    "lon",
    "lat",
    "phone_hash",
    "account",
    "period",
    "capital",
    "supervisor",
)
