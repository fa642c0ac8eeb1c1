"""The default noise model: how a clerk types a name, a code, an address, a date.

Every variant listed in docs/design.md appears here. Each function takes
its own ``random.Random`` so a record's noise is stable month to month
(a registry does not retype its rows every month) unless the world changed.
This is the model ``data/samples`` is written with and the matcher was tuned on;
:mod:`datapool.samples.noise2` is the held-out one (see ``noisemodel.py``).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import date

from datapool.matching.identifiers import USCC_ALPHABET
from datapool.samples.noisemodel import NoiseModel
from datapool.samples.world import KIND_SOCIAL, Enterprise, division_chain, short_name

HOMOPHONES = {
    "鑫": "新",
    "新": "鑫",
    "鸿": "宏",
    "宏": "鸿",
    "兴": "星",
    "星": "兴",
    "盛": "胜",
    "达": "大",
    "祥": "翔",
    "源": "元",
    "丰": "峰",
    "利": "力",
    "昌": "长",
    "瑞": "锐",
    "嘉": "佳",
    "佳": "家",
    "顺": "舜",
    "恒": "衡",
    "金": "今",
    "华": "桦",
    "明": "铭",
    "辉": "晖",
    "海": "凯",
}
TRADITIONAL = {
    "达": "達",
    "兴": "興",
    "华": "華",
    "发": "發",
    "汇": "匯",
    "鸿": "鴻",
    "隆": "隆",
    "丰": "豐",
    "县": "縣",
    "区": "區",
    "赣": "贛",
    "贸": "貿",
    "业": "業",
    "电": "電",
    "机": "機",
    "械": "械",
    "责": "責",
    "任": "任",
    "公": "公",
    "司": "司",
    "建": "建",
    "筑": "築",
    "龙": "龍",
    "凤": "鳳",
    "宝": "寶",
    "饮": "飲",
    "营": "營",
    "织": "織",
    "广": "廣",
    "东": "東",
    "环": "環",
    "药": "藥",
    "树": "樹",
    "园": "園",
    "乡": "鄉",
    "镇": "鎮",
    "门": "門",
    "号": "號",
    "路": "路",
    "记": "記",
}
FULLWIDTH = str.maketrans("()0123456789", "（）０１２３４５６７８９")
ODD_BRACKETS = [("〔", "〕"), ("【", "】"), ("（", "）")]


def region_prefix(e: Enterprise, rng: random.Random) -> str:
    """The region as this clerk writes it: as registered, every level in full, short or old
    (赣县), the level's official name, or a level above (赣州市 for 赣县区)."""
    if not e.region:
        return ""
    chain = division_chain(e.region)
    r = rng.random()
    if r < 0.4:
        return e.region_prefix
    if r < 0.52:
        return "".join(chain)  # 江西省赣州市赣县区
    if r < 0.68:
        return short_name(e.region)
    if r < 0.82 or len(chain) == 1 or e.kind == KIND_SOCIAL:
        # a social organisation is named by its region: 赣州市企业家商会 is another one
        return e.region
    k = rng.randrange(1, len(chain))  # a level above: 赣州市, 赣州, or 江西省赣州市 for 赣县区
    above = chain[k - 1]
    r = rng.random()
    if r < 0.3 and k > 1:
        return "".join(chain[:k])
    return above if r < 0.65 else short_name(above)


# 科技 is short for 科学技术: a registry may write an industry's 技术 form (网络科技 / 网络技术)
INDUSTRY_SPELLINGS = {
    "科技": "技术",
    "网络科技": "网络技术",
    "电子科技": "电子技术",
    "生物科技": "生物技术",
}


def industry_spelling(name: str, e: Enterprise, level: float) -> str:
    """``name`` with its industry written the other way now and then (科技 as 技术).

    The draw has a generator of its own, seeded by the name and the registry's ``level``: the
    same in every month, and the record's other draws are as they were without it.
    """
    other = INDUSTRY_SPELLINGS.get(e.industry)
    if not other or not e.brand or e.brand + e.industry not in name:
        return name
    if random.Random(f"{name}:{level}:industry").random() >= 0.12 * level:
        return name
    return name.replace(e.brand + e.industry, e.brand + other, 1)


def name_variant(name: str, e: Enterprise, rng: random.Random, level: float) -> str:
    """A typed variant of ``name``; ``level`` scales how messy this registry is."""
    out = industry_spelling(name, e, level)
    official = e.region_prefix
    if official and out.startswith(official) and e.kind != "个体工商户":
        rest = out[len(official) :]
        r = rng.random()
        if r < 0.25 * level:
            out = rest  # region dropped
        elif r < 0.32 * level and not rest.startswith(e.brand + e.industry + "分"):
            form_at = rest.rfind(e.form) if e.form else -1
            if form_at > 0:  # region bracketed after the 字号 + industry
                out = rest[:form_at] + "(" + short_name(e.region) + ")" + rest[form_at:]
        else:
            out = region_prefix(e, rng) + rest
    if rng.random() < 0.2 * level:
        out = (
            out.replace("有限责任公司", "有限公司")
            if "有限责任公司" in out
            else out.replace("有限公司", "有限责任公司", 1)
        )
    if rng.random() < 0.04 * level and e.brand:
        ch = next((c for c in e.brand if c in HOMOPHONES), "")
        if ch:
            out = out.replace(ch, HOMOPHONES[ch], 1)
    at = out.find(e.brand) if e.brand else -1
    r = rng.random()
    if at >= 0 and r < 0.03 * level and len(e.brand) >= 3:  # a character of the 字号 dropped
        i = at + rng.randrange(len(e.brand))
        out = out[:i] + out[i + 1 :]
    elif at >= 0 and r < 0.05 * level:  # one typed twice (宏达达)
        i = at + rng.randrange(len(e.brand))
        out = out[: i + 1] + out[i:]
    elif at >= 0 and r < 0.06 * level and len(e.brand) >= 2:  # two neighbours swapped (宏达 达宏)
        i = at + rng.randrange(len(e.brand) - 1)
        out = out[:i] + out[i + 1] + out[i] + out[i + 2 :]
    if rng.random() < 0.08 * level:
        out = "".join(TRADITIONAL.get(c, c) for c in out)
    if rng.random() < 0.1 * level:
        out = out.translate(FULLWIDTH)
    if rng.random() < 0.03 * level and "(" in out:
        left, right = rng.choice(ODD_BRACKETS)
        out = out.replace("(", left).replace(")", right)
    if rng.random() < 0.08 * level:
        cut = rng.randint(1, max(1, len(out) - 1))
        out = out[:cut] + rng.choice([" ", "  ", "\u3000"]) + out[cut:]
    if rng.random() < 0.05 * level:
        out = " " + out + " "
    return out


def code_typo(code: str, rng: random.Random) -> str:
    """One character substituted: the commonest keying error."""
    i = rng.randrange(len(code))
    alphabet = USCC_ALPHABET if len(code) == 18 else "0123456789"
    return code[:i] + rng.choice([c for c in alphabet if c != code[i]]) + code[i + 1 :]


def lower_check(code: str) -> str:
    """Lower-case check letter (``...244w``) as seen in real exports."""
    return code[:-1] + code[-1].lower()


def address_variant(
    e: Enterprise, rng: random.Random, level: float, operating: bool = False
) -> str:
    """The address as this registry holds it."""
    road, number = e.road, e.number
    if operating and rng.random() < 0.1:
        number = number + rng.randint(1, 20)
    town, community = e.grid.town, e.grid.community
    if "开发区" in town:  # the zone's official name, its short forms, or its common name
        r = rng.random()
        town = (
            "江西赣县经济开发区"
            if r < 0.6
            else "赣县经开区"
            if r < 0.8
            else "开发区"
            if r < 0.9
            else "赣县经济技术开发区"
        )
    elif rng.random() < 0.08 * level:
        town = town[:-1]  # the town without its 镇 / 乡, as people say it (梅林 for 梅林镇)
    r = rng.random()
    house = (
        ""  # no house number
        if r < 0.04 * level
        else rng.choice(  # the firm holds several numbers
            [f"{number}-{number + 2}号", f"{number}号-{number + 2}号", f"{number}、{number + 1}号"]
        )
        if r < 0.07 * level
        else f"{number}号"
    )
    parts = [town, community if rng.random() > 0.15 * level else "", f"{road}{house}"]
    r = rng.random()
    head = (  # the levels above the town, in full, short or not at all
        "江西省赣州市赣县区"
        if r < 0.45
        else "赣州市赣县区"
        if r < 0.62
        else "江西赣州赣县"
        if r < 0.66
        else "赣州赣县"
        if r < 0.7
        else "赣县"
        if r < 0.8 * level + 0.2
        else ""
    )
    out = head + "".join(parts)
    if e.room and house:  # a shared building: each registry writes the room its own way, or not
        out += room_variant(e.room, rng)
    if rng.random() < 0.1 * level:
        out = out.translate(FULLWIDTH)
    if rng.random() < 0.05 * level:
        out = out.replace("号", "号" + rng.choice(["1栋", "一楼", "101室", "附近"]))
    return out


_FLOORS = "一二三四五六七八九十"


def room_variant(room: str, rng: random.Random) -> str:
    """A room in a shared building as a clerk writes it: as given, respelt, bracketed or left out.

    ``1203室`` may become ``12楼1203``, ``1203``, ``(1203室)`` or nothing; ``3楼`` ``三楼``,
    ``3层`` or ``3F``.
    """
    r = rng.random()
    if r < 0.2:
        return ""
    if r < 0.45:
        return room
    digits = "".join(ch for ch in room if ch.isdigit())
    if room.endswith("楼") and digits:
        n = int(digits)
        words = _FLOORS[n - 1] + "楼" if n <= len(_FLOORS) else room
        return rng.choice([words, f"{n}层", f"{n}F", f"第{words[:-1]}层"])
    if room.endswith("室") and len(digits) >= 3:
        return rng.choice([f"{digits[:-2]}楼{digits}", digits, f"({room})", f"{digits}房"])
    return rng.choice([f"({room})", " " + room, room.replace("座", "栋")])


def date_text(d: date, rng: random.Random) -> str:
    """One of the date spellings real exports use."""
    return rng.choice(
        [
            d.isoformat(),
            f"{d.year}/{d.month}/{d.day}",
            d.strftime("%Y%m%d"),
            f"{d.year}年{d.month}月{d.day}日",
        ]
    )


def ms_code(e: Enterprise, rng: random.Random) -> str:
    """Market supervision's code cell: old records hold only the 注册号."""
    if e.regno and rng.random() < 0.06:
        return ""
    if rng.random() < 0.02:
        return lower_check(e.uscc)
    return e.uscc


def ca_code(e: Enterprise, rng: random.Random) -> str:
    """Civil affairs' code cell."""
    return code_typo(e.uscc, rng) if rng.random() < 0.02 else e.uscc


def si_code(e: Enterprise, rng: random.Random) -> str:
    """Social insurance's code cell: the USCC, the organisation code, nothing, or a typo."""
    form = rng.random()
    if form < 0.68:
        return e.uscc
    if form < 0.83:
        return e.org_code
    return "" if form < 0.97 else code_typo(e.uscc, rng)


def tax_code(e: Enterprise, rng: random.Random) -> str:
    """The tax registry's 纳税人识别号: older taxpayers keep a 15-character id."""
    code = e.uscc[2:8] + e.org_code if e.tax_old_id else e.uscc
    if rng.random() < 0.02:
        return code_typo(code, rng)
    if rng.random() < 0.02:
        return lower_check(code)
    return code


def former_note(name: str, former: str, rng: random.Random) -> str:
    """Market supervision notes a former name in brackets now and then."""
    return f"{name}(原{former})" if rng.random() < 0.3 else name


def _lag(share: float, months: list[int]) -> Callable[[random.Random], int]:
    """A registry that lags a rename (``share`` of firms) by one of ``months``."""
    return lambda rng: rng.choice(months) if rng.random() < share else 0


MODEL = NoiseModel(
    name="default",
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
        "ms": 0.15,
        "ms_address": 0.5,
        "ca": 0.2,
        "ca_address": 0.6,
        "si": 1.0,
        "si_address": 1.0,
        "tax": 0.6,
        "tax_address": 0.8,
        "members": 1.0,
    },
    lag={"si": _lag(0.8, [1, 2, 3, 6, 12]), "tax": _lag(0.5, [1, 2, 4])},
)
