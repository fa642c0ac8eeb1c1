"""The true state of the sample district: enterprises, their changes month to month.

Everything the exports say is derived from this world by `exports.py`, which
adds the noise real agencies add. Truth files record which export row is
which enterprise, so match quality can be measured honestly.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field, replace
from datetime import date

from datapool.matching.identifiers import (
    USCC_ALPHABET,
    org_check_char,
    regno_check_digit,
    uscc_check_char,
)
from datapool.samples.geo import ROADS, Grid

BRAND_CHARS = (
    "宏达鑫盛华兴隆昌泰丰源恒通利发金汇鸿嘉瑞祥福顺安康永新德远锦程宇博腾飞龙凤佳美信诚和合众创志海"
    "天明光辉耀晨星阳润泽正豪俊雅逸"
)
INDUSTRIES = (
    "建材 科技 贸易 商贸 物流 餐饮 服装 电子科技 机械 食品 建筑工程 房地产开发 置业 汽车销售 "
    "农业开发 养殖 医药 文化传媒 教育咨询 企业管理 网络科技 电器 家具 五金 塑料 新材料 稀土 矿业 "
    "实业 环保 能源 钢结构 装饰工程 劳务 物业管理 酒店管理 纺织 印刷 包装 陶瓷 制衣 鞋业 木业 茶业 "
    "果业 脐橙 生物科技 健康管理 旅游 广告 电力 机电 照明 通信 软件 化工 家居 供应链 快递 仓储 "
    "人力资源 家政服务 园林绿化 水产"
).split()
SMALL_TRADES = (
    "米粉 小吃 餐馆 便利 副食 五金 建材 水果 服装 理发 修理 烟酒 粮油 茶叶 药房 快递".split()
)
SMALL_FORMS = ["店", "馆", "部", "行", "厂", "中心"]
SOCIAL = [
    ("社会团体", "协会"),
    ("社会团体", "商会"),
    ("社会团体", "研究会"),
    ("民办非企业单位", "幼儿园"),
    ("民办非企业单位", "培训学校"),
    ("民办非企业单位", "社会工作服务中心"),
    ("基金会", "基金会"),
]
SOCIAL_TOPICS = (
    "青年志愿者 个体劳动者 脐橙产业 建筑业 物流行业 餐饮行业 老年体育 书画 摄影 乡村振兴 慈善 "
    "红十字 蓝天救援 家政服务 电子商务 客家文化 诗词 企业家"
).split()
SURNAMES = "黄刘李钟谢曾赖罗陈张邱廖温王杨朱胡郭何林徐吴周孙马".replace("", " ").split()
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰涛明超秀霞平刚桂英华建国志文斌辉红梅兰玉".replace(
    "", " "
).split()
KIND_LLC, KIND_SOLE, KIND_PARTNER, KIND_COOP, KIND_BRANCH, KIND_INDIV, KIND_SOCIAL = (
    "有限责任公司(自然人投资或控股)",
    "个人独资企业",
    "有限合伙企业",
    "农民专业合作社",
    "分公司",
    "个体工商户",
    "社会组织",
)
REGION_NAMES = {
    "赣县区": ("赣州市赣县区", "赣县"),
    "赣州市": ("赣州市", "赣州"),
    "江西省": ("江西省", "江西"),
}
# Real divisions (GB/T 2260 codes) the generator writes names from: name -> (parent, code, former
# names). The generator's own table, not the matcher's: the matcher must not read it.
DIVISIONS: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "江西省": ("", "360000", ()),
    "南昌市": ("江西省", "360100", ()),
    "南昌县": ("南昌市", "360121", ()),
    "新建区": ("南昌市", "360112", ("新建县",)),
    "赣州市": ("江西省", "360700", ()),
    "章贡区": ("赣州市", "360702", ()),
    "南康区": ("赣州市", "360703", ("南康市",)),
    "赣县区": ("赣州市", "360704", ("赣县",)),
    "信丰县": ("赣州市", "360722", ()),
    "大余县": ("赣州市", "360723", ()),
    "上犹县": ("赣州市", "360724", ()),
    "安远县": ("赣州市", "360726", ()),
    "兴国县": ("赣州市", "360732", ()),
    "于都县": ("赣州市", "360731", ()),
    "宁都县": ("赣州市", "360730", ()),
    "瑞金市": ("赣州市", "360781", ()),
    "龙南市": ("赣州市", "360783", ("龙南县",)),
    "吉安市": ("江西省", "360800", ()),
    "吉安县": ("吉安市", "360821", ()),
    "广东省": ("", "440000", ()),
    "深圳市": ("广东省", "440300", ()),
    "南山区": ("深圳市", "440305", ()),
    "广州市": ("广东省", "440100", ()),
    "东莞市": ("广东省", "441900", ()),
    "福建省": ("", "350000", ()),
    "厦门市": ("福建省", "350200", ()),
    "湖南省": ("", "430000", ()),
    "长沙市": ("湖南省", "430100", ()),
    "长沙县": ("长沙市", "430121", ()),
    "浙江省": ("", "330000", ()),
}


# where the registered names of the district's enterprises put their region, by weight: most are
# the district's own, some registered higher up, some come from elsewhere (they operate here)
HOME_REGIONS = {
    "赣县区": 62,
    "赣州市": 14,
    "江西省": 6,
    **dict.fromkeys(["章贡区", "南康区", "信丰县", "于都县", "兴国县", "瑞金市", "龙南市"], 1),
    **dict.fromkeys(["大余县", "上犹县", "安远县", "宁都县"], 0.5),
    **dict.fromkeys(["南昌市", "南昌县", "新建区", "吉安市", "吉安县"], 0.6),
    **dict.fromkeys(["广东省", "深圳市", "南山区", "广州市", "东莞市", "福建省", "厦门市"], 0.4),
    **dict.fromkeys(["湖南省", "长沙市", "长沙县", "浙江省"], 0.3),
    "": 3,  # no region in the name at all
}


# the registering authority of a name without a region: the district's own bureau (its USCC
# carries the district's division code, see _division_code)
HOME_AUTHORITY = "赣县区"


def name_key(e: Enterprise) -> tuple[str, ...]:
    """What two enterprises registered by one authority may not share: one name up to how its
    region is written.

    The registering authority is the region the name gives (赣州市赣县区, 赣县区 and 赣县, its
    name until 2016, are one authority; a name without a region is registered by the district's).
    An enterprise's 字号 may not be that of another enterprise of the same industry registered by
    the same authority, whatever their organisation forms (企业名称登记管理规定, State Council
    Order 734 of 2020, art. 17; a 个体工商户's name likewise); a social organisation's name may
    not be that of another registered by the same civil-affairs authority (社会团体登记管理条例
    art. 13; 民办非企业单位登记管理暂行条例 likewise), whose form word is part of the name
    (诗词商会 and 诗词研究会 are two). A branch is its head office's name and its place: one
    head office has one branch per place.
    """
    if e.kind == KIND_BRANCH:
        return ("branch", e.head_key, e.branch_place[:2])
    form = e.form if e.kind == KIND_SOCIAL else ""
    return (e.region or HOME_AUTHORITY, e.brand, e.industry, form)


def division_chain(region: str) -> list[str]:
    """``region`` and its ancestors, province first (``[江西省, 赣州市, 赣县区]``); [] for none."""
    chain: list[str] = []
    while region:
        chain.insert(0, region)
        region = DIVISIONS[region][0]
    return chain


def short_name(division: str) -> str:
    """The name without its level word, as people write it: 江西, 赣州, 信丰; 赣县区 -> 赣县."""
    if division in ("赣县区",):
        return "赣县"
    for suffix in ("省", "市", "区", "县"):
        if division.endswith(suffix) and len(division) > 2:
            return division[: -len(suffix)]
    return division


@dataclass
class Enterprise:
    """One real enterprise and its true state in the current month."""

    key: str
    kind: str
    region: str
    brand: str
    industry: str
    form: str
    uscc: str
    regno: str
    founded: date
    grid: Grid
    road: str
    number: int
    point: tuple[float, float] | None
    headcount: int
    phone: str
    legal_rep: str
    industry_code: str
    active: bool = True
    head_key: str = ""
    branch_place: str = ""
    social_type: str = ""
    former_name: str = ""
    renamed_ago: int = 0  # months since the rename that made former_name former
    pilot_code: bool = False
    in_si: bool = True
    si_accounts: list[str] = field(default_factory=list)
    in_tax: bool = True
    tax_old_id: bool = False
    name_override: str = ""
    region_text: str | None = None  # as registered; None: the region's official name
    room: str = ""  # room or floor in a shared building (samples/joint.py); registries vary it
    joint_group: str = ""  # the truth group (``building:JB001``, ``street:JS001``), if any

    @property
    def org_code(self) -> str:
        """The organisation code inside the USCC."""
        return self.uscc[8:17]

    def name(self, world: World) -> str:
        """The registered name as the market-supervision registry holds it."""
        if self.name_override:
            return self.name_override
        if self.kind == KIND_BRANCH:
            head = world.by_key[self.head_key]
            return head.name(world) + self.branch_place + "分公司"
        return self.region_prefix + self.brand + self.industry + self.form

    @property
    def region_prefix(self) -> str:
        """The region heading the registered name (赣州市赣县区, 江西, 信丰县); "" for none."""
        if self.region_text is not None:
            return self.region_text
        return REGION_NAMES[self.region][0] if self.region else ""


@dataclass
class World:
    """All enterprises of the sample district."""

    enterprises: list[Enterprise]
    by_key: dict[str, Enterprise]


def make_uscc(rng: random.Random, prefix: str, division: str) -> str:
    """A valid USCC (GB 32100) with a valid organisation code inside."""
    if rng.random() < 0.6:  # post-2015 codes: MA + 6 alphanumerics
        body8 = "MA" + "".join(rng.choice("0123456789ABCDEFGHJKLMNPQRTUWXY") for _ in range(6))
    else:
        body8 = "".join(rng.choice("0123456789") for _ in range(8))
    org = body8 + (org_check_char(body8) or "0")
    body17 = prefix + division + org
    return body17 + (uscc_check_char(body17) or "0")


def make_regno(rng: random.Random, division: str, individual: bool) -> str:
    """A valid 15-digit 注册号 (ISO 7064 MOD 11,10)."""
    seq = str(rng.randint(6, 9) if individual else rng.randint(0, 3)) + "".join(
        rng.choice("0123456789") for _ in range(7)
    )
    body = division + seq
    return body + (regno_check_digit(body) or "0")


def person(rng: random.Random) -> str:
    """A made-up personal name (personal data: never output)."""
    return rng.choice(SURNAMES) + "".join(rng.choice(GIVEN) for _ in range(rng.choice((1, 2))))


def mobile(rng: random.Random) -> str:
    """A made-up mobile number (personal data: never output)."""
    return "1" + rng.choice("3578") + "".join(rng.choice("0123456789") for _ in range(9))


def _headcount(rng: random.Random, kind: str) -> int:
    if kind in (KIND_INDIV, KIND_SOLE):
        return rng.choice([0, 1, 1, 2, 2, 3, 4, 5, 6, 8])
    if rng.random() < 0.12:  # around the outreach threshold on purpose
        return rng.randint(22, 29)
    return max(0, int(rng.lognormvariate(2.0, 1.1)))


def _brand(rng: random.Random) -> str:
    """A 字号 of two to four characters, as real ones are."""
    return "".join(rng.choice(BRAND_CHARS) for _ in range(rng.choices((2, 3, 4), (55, 35, 10))[0]))


def _registered_prefix(rng: random.Random, region: str, kind: str, founded: date) -> str:
    """How the registered name writes its region: the level's official or short name, with its
    prefecture for a district, or the former county name for an older firm (赣县 for 赣县区)."""
    if not region:
        return ""
    if region == "赣县区":
        if kind == KIND_INDIV:
            return rng.choices(["赣州市赣县区", "赣县区", "赣县", ""], [35, 25, 20, 20])[0]
        if founded < date(2017, 1, 1) and rng.random() < 0.5:
            return "赣县"  # registered before 赣县 became 赣县区 (2016)
        return "赣州市赣县区" if rng.random() < 0.8 else "赣县区"
    parent = DIVISIONS[region][0]
    if not parent:  # a province: 江西 more often than 江西省
        return short_name(region) if rng.random() < 0.65 else region
    if not DIVISIONS[parent][0]:  # a prefecture
        return short_name(region) if rng.random() < 0.4 else region
    if region.endswith("区"):  # a district goes with its city
        return parent + region if rng.random() < 0.75 else region
    return region if rng.random() < 0.8 else parent + region


def _division_code(rng: random.Random, region: str, founded: date) -> str:
    """The USCC's division: the registering authority's, the region the name gives, mostly."""
    if region in ("", "赣县区"):
        return "360721" if founded < date(2016, 10, 1) else "360704"
    chain = division_chain(region)
    if len(chain) == 3 and rng.random() < 0.15:  # registered at the prefecture's bureau
        return DIVISIONS[chain[1]][1]
    return DIVISIONS[region][1]


def build_world(rng: random.Random, n: int, grids: list[Grid]) -> World:
    """Create ``n`` enterprises with the kinds, regions and relations of a real district."""
    ents: list[Enterprise] = []
    llcs: list[Enterprise] = []  # the heads a branch can belong to, in creation order
    used_names: set[tuple[str, ...]] = set()
    weights = [30 if g.town == "梅林镇" else 20 if "开发区" in g.town else 6 for g in grids]
    homes, home_weights = list(HOME_REGIONS), list(HOME_REGIONS.values())
    for i in range(n):
        r = rng.random()
        kind = (
            KIND_LLC
            if r < 0.58
            else KIND_INDIV
            if r < 0.74
            else KIND_SOLE
            if r < 0.78
            else KIND_PARTNER
            if r < 0.80
            else KIND_COOP
            if r < 0.85
            else KIND_SOCIAL
            if r < 0.93
            else KIND_BRANCH
        )
        if kind == KIND_BRANCH and not llcs:
            kind = KIND_LLC
        grid = rng.choices(grids, weights)[0]
        if kind == KIND_SOCIAL:  # registered by the district's, city's or province's civil affairs
            region = rng.choices(["赣县区", "赣州市", "江西省"], [0.8, 0.15, 0.05])[0]
        else:
            region = rng.choices(homes, home_weights)[0]
        ent = _enterprise(rng, f"T{i + 1:06d}", kind, region, grid, llcs)
        _unique_name(rng, ent, used_names, llcs)
        ents.append(ent)
        if ent.kind == KIND_LLC:
            llcs.append(ent)
    _add_namesakes(rng, ents, grids, used_names)
    world = World(ents, {e.key: e for e in ents})
    for e in ents:  # renamed in the months before the first export: registries may still lag
        if e.kind == KIND_LLC and rng.random() < 0.04:
            _rename(rng, e, world, used_names)
            e.renamed_ago = rng.randint(1, 8)
    return world


def _unique_name(
    rng: random.Random, ent: Enterprise, used: set[tuple[str, ...]], llcs: list[Enterprise]
) -> None:
    """Redraw ``ent``'s 字号 (a branch: its head office) until no enterprise registered by the
    same authority holds its name (:func:`name_key`), then take the name.

    A crowded name space takes longer 字号; a branch whose head office has one at that place
    already goes to another head office.
    """
    tries = 0
    while name_key(ent) in used:
        if ent.kind == KIND_BRANCH:
            head = rng.choice(llcs)
            ent.head_key, ent.region, ent.region_text = head.key, head.region, head.region_text
            ent.brand, ent.industry, ent.form = head.brand, head.industry, head.form
        else:
            ent.brand = _brand(rng) + "".join(rng.choices(BRAND_CHARS, k=tries // 20))
        tries += 1
    used.add(name_key(ent))


def _rename(rng: random.Random, e: Enterprise, world: World, used: set[tuple[str, ...]]) -> None:
    """A new name: mostly a new 字号; sometimes only the region, written at a higher level. The
    new name is one no other enterprise of its new authority holds (:func:`name_key`); the old
    one stays taken (a former name is held for a year, 企业名称登记管理规定 art. 17)."""
    e.former_name, e.renamed_ago = e.name(world), 0
    chain = division_chain(e.region)
    if len(chain) > 1 and rng.random() < 0.25:  # 赣县宏达建材 -> 赣州宏达建材: upgraded region
        e.region = rng.choice(chain[:-1])
        e.region_text = short_name(e.region) if rng.random() < 0.5 else e.region
        if name_key(e) in used:  # that name is taken up there: a new 字号 instead
            e.brand = _brand(rng)
    else:
        e.brand = _brand(rng)
    _unique_name(rng, e, used, [])


def _enterprise(
    rng: random.Random, key: str, kind: str, region: str, grid: Grid, llcs: list[Enterprise]
) -> Enterprise:
    """A new enterprise; a branch's head office is drawn from ``llcs``."""
    founded = date(rng.randint(1998, 2025), rng.randint(1, 12), rng.randint(1, 28))
    prefix = {KIND_INDIV: "92", KIND_COOP: "93", KIND_SOCIAL: "5"}.get(kind, "91")
    social_type, form, industry, brand = "", "有限公司", rng.choice(INDUSTRIES), _brand(rng)
    if kind == KIND_SOCIAL:
        social_type, form = rng.choice(SOCIAL)
        prefix += {"社会团体": "1", "民办非企业单位": "2", "基金会": "3"}[social_type]
        industry, brand = (
            "",
            rng.choice(SOCIAL_TOPICS) if form in ("协会", "商会", "研究会") else brand,
        )
    elif kind == KIND_INDIV:
        region, industry, form = "赣县区", rng.choice(SMALL_TRADES), rng.choice(SMALL_FORMS)
        brand = (
            ("经开" if grid.town.startswith("江西") else grid.town[:2])
            + rng.choice(SURNAMES)
            + "记"
        )
    elif kind == KIND_SOLE:
        form = rng.choice(["商行", "经营部", "厂"]) if rng.random() < 0.5 else "个人独资企业"
    elif kind == KIND_PARTNER:
        form = "合伙企业(有限合伙)"
        industry = rng.choice(["企业管理", "投资", "咨询"])
    elif kind == KIND_COOP:
        region, industry, form = (
            "赣县区",
            rng.choice(["脐橙", "养殖", "种植", "蔬菜", "茶叶", "油茶"]),
            "专业合作社",
        )
    elif rng.random() < 0.25:
        form = "有限责任公司"
    division = _division_code(rng, region, founded)
    uscc = make_uscc(rng, prefix, division)
    if rng.random() < 0.004:  # early pilot codes that fail the check although genuine
        uscc = uscc[:17] + next(c for c in USCC_ALPHABET if c != uscc[17])
    regno = (
        make_regno(rng, division, kind == KIND_INDIV)
        if founded.year < 2015 and kind != KIND_SOCIAL
        else ""
    )
    ent = Enterprise(
        key=key,
        kind=kind,
        region=region,
        brand=brand,
        industry=industry,
        form=form,
        uscc=uscc,
        regno=regno,
        founded=founded,
        grid=grid,
        road=rng.choice(ROADS),
        number=rng.randint(1, 300),
        point=grid.random_point(rng),
        headcount=_headcount(rng, kind),
        phone=mobile(rng) if rng.random() < 0.6 else f"0797-{rng.randint(4000000, 8999999)}",
        legal_rep=person(rng),
        industry_code=rng.choice("CEFGHIKLMO") + str(rng.randint(10, 99))
        if rng.random() < 0.8
        else "",
        social_type=social_type,
        pilot_code=uscc[17] != uscc_check_char(uscc[:17]),
        region_text=_registered_prefix(rng, region, kind, founded),
    )
    if kind == KIND_BRANCH:
        head = rng.choice(llcs)
        ent.head_key, ent.branch_place = head.key, rng.choice([grid.town[:2], grid.town, "赣县"])
        ent.region, ent.region_text, ent.brand, ent.industry, ent.form = (
            head.region,
            head.region_text,
            head.brand,
            head.industry,
            head.form,
        )
    ent.in_si = ent.headcount > 0 and (kind not in (KIND_INDIV, KIND_SOLE) or rng.random() < 0.4)
    ent.in_tax = rng.random() < (0.6 if kind == KIND_SOCIAL else 0.9)
    ent.tax_old_id = founded.year < 2015 and rng.random() < 0.35
    return ent


def _disjoint(a: str, b: str) -> bool:
    """Neither region contains the other (信丰县 and 赣县区; not 赣州市 and 赣县区)."""
    return bool(a and b) and a not in division_chain(b) and b not in division_chain(a)


def _add_namesakes(
    rng: random.Random,
    ents: list[Enterprise],
    grids: list[Grid],
    used: set[tuple[str, ...]],
) -> None:
    """Different enterprises sharing 字号, industry and form under another region.

    Mostly a region apart (信丰宏达 vs 赣县宏达); a third of them one containing the other (江西宏达
    vs 赣州宏达), which only the rest of the record tells apart.
    """
    llcs = [e for e in ents if e.kind == KIND_LLC and e.region]
    for base in rng.sample(llcs, k=max(1, len(llcs) // 30)):
        if rng.random() < 1 / 3:
            options = [r for r in division_chain(base.region)[:-1] if r]
            options += [
                r for r in ("赣县区",) if r != base.region and not _disjoint(r, base.region)
            ]
        else:
            options = [r for r in HOME_REGIONS if _disjoint(r, base.region)]
        if not options:
            continue
        region = rng.choice(options)
        twin = _enterprise(rng, f"T{len(ents) + 1:06d}", KIND_LLC, region, rng.choice(grids), llcs)
        twin.brand, twin.industry, twin.form = base.brand, base.industry, base.form
        if name_key(twin) in used:
            continue
        used.add(name_key(twin))
        ents.append(twin)


def next_month(rng: random.Random, world: World, grids: list[Grid], n_new: int) -> World:
    """The world a month later: renames, closures, new firms, headcount drift, registry gaps."""
    ents = [replace(e) for e in world.enterprises]
    by_key = {e.key: e for e in ents}
    now = World(ents, by_key)
    # every name held, closed ones too (a closed firm's name stays taken for a while: art. 17)
    used = {name_key(e) for e in ents}
    for e in ents:
        if not e.active:
            continue
        e.renamed_ago += 1
        if rng.random() < 0.02 and e.kind == KIND_LLC:  # rename; other registries lag behind
            _rename(rng, e, now, used)
        if rng.random() < 0.02:
            e.active = False
        if e.headcount and rng.random() < 0.3:
            e.headcount = max(0, e.headcount + rng.choice([-3, -2, -1, 1, 2, 3]))
    start = len(ents)
    homes, home_weights = list(HOME_REGIONS), list(HOME_REGIONS.values())
    for i in range(n_new):
        ents.append(
            _enterprise(
                rng,
                f"T{start + i + 1:06d}",
                KIND_LLC if rng.random() < 0.7 else KIND_INDIV,
                rng.choices(homes, home_weights)[0],
                rng.choice(grids),
                [],
            )
        )
        ents[-1].founded = date(2025, 5, rng.randint(1, 28))
        _unique_name(rng, ents[-1], used, [])
    return World(ents, {e.key: e for e in ents})
