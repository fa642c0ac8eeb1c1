"""The held-out noise model: a second, deliberately different way clerks corrupt the world.

USED ONLY TO SCORE THE MATCHER. No threshold, weight, rule or test bar may be tuned on what
this model writes: it stands in for exports written by people who never saw this code, so
that ``datapool bench`` and ``tests/test_quality.py`` measure how the matcher holds on data it
was not fitted to. If a change to the matcher is judged here, judge it, do not fit it.

It was written apart from :mod:`datapool.samples.noise` (the default model, which the matcher
was built on) and shares none of its functions, tables or rates. Where the default model makes a
choice, this one makes others:

* regions: written at any level of the division hierarchy (江西 / 江西省 / 赣州 / 赣州市 /
  赣县区 / 赣县 / 江西省赣州市 / 赣州赣县 ...), at the registered level, dropped, in brackets
  before the name or after the 字号, or as the county an enterprise registered higher up sits in;
* 字号: a character dropped, added or swapped by a homophone (its own table), or two swapped;
* industry and form: long and short spellings (建筑材料 for 建材, 公司 for 有限公司);
* characters: traditional script through OpenCC's s2t, full-width letters and digits, spaces and
  no-break spaces inside, tabs after;
* codes: two characters transposed, O for 0, the organisation code written ``XXXXXXXX-X``;
* addresses: towns without 镇/乡, communities dropped, house numbers dropped, written as ranges
  (12-14号, 12号-14号) or with a building, spaces between parts;
* renames: each registry lags a rename by its own number of months;
* dates: the input contract's spellings in other proportions.
"""

from __future__ import annotations

import random
from datetime import date

import opencc

from datapool.matching.identifiers import USCC_ALPHABET
from datapool.samples.noisemodel import NoiseModel
from datapool.samples.world import (
    BRAND_CHARS,
    DIVISIONS,
    KIND_INDIV,
    KIND_SOCIAL,
    Enterprise,
    division_chain,
    short_name,
)

# homophones a clerk hears for the characters of 字号 (none taken from the default model)
SOUNDS_LIKE = {
    "盛": "圣",
    "泰": "太",
    "恒": "亨",
    "源": "原",
    "锦": "金",
    "程": "成",
    "瑞": "睿",
    "诚": "成",
    "博": "搏",
    "腾": "藤",
    "龙": "隆",
    "飞": "菲",
    "凤": "峰",
    "美": "梅",
    "和": "禾",
    "众": "中",
    "志": "智",
    "天": "添",
    "明": "名",
    "光": "广",
    "辉": "徽",
    "晨": "辰",
    "星": "心",
    "阳": "扬",
    "润": "闰",
    "泽": "则",
    "正": "政",
    "俊": "骏",
    "雅": "亚",
    "宇": "羽",
    "达": "答",
    "华": "化",
    "兴": "新",
    "通": "同",
}
LONG_INDUSTRY = {
    "建材": "建筑材料",
    "餐饮": "餐饮服务",
    "物流": "物流运输",
    "房地产开发": "房地产",
    "农业开发": "农业",
    "装饰工程": "装饰装修工程",
    "汽车销售": "汽车贸易",
    "网络科技": "网络技术",
    "家政服务": "家政",
    "生物科技": "生物技术",
}
_S2T = opencc.OpenCC("s2t")
_WIDE = str.maketrans(
    "0123456789ABCDEFGHJKLMNPQRTUWXY()-",
    "０１２３４５６７８９ＡＢＣＤＥＦＧＨＪＫＬＭＮＰＱＲＴＵＷＸＹ（）－",
)
_IN_DISTRICT = "赣县区"  # where every sample enterprise operates


def _writings(region: str, rng: random.Random, own_level: bool = False) -> str:
    """One way of writing ``region``: any level of its chain, official, short, former or joined.

    With ``own_level``, never a level above or below ``region`` (a social organisation is named
    by its region: 赣州市企业家商会 is not 赣县企业家商会).
    """
    chain = division_chain(region)
    r = rng.random()
    if r < 0.35:  # one level of the chain, official or short
        level = region if own_level else rng.choice(chain)
        return level if rng.random() < 0.5 else short_name(level)
    if r < 0.42 and not own_level and len(chain) > 2:  # levels above joined: 江西赣州 for 赣县区
        return "".join(short_name(p) if rng.random() < 0.5 else p for p in chain[:-1])
    if r < 0.55 and len(chain) > 1:  # several levels joined, from the top
        start = rng.randrange(len(chain) - 1)
        parts = chain[start:]
        return "".join(p if rng.random() < 0.6 else short_name(p) for p in parts)
    if r < 0.65 and DIVISIONS[region][2]:  # a former name (赣县, 南康市, 龙南县)
        return rng.choice(DIVISIONS[region][2])
    if r < 0.75 and not own_level and region in division_chain(_IN_DISTRICT)[:-1]:
        # registered higher up, written as the county it sits in
        return rng.choice([_IN_DISTRICT, short_name(_IN_DISTRICT), "赣州市赣县区"])
    return region if rng.random() < 0.5 else short_name(region)


def _region(out: str, e: Enterprise, rng: random.Random, level: float) -> str:
    prefix = e.region_prefix
    if not prefix or not out.startswith(prefix):
        return out
    rest = out[len(prefix) :]
    if rng.random() < 0.05 + 0.2 * level:
        return rest  # dropped
    if rng.random() > 0.6 * min(level, 1.0):
        return out  # as registered
    if e.kind == KIND_INDIV:  # a sole trader is known by its county: 赣县, 赣县区, 赣州市赣县区
        written = rng.choice([e.region, short_name(e.region), *DIVISIONS[e.region][2]])
    else:
        written = _writings(e.region, rng, own_level=e.kind == KIND_SOCIAL)
    r = rng.random()
    if r < 0.08:
        left, right = rng.choice([("(", ")"), ("（", "）"), ("【", "】")])
        return left + written + right + rest
    if r < 0.18 and e.brand and rest.startswith(e.brand) and "分公司" not in rest:
        return e.brand + "(" + written + ")" + rest[len(e.brand) :]  # after the 字号
    return written + rest


def _brand(out: str, e: Enterprise, rng: random.Random, level: float) -> str:
    brand = e.brand
    at = out.find(brand) if brand else -1
    if at < 0:
        return out
    r = rng.random() / max(level, 0.01)
    typed = brand
    if r < 0.02:
        ch = next((c for c in brand if c in SOUNDS_LIKE), "")
        typed = brand.replace(ch, SOUNDS_LIKE[ch], 1) if ch else brand
    elif r < 0.03 and len(brand) >= 3:
        i = rng.randrange(len(brand))
        typed = brand[:i] + brand[i + 1 :]  # a character dropped
    elif r < 0.04:
        i = rng.randrange(len(brand) + 1)
        typed = brand[:i] + rng.choice(BRAND_CHARS) + brand[i:]  # a character added
    elif r < 0.045 and len(brand) >= 2:
        i = rng.randrange(len(brand) - 1)
        typed = brand[:i] + brand[i + 1] + brand[i] + brand[i + 2 :]  # two swapped
    return out[:at] + typed + out[at + len(brand) :]


def _industry_and_form(out: str, e: Enterprise, rng: random.Random, level: float) -> str:
    if e.industry in LONG_INDUSTRY and rng.random() < 0.12 * level:
        out = out.replace(e.industry, LONG_INDUSTRY[e.industry], 1)
    r = rng.random()
    if r < 0.06 * level and "有限公司" in out:
        out = out.replace("有限公司", "公司", 1)
    elif r < 0.18 * level and "有限责任公司" in out:
        out = out.replace("有限责任公司", "有限公司", 1)
    elif r < 0.22 * level and "有限公司" in out:
        out = out.replace("有限公司", "有限责任公司", 1)
    elif r < 0.25 * level and "合伙企业(有限合伙)" in out:
        out = out.replace("合伙企业(有限合伙)", "(有限合伙)", 1)
    return out


def _characters(out: str, rng: random.Random, level: float) -> str:
    if rng.random() < 0.05 * level:
        out = _S2T.convert(out)
    if rng.random() < 0.06 * level:
        out = out.translate(_WIDE)
    r = rng.random()
    if r < 0.05 * level and len(out) > 4:
        cut = rng.randint(2, len(out) - 2)
        out = out[:cut] + rng.choice([" ", "\u00a0", " \u00a0"]) + out[cut:]
    elif r < 0.09 * level:
        out = out + rng.choice(["\t", " ", "\u00a0"])
    return out


def name_variant(name: str, e: Enterprise, rng: random.Random, level: float) -> str:
    """The registered ``name`` as this clerk types it; ``level`` scales the registry's messiness."""
    out = _region(name, e, rng, level)
    out = _brand(out, e, rng, level)
    out = _industry_and_form(out, e, rng, level)
    return _characters(out, rng, level)


def code_typo(code: str, rng: random.Random) -> str:
    """Two neighbouring characters transposed, or a letter O typed for a zero."""
    if "0" in code and rng.random() < 0.3:
        i = rng.choice([i for i, c in enumerate(code) if c == "0"])
        return code[:i] + "O" + code[i + 1 :]
    for _ in range(5):
        i = rng.randrange(len(code) - 1)
        if code[i] != code[i + 1]:
            return code[:i] + code[i + 1] + code[i] + code[i + 2 :]
    i = rng.randrange(len(code))
    return code[:i] + rng.choice([c for c in USCC_ALPHABET if c != code[i]]) + code[i + 1 :]


def _spaced(code: str, rng: random.Random) -> str:
    r = rng.random()
    if r < 0.01:
        return code[:8] + " " + code[8:]
    if r < 0.015:
        return code.translate(_WIDE)
    return code


def ms_code(e: Enterprise, rng: random.Random) -> str:
    """Market supervision's code cell."""
    if e.regno and rng.random() < 0.1:
        return ""
    if rng.random() < 0.005:
        return code_typo(e.uscc, rng)
    return _spaced(e.uscc, rng)


def ca_code(e: Enterprise, rng: random.Random) -> str:
    """Civil affairs' code cell."""
    if rng.random() < 0.03:
        return code_typo(e.uscc, rng)
    return _spaced(e.uscc, rng)


def si_code(e: Enterprise, rng: random.Random) -> str:
    """Social insurance's code cell: more organisation codes and blanks than the default model."""
    r = rng.random()
    if r < 0.5:
        return _spaced(e.uscc, rng)
    if r < 0.62:
        return e.org_code
    if r < 0.72:
        return e.org_code[:8] + "-" + e.org_code[8]
    if r < 0.95:
        return ""
    return code_typo(e.uscc, rng)


def tax_code(e: Enterprise, rng: random.Random) -> str:
    """The tax registry's id: the old 15-character id for older taxpayers, typos now and then."""
    code = e.uscc[2:8] + e.org_code if e.tax_old_id else e.uscc
    r = rng.random()
    if r < 0.03:
        return code_typo(code, rng)
    if r < 0.04:
        return code.lower()
    return _spaced(code, rng)


def former_note(name: str, former: str, rng: random.Random) -> str:
    """Market supervision's note of a former name, in several spellings."""
    r = rng.random()
    if r < 0.08:
        return f"{name}(原{former})"
    if r < 0.14:
        return f"{name}（原名：{former}）"
    if r < 0.18:
        return f"{name}(曾用名{former})"
    return name


def address_variant(e: Enterprise, rng: random.Random, level: float, operating: bool) -> str:
    """The address as this registry holds it."""
    town, community = e.grid.town, e.grid.community
    if "开发区" in town:
        town = rng.choice(["江西赣县经济开发区", "赣县经济技术开发区", "赣县经开区", "开发区"])
    elif rng.random() < 0.12 * level:
        town = town[:-1]  # 梅林 for 梅林镇
    if rng.random() < 0.3 * level:
        community = ""
    number = e.number + (rng.randint(1, 30) if operating and rng.random() < 0.12 else 0)
    r = rng.random()
    if r < 0.08 * level:
        house = ""  # number dropped
    elif r < 0.13 * level:
        house = rng.choice(
            [f"{number}-{number + 2}号", f"{number}号-{number + 4}号", f"{number}、{number + 1}号"]
        )
    elif r < 0.2 * level:
        house = f"{number}号" + rng.choice(["A栋", "3栋2单元", "二楼", "商铺"])
    else:
        house = f"{number}号"
    r = rng.random()
    head = (
        "江西省赣州市赣县区"
        if r < 0.25
        else "赣州市赣县区"
        if r < 0.4
        else "赣县区"
        if r < 0.55
        else "赣县"
        if r < 0.62
        else "江西赣州赣县"
        if r < 0.65
        else ""
    )
    sep = " " if rng.random() < 0.1 * level else ""
    out = sep.join(p for p in (head, town, community, e.road + house) if p)
    if rng.random() < 0.06 * level:
        out = out.translate(_WIDE)
    return out


def date_text(d: date, rng: random.Random) -> str:
    """The input contract's date spellings, slashes and Chinese dates commoner than ISO."""
    r = rng.random()
    if r < 0.35:
        return f"{d.year}/{d.month}/{d.day}"
    if r < 0.6:
        return f"{d.year}年{d.month}月{d.day}日"
    if r < 0.8:
        return d.isoformat()
    return d.strftime("%Y%m%d")


MODEL = NoiseModel(
    name="holdout",
    name_variant=name_variant,
    address_variant=address_variant,
    date_text=date_text,
    code_typo=code_typo,
    ms_code=ms_code,
    ca_code=ca_code,
    si_code=si_code,
    tax_code=tax_code,
    former_note=former_note,
    levels={
        "ms": 0.3,
        "ms_address": 0.6,
        "ca": 0.4,
        "ca_address": 0.7,
        "si": 1.0,
        "si_address": 1.0,
        "tax": 0.8,
        "tax_address": 0.9,
        "members": 1.2,
    },
    lag={
        "si": lambda rng: rng.choice([0, 1, 1, 2, 3, 6, 12]),
        "tax": lambda rng: rng.choice([0, 0, 1, 2, 4]),
    },
)
