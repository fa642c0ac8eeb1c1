"""Enterprise names parsed into parts, per 企业名称登记管理规定 (2020).

Shape: 行政区划 + 字号 + 行业或经营特点 + 组织形式 (docs/design.md). A region
placed after the 字号 is bracketed; a branch is the parent's full name + a
place + a branch marker; a former name may be kept in brackets.

Parts are compared one by one in scoring: two names with different regions
are different enterprises even when 字号 and industry agree.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import opencc
import polars as pl

from datapool.columns import dedupe, where
from datapool.matching.regions import alias_pattern, compatible, lookup, official, significant

if TYPE_CHECKING:
    from polars._typing import PolarsDataType

# Organisation forms, longest first; value is the canonical form.
_FORMS: dict[str, str] = {
    "股份有限公司": "股份有限公司",
    "有限责任公司": "有限公司",
    "有限公司": "有限公司",
    "公司": "公司",
    "个人独资企业": "个人独资企业",
    "合伙企业(有限合伙)": "有限合伙",
    "(有限合伙)": "有限合伙",
    "合伙企业(普通合伙)": "普通合伙",
    "(普通合伙)": "普通合伙",
    "合伙企业": "合伙企业",
    "农民专业合作社": "专业合作社",
    "专业合作社": "专业合作社",
    "合作社": "专业合作社",
    "促进会": "促进会",
    "研究会": "研究会",
    "联合会": "联合会",
    "协会": "协会",
    "商会": "商会",
    "基金会": "基金会",
    "幼儿园": "幼儿园",
    "培训学校": "培训学校",
    "学校": "学校",
    "服务中心": "服务中心",
    "中心": "中心",
    "医院": "医院",
    "诊所": "诊所",
    "厂": "厂",
    "店": "店",
    "馆": "馆",
    "部": "部",
    "行": "行",
    "场": "场",
    "社": "社",
    "工作室": "工作室",
}
# A generic form word stands for any of its kinds, so these forms are one family (a clerk writes
# 公司 for 有限公司); any other form is a family of its own. Two names whose forms are of different
# families name different organisations when nothing else ties them (赣县诗词商会, 赣县诗词研究会).
FORM_FAMILY: dict[str, str] = {
    "股份有限公司": "公司",
    "有限公司": "公司",
    "公司": "公司",
    "有限合伙": "合伙企业",
    "普通合伙": "合伙企业",
    "合伙企业": "合伙企业",
    "服务中心": "中心",
    "中心": "中心",
    "培训学校": "学校",
    "学校": "学校",
}
# each family's number (0: no form); standardise keeps it per row as ``form_family``
FORM_FAMILIES: dict[str, int] = {
    f: i + 1 for i, f in enumerate(sorted({FORM_FAMILY.get(f, f) for f in _FORMS.values()}))
}
FORM_FAMILY_CODE: dict[str, int] = {
    f: FORM_FAMILIES[FORM_FAMILY.get(f, f)] for f in _FORMS.values()
}
# the forms of social groups and foundations (社会团体, 基金会): named by region, field and form,
# with no 字号 (社会团体登记管理条例; 基金会管理条例)
SOCIAL_GROUP_FORMS = ("促进会", "研究会", "联合会", "协会", "商会", "基金会")
_BRANCH_MARKERS = ("分公司", "支公司", "分店", "营业部", "分部", "分校", "分院", "分厂")
_INDUSTRY_WORDS = """
    建材 建筑材料 科技 信息技术 网络科技 电子科技 贸易 商贸 物流 运输 餐饮 服装 电子 机械 食品
    建筑 工程 建设 房地产开发 房地产 置业 汽车销售 汽车服务 汽车 农业开发 农业 养殖 种植 医药 药房
    大药房 文化传媒 文化 传媒 教育 教育咨询 咨询 企业管理 管理 网络 电器 家具 五金 塑料 新材料 稀土
    矿业 实业 投资 发展 环保 能源 钢结构 装饰工程 装饰 装修 劳务 物业服务 物业管理 物业 酒店管理
    酒店 超市 商行 纺织 印刷 包装 陶瓷 水泥 制衣 服饰 鞋业 木业 茶业 果业 脐橙 生物科技 生物 健康
    健康管理 旅游 广告 电力 水电安装 安装 机电 电气 照明 光电 通信 软件 数据 金属制品 制品 化工 家居
    建材销售 贸易发展 供应链 快递 速递 快运 仓储 百货 批发 零售 副食 粮油 蔬菜 水果 烟酒 母婴 通讯
    手机 眼镜 药业 木材 竹木 石材 砂石 混凝土 预拌混凝土 再生资源 回收 机动车检测 检测 驾驶培训 培训
    人力资源 家政服务 家政 保洁 安保 保安服务 园林绿化 园林 苗木 花卉 渔业 水产 畜牧 生猪 禽业 米业
    油脂 米粉 食品加工 农产品 农副产品 电子商务 商务 信息咨询 财务咨询 会计服务 法律咨询
    社会工作 社会工作服务 社工服务 志愿服务 养老服务 老年 体育 文化艺术 艺术 书画 音乐 舞蹈 美容美发
    美容 理发 洗车 汽车修理 修理 维修 摩托车 技术服务
    """.split()
# 科技 is short for 科学技术, and names write the field either way (网络科技 / 网络技术; GB/T 4754
# writes 技术: 软件和信息技术服务业, 专业技术服务业): each 科技 word has its 技术 form
_INDUSTRY = sorted(
    dict.fromkeys(
        [*_INDUSTRY_WORDS, *(w.replace("科技", "技术") for w in _INDUSTRY_WORDS if "科技" in w)]
    ),
    key=len,
    reverse=True,
)
_BRACKETS = {
    "〔": "(",
    "〕": ")",
    "【": "(",
    "】": ")",
    "［": "(",
    "］": ")",
    "{": "(",
    "}": ")",
    "[": "(",
    "]": ")",
    "（": "(",
    "）": ")",
    "<": "(",
    ">": ")",
    "《": "(",
    "》": ")",
}
_SPACE_PATTERN = r"[\s\x{3000}·•.,，、'\"“”‘’]+"
_FORMER_PATTERN = r"^(原名称|曾用名|原名|原)[:：]?"
_NOTE_PATTERN = r"\([^()]*\)"
_CONVERTER = opencc.OpenCC("t2s")


def _traditional_chars() -> frozenset[str]:
    """CJK characters (BMP, incl. extension A) that OpenCC's t2s conversion changes on their own.

    Only values holding one of them are converted. A character that is converted only
    inside a phrase (乾 in some words) is not in the set; names rarely depend on one.
    """
    chars = (chr(i) for r in ((0x3400, 0xA000), (0xF900, 0xFB00)) for i in range(*r))
    return frozenset(ch for ch in chars if _CONVERTER.convert(ch) != ch)


_TRADITIONAL = _traditional_chars()
# a regex class of those characters (escaped: the class is read by polars' regex engine)
_TRADITIONAL_PATTERN = (
    "[" + "".join("\\" + c if c in "[]\\^-&~|" else c for c in sorted(_TRADITIONAL)) + "]"
)


@dataclass(frozen=True)
class NameParts:
    """A parsed enterprise name. ``core`` is 字号 + industry, the part compared fuzzily."""

    clean: str
    region: str
    brand: str
    industry: str
    form: str
    branch: bool
    branch_place: str
    former: str
    core: str

    @property
    def brand_key(self) -> str:
        """Phonetic key of the 字号 (homophone typos such as 鑫/新 share it)."""
        return pinyin_key(self.brand) if self.brand else ""


# Printable ASCII but for <>[]{} (brackets folded to ()), and CJK unified ideographs: these have
# no NFKC mapping and never compose, so a value made of them alone needs no folding of width or
# brackets. Most names and addresses are such values.
_NEEDS_FOLDING = r"[^\x20-\x3b\x3d\x3f-\x5a\x5c\x5e-\x7a\x7c\x7e\x{4e00}-\x{9fff}]"


def _nfkc_brackets(values: pl.Series) -> pl.Series:
    """NFKC, then brackets unified to (), on a string column without nulls.

    Only the values that can change are touched.
    """
    return where(
        values,
        values.str.contains(_NEEDS_FOLDING),
        lambda v: v.str.normalize("NFKC").str.replace_many(_BRACKETS),
    )


def _to_simplified(s: pl.Series) -> pl.Series:
    """Traditional -> simplified via OpenCC's t2s tables, only on values with a traditional char."""
    if not _TRADITIONAL:
        return s
    return where(
        s,
        s.str.contains(_TRADITIONAL_PATTERN),
        lambda v: [_CONVERTER.convert(t) for t in v.to_list()],
    )


def _ranges(codes: list[int]) -> str:
    """A regex class body for the given code points, as ranges."""
    out, i = [], 0
    while i < len(codes):
        j = i
        while j + 1 < len(codes) and codes[j + 1] == codes[j] + 1:
            j += 1
        out.append(f"\\x{{{codes[i]:x}}}" + (f"-\\x{{{codes[j]:x}}}" if j > i else ""))
        i = j + 1
    return "".join(out)


# A value made only of these characters is already folded: printable ASCII but for space, the
# brackets <>[]{} and the punctuation fold drops, and simplified CJK unified ideographs (they have
# no NFKC mapping and never compose). Most names and addresses are such values.
_FOLDED = sorted(
    {*range(0x21, 0x7F), *range(0x4E00, 0xA000)}
    - {ord(c) for c in "<>[]{}.,'\""}
    - {ord(c) for c in _TRADITIONAL}
)
_NOT_FOLDED = "[^" + _ranges(_FOLDED) + "]"


def fold_series(values: pl.Series) -> pl.Series:
    """:func:`fold` over a column (nulls become ''); values already folded are not touched."""
    values = values.cast(pl.Utf8).fill_null("")

    def fold_all(v: pl.Series) -> pl.Series:
        return _nfkc_brackets(_to_simplified(_nfkc_brackets(v)).str.replace_all(_SPACE_PATTERN, ""))

    return where(values, values.str.contains(_NOT_FOLDED), fold_all)


def fold(text: str | None) -> str:
    """NFKC, brackets unified to (), traditional -> simplified, spaces and stray punctuation out.

    Idempotent: ``fold(fold(x)) == fold(x)``.
    """
    return fold_series(pl.Series([text], dtype=pl.Utf8))[0] if text else ""


# Each character's toneless first reading, as pypinyin's ``lazy_pinyin`` of the character alone
# gives it (pypinyin 0.55), for every character it reads (``pinyin_dict``); any other character
# is its own key. A table of the package's rather than pypinyin at run time: importing pypinyin
# loads its phrase dictionary (about 45 MB in every process that matches, for single characters
# that never use it), and the keys no longer move with pypinyin's version. Written by
# :func:`write_pinyin_table`; tests/test_names.py checks it against pypinyin.
PINYIN_TABLE = Path(__file__).with_name("pinyin.tsv")


@functools.cache
def pinyin_table() -> dict[str, str]:
    """Character -> its pinyin key, for the characters whose key is not the character itself."""
    with PINYIN_TABLE.open(encoding="utf-8") as f:
        return dict(line.rstrip("\n").split("\t") for line in f)


def write_pinyin_table(path: Path = PINYIN_TABLE) -> int:
    """Write :data:`PINYIN_TABLE` from the installed pypinyin; returns its rows."""
    from pypinyin import lazy_pinyin
    from pypinyin.pinyin_dict import pinyin_dict

    rows = []
    for code in sorted(pinyin_dict):
        ch = chr(code)
        if ch.strip() and (key := lazy_pinyin(ch)[0]) != ch:
            rows.append(f"{ch}\t{key}\n")
    path.write_text("".join(rows), encoding="utf-8")
    return len(rows)


def _char_pinyin(ch: str) -> str:
    return pinyin_table().get(ch, ch) if ch.strip() else ""


def pinyin_key(text: str) -> str:
    """Toneless pinyin of ``text``, joined: 鑫达 and 新达 both give ``xinda``.

    Character by character (each character's first reading), so the key is the
    same wherever the character stands, and cheap: one cached lookup a character.
    """
    return "".join(_char_pinyin(ch) for ch in text)


def pinyin_series(values: pl.Series) -> pl.Series:
    """:func:`pinyin_key` over a column: one lookup per distinct character, then one replacement
    pass in polars over the distinct values (字号 and industry words repeat a lot)."""
    values, at = dedupe(values.fill_null(""))
    chars = values.str.split("").explode().unique().drop_nulls().to_list()
    table = {ch: key for ch in chars if (key := _char_pinyin(ch)) != ch}
    return (values.str.replace_many(list(table), list(table.values())) if table else values).gather(
        at
    )


def _alternation(words: list[str]) -> str:
    return "|".join(re.escape(w) for w in words)


_REGION_PATTERN = alias_pattern()  # every division's spellings (regions.py), longest first
# ".(word)$": the leftmost match leaves the shortest head of at least one character, so the longest
# word that fits wins. Anchored at the end, the regex engine searches backwards from it: fast.
_FORM_PATTERN = ".(" + _alternation(sorted(_FORMS, key=len, reverse=True)) + ")$"
_INDUSTRY_PATTERN = ".(" + _alternation(_INDUSTRY) + ")$"
_BRANCH_TAIL = "(?:" + "|".join(_BRANCH_MARKERS) + ")$"
_BRANCH_PATTERN = (
    r"^(?P<head>.+(?:公司|企业|厂|店|社|中心|合伙\)))(?P<place>[^()]*?)(?P<marker>"
    + "|".join(_BRANCH_MARKERS)
    + ")$"
)


def _strip_regions(df: pl.DataFrame, text: str, region: str, rest_min: int = 2) -> pl.DataFrame:
    """Strip stacked leading regions (江西赣县…) off ``text``; the most specific one's code goes to
    ``region`` (0 for none; see regions.py).

    A region is stripped only when at least ``rest_min`` characters remain after it. A
    spelling several divisions share is read inside the region written before it (辽宁朝阳).
    Each round reads only the values the round before stripped. Also adds ``region + "_alias"``
    (the last spelling stripped, '' for none), ``region + "_short"`` (it was a short name, 赣州
    not 赣州市) and ``region + "_before"`` (the code before that last one), so a caller can put
    the last one back.
    """
    n, values = df.height, df.get_column(text)
    m = values.str.extract(_REGION_PATTERN, 0)
    ok = (m.is_not_null() & (values.str.len_chars() >= m.str.len_chars() + rest_min)).fill_null(
        False
    )
    rows = ok.arg_true()  # the names that start with a region; the rounds work on these alone
    k = len(rows)
    rest, codes, before = values.gather(rows), np.zeros(k, np.int32), np.zeros(k, np.int32)
    alias, short = pl.repeat("", k, dtype=pl.Utf8, eager=True), np.zeros(k, bool)
    at, m, todo = pl.int_range(k, dtype=pl.UInt32, eager=True), m.gather(rows), rest
    while len(at):
        i = at.to_numpy()
        prev = codes[i]
        found = lookup(m, pl.Series(prev))
        new = found["code"].to_numpy()
        # after a region, one outside it is part of the name (赣县区大田… : 大田乡, not 大田县)
        inside = compatible(prev, new)
        keep = pl.Series(inside)
        at, m, todo, i, prev, new = (
            at.filter(keep),
            m.filter(keep),
            todo.filter(keep),
            i[inside],
            prev[inside],
            new[inside],
        )
        todo = todo.str.slice(m.str.len_chars())
        rest = rest.scatter(at, todo)
        before[i] = prev
        # the more specific of the two (赣州信丰 -> 信丰县; 朝阳 unknown after 北京 stays 北京)
        codes[i] = np.where(significant(new) >= significant(prev), new, prev)
        alias = alias.scatter(at, m)
        short[i] = found["short"].to_numpy()[inside]
        m = todo.str.extract(_REGION_PATTERN, 0)
        ok = (m.is_not_null() & (todo.str.len_chars() >= m.str.len_chars() + rest_min)).fill_null(
            False
        )
        at, m, todo = at.filter(ok), m.filter(ok), todo.filter(ok)

    def full(
        fill: int | str | bool, dtype: PolarsDataType, part: pl.Series | np.ndarray
    ) -> pl.Series:
        return pl.repeat(fill, n, dtype=dtype, eager=True).scatter(rows, part)

    return df.with_columns(
        values.scatter(rows, rest).alias(text) if k else values,
        full(0, pl.Int32, codes).alias(region),
        full("", pl.Utf8, alias).alias(f"{region}_alias"),
        full(False, pl.Boolean, short).alias(f"{region}_short"),
        full(0, pl.Int32, before).alias(f"{region}_before"),
    )


def _strip_tail(text: str, pattern: str, head: str, word: str) -> list[pl.Expr]:
    """``text`` split by a ``.(word)$`` ``pattern`` into ``head`` and ``word``.

    When no word ends it, ``head`` is all of ``text`` and ``word`` is ''.
    """
    w = pl.col(text).str.extract(pattern, 1).fill_null("")
    return [
        pl.col(text).str.slice(0, pl.col(text).str.len_chars() - w.str.len_chars()).alias(head),
        w.alias(word),
    ]


def _split_industry(df: pl.DataFrame) -> pl.DataFrame:
    """``body`` -> ``brand`` + ``industry``: industry words peeled off the end, longest first.

    The first word needs one character before it; each further word needs the
    字号 left before it to keep at least two characters.
    """
    df = df.with_columns(_strip_tail("body", _INDUSTRY_PATTERN, "brand", "industry"))
    brand, industry = df.get_column("brand"), df.get_column("industry")
    # each round reads only the last round's hits
    at = ((brand.str.len_chars() > 2) & (industry != "")).arg_true()
    cur = pl.DataFrame({"brand": brand.gather(at), "industry": industry.gather(at)})
    while len(at):
        more = cur.select(_strip_tail("brand", _INDUSTRY_PATTERN, "head", "word"))
        ok = (more["word"] != "") & (more["head"].str.len_chars() >= 2)
        at, cur = (
            at.filter(ok),
            pl.DataFrame(
                {
                    "brand": more["head"].filter(ok),
                    "industry": (more["word"] + cur["industry"]).filter(ok),
                }
            ),
        )
        brand, industry = brand.scatter(at, cur["brand"]), industry.scatter(at, cur["industry"])
        longer = cur["brand"].str.len_chars() > 2
        at, cur = at.filter(longer), cur.filter(longer)
    return df.with_columns(brand, industry)


def _notes(df: pl.DataFrame) -> pl.DataFrame:
    """Bracketed notes of ``text``: the last region alias among them and the last former name
    (only the names holding a "(" are read)."""
    text = df.get_column("text")
    at = text.str.contains("(", literal=True).arg_true()
    notes = (
        pl.DataFrame({"i": at, "note": text.gather(at).str.extract_all(_NOTE_PATTERN)})
        .explode("note")
        .drop_nulls("note")
        .with_columns(pl.col("note").str.slice(1, pl.col("note").str.len_chars() - 2))
    )
    # a note that is regions alone, one or several stacked (赣州, 江西赣州市赣县区)
    stacked = _strip_regions(notes.select("note"), "note", "_r", rest_min=0)
    notes = notes.with_columns(
        pl.when(stacked["note"] == "")
        .then(stacked["_r"])
        .otherwise(None)
        .replace(0, None)
        .alias("note_region")
    )
    notes = notes.with_columns(
        pl.when(pl.col("note_region").is_null() & pl.col("note").str.contains(_FORMER_PATTERN))
        .then(pl.col("note").str.replace(_FORMER_PATTERN, ""))
        .alias("former")
    )
    per_row = notes.group_by("i").agg(
        pl.col("note_region").drop_nulls().last(), pl.col("former").drop_nulls().last()
    )

    def by_row(fill: str | int | None, values: pl.Series) -> pl.Series:
        return pl.repeat(fill, df.height, dtype=values.dtype, eager=True).scatter(
            per_row["i"], values
        )

    return df.with_columns(
        by_row(0, per_row["note_region"].fill_null(0).cast(pl.Int32)).alias("note_region"),
        by_row("", fold_series(per_row["former"])).alias("former"),
    )


def parse_names(names: pl.Series, keys: bool = True, *, distinct: bool = False) -> pl.DataFrame:
    """Parse each distinct name into its parts (see module docstring), vectorised.

    One row per distinct value of ``names`` (column ``name``), in order of first appearance, with
    ``name_clean, region, brand, industry_words, form, branch, branch_place, former, core``; with
    ``keys``, also ``former_core`` (the core of the bracketed former name) and the pinyin keys
    ``core_key``, ``former_key`` and ``brand_key`` (a 字号 of two characters or more; null
    otherwise). ``distinct``: the values are known to be distinct already.

    Done in two steps: :func:`name_fronts` takes off what stands around the body (branch,
    notes, regions), and :func:`name_bodies` splits each distinct body into 字号, industry and
    form (many names share a body: 赣县宏达建材有限公司 and 江西宏达建材有限公司).
    """
    front = name_fronts(
        names if distinct else names.cast(pl.Utf8).unique(maintain_order=True), keys
    )
    bodies, at = dedupe(front.get_column("body"))
    back = name_bodies(bodies, keys).select(pl.all().gather(at))
    return pl.concat([front.drop("body"), back], how="horizontal").select(
        "name",
        "name_clean",
        "region",
        "region_code",
        "brand",
        "industry_words",
        "form",
        "branch",
        "branch_place",
        "former",
        "core",
        *(("former_core", "core_key", "former_key", "brand_key") if keys else ()),
    )


def name_fronts(names: pl.Series, keys: bool = True) -> pl.DataFrame:
    """The first step of :func:`parse_names`, over distinct ``names``: one row per name with
    ``name``, ``name_clean``, ``region``, ``branch``, ``branch_place``, ``former`` and ``body`` (the
    name without branch, bracketed notes and leading regions); with ``keys``, ``former_core`` and
    ``former_key``.

    A name led by a region's short name (阳信, not 阳信县) followed by a 字号 of two characters or
    more is read as that region's; ``lead_body`` and ``lead_region`` give the other reading, the
    short name as the beginning of the 字号 (阳信德通商贸, with the region written before it or
    none), null for every other name. A 字号 may well begin with characters that spell a county
    somewhere in China; the name alone cannot tell, the USCC can (standardise.py)."""
    c = pl.col
    df = pl.DataFrame({"name": names.cast(pl.Utf8)})
    df = df.with_columns(
        fold_series(df["name"])
        .str.replace_all("有限责任公司", "有限公司", literal=True)
        .alias("name_clean")
    )
    # a branch is its head office's full name + a place + a marker; nested ones keep the outer place
    text = df.get_column("name_clean").alias("text")
    place = pl.repeat("", df.height, dtype=pl.Utf8, eager=True).alias("place")
    branch = pl.repeat(False, df.height, dtype=pl.Boolean, eager=True).alias("branch")
    # the full pattern reads only names ending in a marker
    at = text.str.contains(_BRANCH_TAIL).arg_true()
    outer = True
    while len(at):
        g = text.gather(at).str.extract_groups(_BRANCH_PATTERN).struct.unnest()
        hit = (g["head"].str.len_chars() >= 4).fill_null(False)
        at, g = at.filter(hit), g.filter(hit)
        text = text.scatter(at, g["head"])
        if outer:  # the first round strips the outermost branch: its place is the branch's
            place, branch, outer = place.scatter(at, g["place"]), branch.scatter(at, True), False
        at = at.filter(g["head"].str.contains(_BRANCH_TAIL))
    df = _strip_regions(df.with_columns(text, place, branch), "place", "_place")
    df = df.with_columns(
        c("place").str.replace(r"(镇|乡|街道|区|县|市)$", "").alias("branch_place")
    )
    df = _notes(df)
    text = df.get_column("text")
    body = where(
        text,
        text.str.contains("(", literal=True),
        lambda t: (
            t.str.replace_all("(有限合伙)", "\x01", literal=True)
            .str.replace_all("(普通合伙)", "\x02", literal=True)
            .str.replace_all(_NOTE_PATTERN, "")
            .str.replace_all("\x01", "(有限合伙)", literal=True)
            .str.replace_all("\x02", "(普通合伙)", literal=True)
        ),
    )
    df = _strip_regions(df.with_columns(body.alias("body")), "body", "_lead")
    # a leading spelling that divisions in several provinces share (南山区: 深圳's and 鹤岗's)
    # reads as no region; ``lead_shared`` keeps it for the USCC to tell (standardise.py)
    df = df.with_columns(((c("_lead") == 0) & (c("_lead_alias") != "")).alias("_shared"))
    # a short name is a region only when a 字号 of two characters or more follows it, not an
    # industry word: 金山贸易有限公司 is 金山's trade company, not a trade company of 金山区
    # (name_bodies runs again on these few). A social group has no 字号: its name is its region,
    # its field and its form (江西家政服务研究会 is 江西's), so its field may be an industry word.
    at = df.get_column("_lead_short").arg_true()
    if len(at):
        rest = name_bodies(df.get_column("body").gather(at), keys=False)
        brand, industry = rest.get_column("brand"), rest.get_column("industry_words")
        group = rest.get_column("form").is_in(list(SOCIAL_GROUP_FORMS))
        at = at.filter(
            (brand.str.len_chars() < 2)
            | ~group & (brand + industry).is_in(_INDUSTRY)  # 信丰企业管理: 企业管理 is no 字号
            | ~group & brand.is_in(_INDUSTRY) & (industry == "")  # 金山贸易: nor is 贸易
        )
        if len(at):
            lead = df.get_column("_lead_alias").gather(at)
            df = df.with_columns(
                df.get_column("body").scatter(at, lead + df.get_column("body").gather(at)),
                df.get_column("_lead").scatter(at, df.get_column("_lead_before").gather(at)),
                df.get_column("_lead_short").scatter(at, False),
                df.get_column("_shared").scatter(at, False),
            )
    # a name writes its region once: before the 字号, or bracketed after it (企业名称登记管理规定
    # and its 实施办法). A name that brackets a region (博兴鸿(赣州市)建筑工程) and is led by a
    # short name of a region disjoint from it (博兴县, Shandong) begins its 字号 with those
    # characters (a county's name may be a 字号 when it has another meaning: 博兴, 德兴, 光泽)
    lead, note = df.get_column("_lead"), df.get_column("note_region")
    at = (
        df.get_column("_lead_short")
        & (note != 0)
        & pl.Series(~compatible(lead.to_numpy(), note.to_numpy()))
    ).arg_true()
    if len(at):
        df = df.with_columns(
            df.get_column("body").scatter(
                at, df.get_column("_lead_alias").gather(at) + df.get_column("body").gather(at)
            ),
            lead.scatter(at, df.get_column("_lead_before").gather(at)),
            df.get_column("_lead_short").scatter(at, False),
        )
    code = pl.when(c("_lead") != 0).then(c("_lead")).otherwise(c("note_region"))
    # the other reading of a name led by a short region name: that name is the 字号's beginning
    # (阳信德通: a 字号, or 阳信县's 德通); standardise takes it when the USCC says so
    other = c("_lead_short") & (c("_lead") != 0)
    df = df.select(
        "name",
        "name_clean",
        code.cast(pl.Int32).alias("region_code"),
        "branch",
        "branch_place",
        c("former").fill_null(""),
        "body",
        pl.when(other).then(c("_lead_alias") + c("body")).alias("lead_body"),
        pl.when(other)
        .then(pl.when(c("_lead_before") != 0).then(c("_lead_before")).otherwise(c("note_region")))
        .cast(pl.Int32)
        .alias("lead_region"),
        pl.when(c("_shared") & (code == 0)).then(c("_lead_alias")).alias("lead_shared"),
    )
    df = df.with_columns(official(df["region_code"]).alias("region"))
    if not keys:
        return df
    formers = df.filter(c("former") != "")["former"]
    former_core = parse_names(formers, keys=False).select(
        c("name").alias("former"), c("core").alias("former_core")
    )
    df = df.join(former_core, on="former", how="left", maintain_order="left").with_columns(
        c("former_core").fill_null("")
    )
    return df.with_columns(pinyin_series(df["former_core"]).alias("former_key"))


def name_bodies(bodies: pl.Series, keys: bool = True) -> pl.DataFrame:
    """The second step of :func:`parse_names`: one row per value of ``bodies`` (distinct ones, as
    :func:`name_fronts` leaves them) with ``brand``, ``industry_words``, ``form`` and ``core``;
    with ``keys``, ``core_key`` and ``brand_key``."""
    c = pl.col
    df = (
        pl.DataFrame({"body": bodies})
        .select(_strip_tail("body", _FORM_PATTERN, "body", "form"))
        .with_columns(c("form").replace_strict(_FORMS, default=""))
    )
    df = _split_industry(df).select(
        "brand",
        c("industry").alias("industry_words"),
        "form",
        (c("brand") + c("industry")).alias("core"),
    )
    if not keys:
        return df
    # pinyin goes character by character: core's = brand's + industry's
    brand_key = pinyin_series(df["brand"])
    return df.with_columns(
        (brand_key + pinyin_series(df["industry_words"])).alias("core_key"),
        pl.when(c("brand").str.len_chars() >= 2).then(brand_key).otherwise(None).alias("brand_key"),
    )


def parse_name(raw: str | None) -> NameParts:
    """Parse one enterprise name into its parts (see :func:`parse_names`)."""
    r = parse_names(pl.Series([raw], dtype=pl.Utf8), keys=False).row(0, named=True)
    return NameParts(
        r["name_clean"],
        r["region"],
        r["brand"],
        r["industry_words"],
        r["form"],
        r["branch"],
        r["branch_place"],
        r["former"],
        r["core"],
    )
