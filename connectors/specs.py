"""One declarative description per agency export (docs/design.md, Inputs).

A spec maps the agency's own Chinese header to a canonical field and names
the parser for it. The generic reader in :mod:`datapool.connectors.reader`
does the rest; adding a registry means adding a spec, not a reader.

Parsers are the members of :class:`Parser`, so a misspelt parser fails when this module is
imported (and under mypy), rather than silently reading a column as text.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Parser(StrEnum):
    """How the reader turns a column's text into a field."""

    TEXT = "text"  # kept as text
    ID = "id"  # an identifier: always text, never a spreadsheet number
    DATE = "date"  # any date spelling of the input contract
    COUNT = "count"  # a non-negative integer
    DECIMAL = "decimal"  # a number
    LON = "lon"  # WGS-84 longitude, degrees
    LAT = "lat"  # WGS-84 latitude, degrees
    PHONE = "phone"  # kept only as a keyed hash
    PERSONAL = "personal"  # dropped on read
    PSEUDONYM = "pseudonym"  # a person (a visiting grid worker): kept only as a keyed hash
    FREE_TEXT = "free_text"  # notes people write: phones, ids, e-mails, titled names redacted


@dataclass(frozen=True)
class Column:
    """One column of an export."""

    header: str
    field: str
    parser: Parser = Parser.TEXT
    required: bool = True
    not_blank: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.parser, Parser):
            raise TypeError(f"column {self.header}: parser {self.parser!r} is not a Parser")


@dataclass(frozen=True)
class ExportSpec:
    """An agency export: file stem, accepted formats, columns, its stable row key, and the facts
    about its registry that matching, golden records, validation and the sheets read.

    ``label``: the agency's name as people say it. ``status_values``: every status it writes
    (validation warns on others); ``active_values``: those that mean the entity is live.
    ``once_only``: the registry lists each entity once (two of its rows are never one enterprise).
    ``precedence``: its place in golden records' field precedence (0 first: the registering
    authority's record is the legal one). ``title_rows``: a workbook's sheets may carry title
    rows above the header (a visit sheet handed back): rows naming none of the columns, before
    the header, are skipped and not counted as records. ``headcount_rank``: its place in the
    headcount precedence (None: it holds no headcount); ``headcount_per_account``: its headcount
    is per account, summed over the employer's active accounts. ``regno_ids``: its 15-digit ids are
    注册号 (elsewhere a valid tax id is read first).
    """

    source: str
    stem: str
    formats: tuple[str, ...]
    columns: tuple[Column, ...]
    key_field: str
    label: str
    precedence: int
    id_hint: str = ""
    active_values: tuple[str, ...] = ()
    status_values: tuple[str, ...] = ()
    once_only: bool = False
    headcount_rank: int | None = None
    headcount_per_account: bool = False
    regno_ids: bool = False
    title_rows: bool = False


MARKET = ExportSpec(
    source="market_supervision",
    stem="market_supervision",
    formats=("csv", "xlsx"),
    columns=(
        Column("统一社会信用代码", "id", Parser.ID),
        Column("注册号", "regno", Parser.ID, required=False),
        Column("企业名称", "name", not_blank=True),
        Column("企业类型", "kind", required=False),
        Column("法定代表人", "legal_rep", Parser.PERSONAL, required=False),
        Column("注册资本(万元)", "capital", Parser.DECIMAL, required=False),
        Column("成立日期", "founded_on", Parser.DATE, required=False),
        Column("登记状态", "status"),
        Column("住所", "address"),
        Column("行业代码", "industry", required=False),
        Column("经度", "lon", Parser.LON, required=False),
        Column("纬度", "lat", Parser.LAT, required=False),
    ),
    key_field="id",
    label="市场监管",
    precedence=0,
    id_hint="",
    active_values=("存续", "在业", "开业", "正常"),
    status_values=("存续", "在业", "开业", "正常", "吊销", "注销", "迁出", "撤销", "停业"),
    once_only=True,
    regno_ids=True,
)

CIVIL = ExportSpec(
    source="civil_affairs",
    stem="civil_affairs",
    formats=("xlsx", "csv"),
    columns=(
        Column("统一社会信用代码", "id", Parser.ID),
        Column("社会组织名称", "name", not_blank=True),
        Column("社会组织类型", "kind", required=False),
        Column("法定代表人", "legal_rep", Parser.PERSONAL, required=False),
        Column("业务主管单位", "supervisor", required=False),
        Column("成立登记日期", "founded_on", Parser.DATE, required=False),
        Column("登记状态", "status"),
        Column("住所", "address"),
        Column("从业人员数", "headcount", Parser.COUNT, required=False),
    ),
    key_field="id",
    label="民政",
    precedence=1,
    active_values=("正常",),
    status_values=("正常", "注销", "撤销"),
    once_only=True,
    headcount_rank=2,
)

SOCIAL_INSURANCE = ExportSpec(
    source="social_insurance",
    stem="social_insurance",
    formats=("csv", "xlsx"),
    columns=(
        Column("单位编号", "account", Parser.ID, not_blank=True),
        Column("单位名称", "name", not_blank=True),
        Column("统一社会信用代码", "id", Parser.ID),
        Column("参保人数", "headcount", Parser.COUNT),
        Column("单位地址", "address", required=False),
        Column("联系电话", "phone", Parser.PHONE, required=False),
        Column("参保状态", "status"),
        Column("数据期", "period", required=False),
    ),
    key_field="account",
    label="人社",
    precedence=3,
    active_values=("正常参保", "正常"),
    status_values=("正常参保", "暂停缴费", "注销", "正常"),
    headcount_rank=0,
    headcount_per_account=True,
)

TAX = ExportSpec(
    source="tax_registry",
    stem="tax_registry",
    formats=("csv", "xlsx"),
    columns=(
        Column("纳税人识别号", "id", Parser.ID, not_blank=True),
        Column("纳税人名称", "name", not_blank=True),
        Column("法定代表人", "legal_rep", Parser.PERSONAL, required=False),
        Column("生产经营地址", "address"),
        Column("纳税人状态", "status"),
        Column("行业", "industry", required=False),
        Column("从业人数", "headcount", Parser.COUNT, required=False),
        Column("登记日期", "founded_on", Parser.DATE, required=False),
    ),
    key_field="id",
    label="税务",
    precedence=2,
    id_hint="taxid15",
    active_values=("正常", "非正常"),
    status_values=("正常", "非正常", "停业", "注销", "清算"),
    once_only=True,
    headcount_rank=1,
)

# The fifth source (../shared/spec/visits.md): grid workers' 三查三记 records, handed back as the
# filled visit sheets or as CSV with the same headers, in <snapshot>/visit_records/. It is read
# by the same reader but is not a registry: its rows never form enterprises (matching reads
# SPECS only); datapool.visits.records links them to the pool and applies their effects.
VISIT_RECORDS = ExportSpec(
    source="visit_records",
    stem="visit_records",
    formats=("xlsx", "csv"),
    columns=(
        Column("企业ID", "enterprise_id", Parser.ID, required=False),
        Column("企业名称", "name"),
        Column("地址", "address"),
        Column("走访日期", "visited_on", Parser.DATE),
        Column("网格员", "visitor_key", Parser.PSEUDONYM),
        Column("经营状态", "operating_status"),
        Column("考勤人数", "observed_headcount", Parser.COUNT),
        Column("场所环境", "site_condition", Parser.FREE_TEXT),
        Column("是否已建会", "union_status"),
        Column("企业顾虑", "concerns", Parser.FREE_TEXT),
        Column("职工急难愁盼", "needs", Parser.FREE_TEXT),
        Column("可利用资源", "resources", Parser.FREE_TEXT),
    ),
    key_field="enterprise_id",
    label="走访记录",
    precedence=9,
    title_rows=True,
)

SPECS: tuple[ExportSpec, ...] = (MARKET, CIVIL, SOCIAL_INSURANCE, TAX)
SOURCES: tuple[str, ...] = tuple(s.source for s in SPECS)
BY_SOURCE: dict[str, ExportSpec] = {s.source: s for s in SPECS}
LABELS: dict[str, str] = {s.source: s.label for s in SPECS}
ONCE_ONLY: tuple[str, ...] = tuple(s.source for s in SPECS if s.once_only)
# golden records' field precedence, first registry first
PRECEDENCE: tuple[str, ...] = tuple(s.source for s in sorted(SPECS, key=lambda s: s.precedence))
# the registries that hold a headcount, the one golden records take first, first
HEADCOUNT_ORDER: tuple[ExportSpec, ...] = tuple(
    sorted((s for s in SPECS if s.headcount_rank is not None), key=lambda s: s.headcount_rank or 0)
)
REGNO_IDS: tuple[str, ...] = tuple(s.source for s in SPECS if s.regno_ids)
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
