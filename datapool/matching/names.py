"""Enterprise names parsed into parts, per 企业名称登记管理规定 (2020).

Shape: 行政区划 + 字号 + 行业或经营特点 + 组织形式 (shared/domain.md). A region
placed after the 字号 is bracketed; a branch is the parent's full name + a
place + a branch marker; a former name may be kept in brackets.

Parts are compared one by one in scoring: two names with different regions
are different enterprises even when 字号 and industry agree.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import opencc
from pypinyin import lazy_pinyin

# Region spellings -> canonical region. 赣县 became 赣县区 in 2016: same place.
_REGION_ALIASES: dict[str, str] = {
    "江西省赣州市赣县区": "赣县区", "江西省赣州市赣县": "赣县区", "赣州市赣县区": "赣县区",
    "赣州赣县区": "赣县区", "赣州市赣县": "赣县区", "赣县区": "赣县区", "赣县": "赣县区",
    "江西省赣州市": "赣州市", "赣州市": "赣州市", "赣州": "赣州市",
    "江西省": "江西省", "江西": "江西省",
}
for _county in ("章贡区", "南康区", "赣州经济技术开发区", "于都县", "兴国县", "宁都县", "瑞金市", "信丰县",
                "大余县", "上犹县", "崇义县", "安远县", "龙南市", "定南县", "全南县", "会昌县", "寻乌县", "石城县"):
    _REGION_ALIASES[_county] = _county
    _REGION_ALIASES["赣州市" + _county] = _county
    _REGION_ALIASES[_county[:-1]] = _county if len(_county) > 3 else _REGION_ALIASES.get(_county[:-1], _county)
for _city in ("南昌市", "吉安市", "丰城市", "宜春市", "抚州市", "上饶市", "九江市", "萍乡市", "新余市", "鹰潭市", "景德镇市",
              "深圳市", "广州市", "厦门市", "长沙市"):
    _REGION_ALIASES[_city] = _city
    _REGION_ALIASES[_city[:-1]] = _city
    _REGION_ALIASES["江西省" + _city] = _city
_REGIONS = sorted(_REGION_ALIASES, key=len, reverse=True)

# Organisation forms, longest first; value is the canonical form.
_FORMS: dict[str, str] = {
    "股份有限公司": "股份有限公司", "有限责任公司": "有限公司", "有限公司": "有限公司", "公司": "公司",
    "个人独资企业": "个人独资企业", "合伙企业(有限合伙)": "有限合伙", "(有限合伙)": "有限合伙",
    "合伙企业(普通合伙)": "普通合伙", "(普通合伙)": "普通合伙", "合伙企业": "合伙企业",
    "农民专业合作社": "专业合作社", "专业合作社": "专业合作社", "合作社": "专业合作社",
    "促进会": "促进会", "研究会": "研究会", "联合会": "联合会", "协会": "协会", "商会": "商会",
    "基金会": "基金会", "幼儿园": "幼儿园", "培训学校": "培训学校", "学校": "学校", "服务中心": "服务中心",
    "中心": "中心", "医院": "医院", "诊所": "诊所", "厂": "厂", "店": "店", "馆": "馆", "部": "部",
    "行": "行", "场": "场", "社": "社", "工作室": "工作室",
}
_BRANCH_MARKERS = ("分公司", "支公司", "分店", "营业部", "分部", "分校", "分院", "分厂")
_BRANCH_RE = re.compile(r"^(?P<head>.+(?:公司|企业|厂|店|社|中心|合伙\)))(?P<place>[^()]*?)(?P<marker>" + "|".join(_BRANCH_MARKERS) + r")$")
_INDUSTRY = sorted(
    """建材 建筑材料 科技 信息技术 网络科技 电子科技 贸易 商贸 物流 运输 餐饮 服装 电子 机械 食品 建筑 工程 建设
    房地产开发 房地产 置业 汽车销售 汽车服务 汽车 农业开发 农业 养殖 种植 医药 药房 大药房 文化传媒 文化 传媒 教育
    教育咨询 咨询 企业管理 管理 网络 电器 家具 五金 塑料 新材料 稀土 矿业 实业 投资 发展 环保 能源 钢结构 装饰工程
    装饰 装修 劳务 物业服务 物业管理 物业 酒店管理 酒店 超市 商行 纺织 印刷 包装 陶瓷 水泥 制衣 服饰 鞋业 木业
    茶业 果业 脐橙 生物科技 生物 健康 健康管理 旅游 广告 电力 水电安装 安装 机电 电气 照明 光电 通信 软件 数据
    金属制品 制品 化工 家居 建材销售 贸易发展 供应链 快递 速递 快运 仓储 百货 批发 零售 副食 粮油 蔬菜 水果
    烟酒 母婴 通讯 手机 眼镜 药业 木材 竹木 石材 砂石 混凝土 预拌混凝土 再生资源 回收 机动车检测 检测 驾驶培训
    培训 人力资源 家政服务 家政 保洁 安保 保安服务 园林绿化 园林 苗木 花卉 渔业 水产 畜牧 生猪 禽业 米业 油脂
    米粉 食品加工 农产品 农副产品 电子商务 商务 信息咨询 财务咨询 会计服务 法律咨询 社会工作服务 社工服务 志愿服务
    养老服务 老年 体育 文化艺术 艺术 书画 音乐 舞蹈 美容美发 美容 理发 洗车 汽车修理 修理 维修 摩托车
    """.split(),
    key=len,
    reverse=True,
)
_BRACKETS = str.maketrans({"〔": "(", "〕": ")", "【": "(", "】": ")", "［": "(", "］": ")", "{": "(", "}": ")",
                           "[": "(", "]": ")", "（": "(", "）": ")", "<": "(", ">": ")", "《": "(", "》": ")"})
_SPACE_RE = re.compile(r"[\s\u3000·•.,，、'\"“”‘’]+")
_FORMER_RE = re.compile(r"^(原|原名|曾用名|原名称)[:：]?")
_CONVERTER = opencc.OpenCC("t2s")


def _traditional_chars() -> frozenset[str]:
    """Characters OpenCC's TSCharacters table changes; names without any skip conversion."""
    table = Path(opencc.__file__).parent / "dictionary" / "TSCharacters.txt"
    chars: set[str] = set()
    if table.exists():
        for line in table.read_text(encoding="utf-8").splitlines():
            key, _, values = line.partition("\t")
            if len(key) == 1 and values.split(" ")[0] != key:
                chars.add(key)
    return frozenset(chars)


_TRADITIONAL = _traditional_chars()


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
    head_core: str

    @property
    def brand_key(self) -> str:
        """Phonetic key of the 字号 (homophone typos such as 鑫/新 share it)."""
        return pinyin_key(self.brand) if self.brand else ""


def to_simplified(text: str) -> str:
    """Traditional -> simplified, via OpenCC's t2s tables; cheap when nothing is traditional."""
    if _TRADITIONAL and _TRADITIONAL.isdisjoint(text):
        return text
    return _CONVERTER.convert(text)


def fold(text: str | None) -> str:
    """NFKC, brackets unified to (), traditional -> simplified, spaces and stray punctuation dropped.

    Idempotent: ``fold(fold(x)) == fold(x)``.
    """
    if not text:
        return ""
    out = unicodedata.normalize("NFKC", str(text)).translate(_BRACKETS)
    out = to_simplified(out)
    out = _SPACE_RE.sub("", out)
    return unicodedata.normalize("NFKC", out).translate(_BRACKETS)


@functools.lru_cache(maxsize=20_000)
def _char_pinyin(ch: str) -> str:
    return lazy_pinyin(ch)[0] if ch.strip() else ""


def pinyin_key(text: str) -> str:
    """Toneless pinyin of ``text``, joined: 鑫达 and 新达 both give ``xinda``.

    Character by character (each character's first reading), so the key is the
    same wherever the character stands, and cheap: one cached lookup a character.
    """
    return "".join(_char_pinyin(ch) for ch in text)


_REGION_RE = re.compile("|".join(re.escape(a) for a in _REGIONS))  # longest alias first


def _longest_suffix(text: str, words: frozenset[str], lengths: tuple[int, ...]) -> str:
    """The longest word of ``words`` that ends ``text`` and leaves something before it."""
    for n in lengths:
        if len(text) > n and text[-n:] in words:
            return text[-n:]
    return ""


_FORM_SET, _FORM_LENGTHS = frozenset(_FORMS), tuple(sorted({len(k) for k in _FORMS}, reverse=True))
_INDUSTRY_SET, _INDUSTRY_LENGTHS = frozenset(_INDUSTRY), tuple(sorted({len(k) for k in _INDUSTRY}, reverse=True))


def _strip_region(text: str) -> tuple[str, str]:
    """Strip stacked leading regions (江西赣县…); the most specific one is the region."""
    region = ""
    while True:
        m = _REGION_RE.match(text)
        if not m or len(text) <= m.end() + 1:
            return region, text
        region, text = _REGION_ALIASES[m.group(0)], text[m.end():]


def _strip_form(text: str) -> tuple[str, str]:
    key = _longest_suffix(text, _FORM_SET, _FORM_LENGTHS)
    return (_FORMS[key], text[: -len(key)]) if key else ("", text)


def _split_brackets(text: str) -> tuple[str, list[str]]:
    notes = re.findall(r"\(([^()]*)\)", text)
    keep = [n for n in notes if n in ("有限合伙", "普通合伙")]
    body = re.sub(r"\((?!有限合伙\)|普通合伙\))[^()]*\)", "", text)
    return body, [n for n in notes if n not in keep]


def _split_industry(body: str) -> tuple[str, str]:
    word = _longest_suffix(body, _INDUSTRY_SET, _INDUSTRY_LENGTHS)
    if not word:
        return body, ""
    brand, industry = body[: -len(word)], word
    more_brand, more_industry = _split_industry(brand) if len(brand) > 2 else (brand, "")
    if more_industry and len(more_brand) >= 2:
        return more_brand, more_industry + industry
    return brand, industry


@functools.lru_cache(maxsize=500_000)
def parse_name(raw: str | None) -> NameParts:
    """Parse an enterprise name into its parts (see module docstring)."""
    clean = fold(raw).replace("有限责任公司", "有限公司")
    text = clean
    m = _BRANCH_RE.match(text)
    if m and len(m.group("head")) >= 4:
        head = parse_name(m.group("head"))
        place = re.sub(r"(镇|乡|街道|区|县|市)$", "", _strip_region(m.group("place"))[1] or m.group("place"))
        return NameParts(clean, head.region, head.brand, head.industry, head.form, True,
                         place, head.former, head.core, head.core)
    body, notes = _split_brackets(text)
    region, former = "", ""
    for note in notes:
        if note in _REGION_ALIASES:
            region = _REGION_ALIASES[note]
        elif _FORMER_RE.match(note):
            former = fold(_FORMER_RE.sub("", note))
    lead_region, body = _strip_region(body)
    region = lead_region or region
    form, body = _strip_form(body)
    brand, industry = _split_industry(body)
    core = brand + industry
    return NameParts(clean, region, brand, industry, form, False, "", former, core, "")
