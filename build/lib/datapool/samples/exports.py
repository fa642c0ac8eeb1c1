"""Turn the true world into the four agencies' exports, with truth beside them."""

from __future__ import annotations

import csv
import io
import random
from datetime import datetime
from pathlib import Path
from typing import Any

import xlsxwriter

from datapool.samples import noise
from datapool.samples.noisemodel import NoiseModel
from datapool.samples.world import KIND_INDIV, KIND_SOCIAL, Enterprise, World

MS_HEADERS = [
    "统一社会信用代码",
    "注册号",
    "企业名称",
    "企业类型",
    "法定代表人",
    "注册资本(万元)",
    "成立日期",
    "登记状态",
    "住所",
    "行业代码",
    "经度",
    "纬度",
]
CA_HEADERS = [
    "统一社会信用代码",
    "社会组织名称",
    "社会组织类型",
    "法定代表人",
    "业务主管单位",
    "成立登记日期",
    "登记状态",
    "住所",
    "从业人员数",
]
SI_HEADERS = [
    "单位名称",
    "单位编号",
    "统一社会信用代码",
    "参保人数",
    "单位地址",
    "联系电话",
    "参保状态",
    "数据期",
]
TAX_HEADERS = [
    "纳税人识别号",
    "纳税人名称",
    "法定代表人",
    "生产经营地址",
    "纳税人状态",
    "行业",
    "从业人数",
    "登记日期",
    "主管税务所",
]
TAX_INDUSTRY = {
    "建材": "批发业",
    "贸易": "批发业",
    "商贸": "批发业",
    "物流": "道路运输业",
    "快递": "邮政业",
    "餐饮": "餐饮业",
    "服装": "纺织服装、服饰业",
    "制衣": "纺织服装、服饰业",
    "建筑工程": "土木工程建筑业",
    "房地产开发": "房地产业",
    "置业": "房地产业",
    "稀土": "有色金属冶炼和压延加工业",
    "软件": "软件和信息技术服务业",
    "米粉": "餐饮业",
}


def _rng(seed: int, *parts: object) -> random.Random:
    return random.Random(":".join(map(str, (seed, *parts))))


def _shown_name(
    e: Enterprise, world: World, rng: random.Random, model: NoiseModel, registry: str
) -> str:
    """Registries other than market supervision keep a renamed firm's old name for some months."""
    if e.former_name and e.renamed_ago < model.lag[registry](rng):
        return e.former_name
    return e.name(world)


def market_rows(
    world: World, seed: int, month: str, model: NoiseModel = noise.MODEL
) -> list[tuple[dict[str, str], str]]:
    """市场监管 rows: every enterprise but social organisations."""
    rows = []
    for e in world.enterprises:
        if e.kind == KIND_SOCIAL:
            continue
        r = _rng(seed, e.key, "ms")
        code = model.ms_code(e, r)  # "" on an old record holding only the 注册号
        name = e.name(world)
        if e.former_name:
            name = model.former_note(name, e.former_name, r)
        status = (
            ("存续" if r.random() < 0.7 else "在业")
            if e.active
            else r.choice(["吊销", "注销", "注销", "迁出"])
        )
        rows.append(
            (
                {
                    "统一社会信用代码": code,
                    "注册号": e.regno if (not code or r.random() < 0.5) else "",
                    "企业名称": model.name_variant(name, e, r, model.levels["ms"]),
                    "企业类型": e.kind,
                    "法定代表人": e.legal_rep,
                    "注册资本(万元)": ""
                    if r.random() < 0.1
                    else str(r.choice([10, 50, 100, 200, 500, 1000, 3000])),
                    "成立日期": model.date_text(e.founded, r),
                    "登记状态": status,
                    "住所": model.address_variant(e, r, model.levels["ms_address"], False),
                    "行业代码": e.industry_code,
                    "经度": str(e.point[0]) if e.point and r.random() < 0.65 else "",
                    "纬度": "",
                },
                e.key,
            )
        )
        if rows[-1][0]["经度"]:
            rows[-1][0]["纬度"] = str(e.point[1])  # type: ignore[index]
    return rows


def civil_rows(
    world: World, seed: int, month: str, model: NoiseModel = noise.MODEL
) -> list[tuple[dict[str, object], str]]:
    """民政 rows: social organisations only."""
    rows = []
    for e in world.enterprises:
        if e.kind != KIND_SOCIAL:
            continue
        r = _rng(seed, e.key, "ca")
        code = model.ca_code(e, r)
        founded: object = (
            datetime(e.founded.year, e.founded.month, e.founded.day)
            if r.random() < 0.6
            else model.date_text(e.founded, r)
        )
        rows.append(
            (
                {
                    "统一社会信用代码": code,
                    "社会组织名称": model.name_variant(e.name(world), e, r, model.levels["ca"]),
                    "社会组织类型": e.social_type,
                    "法定代表人": e.legal_rep,
                    "业务主管单位": r.choice(
                        ["", "赣县区民政局", "赣县区教育科技体育局", "赣县区工商联"]
                    ),
                    "成立登记日期": founded,
                    "登记状态": "正常" if e.active else r.choice(["注销", "撤销"]),
                    "住所": model.address_variant(e, r, model.levels["ca_address"], False),
                    "从业人员数": "" if r.random() < 0.5 else e.headcount,
                },
                e.key,
            )
        )
    return rows


def si_accounts(e: Enterprise, seed: int) -> list[str]:
    """Social-insurance accounts of an enterprise: a few keep a stale duplicate account."""
    r = _rng(seed, e.key, "si-accounts")
    base = "3607" + e.key[1:] + "01"
    return [base, "3607" + e.key[1:] + "02"] if r.random() < 0.04 else [base]


def si_rows(
    world: World, seed: int, month: str, model: NoiseModel = noise.MODEL
) -> list[tuple[dict[str, str], str]]:
    """人社 rows: insured employers; headcount is the month's insured count."""
    rows = []
    for e in world.enterprises:
        if not e.in_si or not e.active:
            continue
        for k, acct in enumerate(si_accounts(e, seed)):
            r = _rng(seed, e.key, "si", k)
            code = model.si_code(e, r)
            head = e.headcount if k == 0 else r.randint(0, 3)
            rows.append(
                (
                    {
                        "单位编号": acct,
                        "单位名称": model.name_variant(
                            _shown_name(e, world, r, model, "si"), e, r, model.levels["si"]
                        ),
                        "统一社会信用代码": code,
                        "参保人数": str(head),
                        "单位地址": model.address_variant(e, r, model.levels["si_address"], True),
                        "联系电话": e.phone if r.random() < 0.8 else "",
                        "参保状态": "正常参保" if k == 0 else "暂停缴费",
                        "数据期": month.replace("-", ""),
                    },
                    e.key,
                )
            )
    return rows


def tax_rows(
    world: World, seed: int, month: str, model: NoiseModel = noise.MODEL
) -> list[tuple[dict[str, str], str]]:
    """税务 rows: older taxpayers carry a 15-character id."""
    rows = []
    for e in world.enterprises:
        if not e.in_tax:
            continue
        r = _rng(seed, e.key, "tax")
        if r.random() < 0.02 and month.endswith("06"):
            continue  # the tax office dropped this taxpayer from one month's export
        code = model.tax_code(e, r)
        declared = max(0, e.headcount + r.choice([-2, -1, 0, 0, 0, 1, 3]))
        rows.append(
            (
                {
                    "纳税人识别号": code,
                    "纳税人名称": model.name_variant(
                        _shown_name(e, world, r, model, "tax"), e, r, model.levels["tax"]
                    ),
                    "法定代表人": e.legal_rep,
                    "生产经营地址": model.address_variant(e, r, model.levels["tax_address"], True),
                    "纳税人状态": ("正常" if r.random() < 0.93 else "非正常")
                    if e.active
                    else r.choice(["注销", "停业"]),
                    "行业": TAX_INDUSTRY.get(
                        e.industry, "其他服务业" if e.kind != KIND_INDIV else "零售业"
                    ),
                    "从业人数": "" if r.random() < 0.1 else str(declared),
                    "登记日期": model.date_text(e.founded, r),
                    "主管税务所": r.choice(
                        ["梅林税务所", "茅店税务所", "江口税务所", "开发区税务所"]
                    ),
                },
                e.key,
            )
        )
    return rows


def bad_rows(
    rows: list[tuple[dict[str, Any], str]], headers: list[str], seed: int, source: str
) -> list[tuple[dict[str, Any], str]]:
    """A few extra rows broken the ways hand-made exports break; they must be quarantined."""
    r = _rng(seed, source, "bad")
    name_col = next(h for h in headers if "名称" in h)
    id_col = headers[0] if "代码" in headers[0] or "识别号" in headers[0] else "统一社会信用代码"
    date_col = next((h for h in headers if "日期" in h), None)
    count_col = next((h for h in headers if "人数" in h), None)
    out = []
    for i in range(max(2, len(rows) // 400)):
        row, key = dict(rows[r.randrange(len(rows))][0]), "QUARANTINE"
        kind = i % 4
        if kind == 0:
            row[name_col] = ""
        elif kind == 1 and date_col:
            row[date_col] = "2019-02-30"
        elif kind == 2 and count_col:
            row[count_col] = r.choice(["-3", "约20人", "十五"])
        else:
            row[id_col] = "9.13607041234568E+17"
        out.append((row, key))
    return out


def write_csv(path: Path, headers: list[str], rows: list[dict[str, Any]], encoding: str) -> None:
    """Write an export as the agency would: its encoding, CRLF line ends."""
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=headers, lineterminator="\r\n")
    w.writeheader()
    w.writerows(rows)
    path.write_bytes(buf.getvalue().encode(encoding))


def write_xlsx(path: Path, headers: list[str], rows: list[dict[str, Any]]) -> None:
    """Write the civil-affairs workbook: identifiers as text, some dates as real Excel dates."""
    wb = xlsxwriter.Workbook(str(path))
    wb.set_properties({"created": datetime(2025, 1, 1)})  # same seed, same bytes
    ws = wb.add_worksheet("社会组织")
    text, datefmt = wb.add_format({"num_format": "@"}), wb.add_format({"num_format": "yyyy-mm-dd"})
    for c, h in enumerate(headers):
        ws.write_string(0, c, h)
    for i, row in enumerate(rows, start=1):
        for c, h in enumerate(headers):
            v = row.get(h, "")
            if isinstance(v, datetime):
                ws.write_datetime(i, c, v, datefmt)
            elif isinstance(v, int):
                ws.write_number(i, c, v)
            else:
                ws.write_string(i, c, str(v), text)
    wb.close()
