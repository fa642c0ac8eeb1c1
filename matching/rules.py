"""The rule table: how the matcher decides whether two registry rows are one enterprise.

Everything that decides a link is one named object here, and nothing outside this module holds a
threshold or a rule:

* :data:`LEVELS` — comparison levels. Each is a test on a compared pair (``scoring.compare``'s
  columns) with its threshold, the evidence label stored when it held, and a sentence saying what
  it means.
* :data:`VETOES` — hard constraints. A pair that breaks one is never linked, whatever agrees
  (``scoring.compare`` drops it before anything else is compared).
* :data:`RULES` — the decision rules, strongest first. A rule holds when all its ``all_of``
  levels hold, at least one of its ``any_of`` levels (if it has any) and none of its ``none_of``
  levels. The first rule that holds names the link; the link stores the rule, a score, and as
  ``agreed`` exactly the levels that made it (its ``all_of`` levels and those of its ``any_of``
  that held).

The decision (:func:`decision`), the stored evidence (:func:`evidence`, :func:`evidence_text`),
the score (:func:`score`) and the documentation table (:func:`markdown`, copied into README.md and
docs/warehouse.md and checked against them by the tests) are all generated from these tables, so
changing a rule is one edit here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import polars as pl

from datapool.connectors.specs import LABELS, ONCE_ONLY
from datapool.matching.standardise import EMPTY_KEY

if TYPE_CHECKING:
    from polars.expr.whenthen import ChainedThen, Then

c = pl.col


@dataclass(frozen=True)
class Level:
    """A comparison level: ``test(threshold)`` over ``scoring.compare``'s columns."""

    name: str  # the evidence label stored in enterprise_link.agreed
    comparison: str  # what is compared: identifier, name, region, address, phone
    description: str  # one sentence; "{t}" stands for the threshold
    test: Callable[[float | None], pl.Expr]
    threshold: float | None = None

    def expr(self) -> pl.Expr:
        """The level as a boolean polars expression (null counts as not held)."""
        return self.test(self.threshold).fill_null(False)

    def text(self) -> str:
        """The description with its threshold filled in."""
        return self.description.replace("{t}", f"{self.threshold:g}" if self.threshold else "")


@dataclass(frozen=True)
class Veto:
    """A hard constraint: pairs for which ``test()`` holds are never linked."""

    name: str
    description: str
    test: Callable[[], pl.Expr]

    def expr(self) -> pl.Expr:
        """The veto as a boolean polars expression (null counts as not vetoed)."""
        return self.test().fill_null(False)


@dataclass(frozen=True)
class Rule:
    """A decision rule (see the module docstring); ``score`` is its base score."""

    name: str  # stored in enterprise_link.rule
    score: float
    description: str
    all_of: tuple[str, ...]
    any_of: tuple[str, ...] = ()
    none_of: tuple[str, ...] = ()


def _one_off(longest: float | None) -> pl.Expr:
    """Cores one character apart: lengths one apart and ratio = 1 - d / (la + lb) with d = 1 (one
    insertion or deletion; rounded, the ratio comes as a float32)."""
    la, lb = c("core_len"), c("core_len_b")
    return (
        ((la - lb).abs() == 1)
        & (pl.max_horizontal(la, lb) >= (longest or 0))
        & (((1 - c("core_sim")) * (la + lb)).round(0) == 1)
    )


LEVELS: tuple[Level, ...] = (
    Level(
        "uscc",
        "identifier",
        "the same 18-character USCC (a pilot code failing its check counts)",
        lambda t: c("uscc_eq"),
    ),
    Level(
        "org_code",
        "identifier",
        "the same check-passing organisation code (USCC characters 9-17, a 9-character code, "
        "an old tax id)",
        lambda t: c("org_eq"),
    ),
    Level("regno", "identifier", "the same check-passing 注册号", lambda t: c("regno_eq")),
    Level(
        "uscc_one_off",
        "identifier",
        "USCCs one character apart, not both passing their check (a typo)",
        lambda t: (c("id_hamming") == 1) & ~(c("uscc_valid") & c("uscc_valid_b")),
    ),
    Level(
        "name_core",
        "name",
        "the same 字号 + industry, read as pinyin (鑫/新 alike), or one side's former name",
        lambda t: c("core_eq"),
    ),
    Level(
        "brand_same",
        "name",
        "the same 字号 of two characters or more, read as pinyin, whatever the industry words "
        "(建材 / 建筑材料, 汽车销售 / 汽车贸易)",
        lambda t: c("brand_eq"),
    ),
    Level(
        "name_one_off",
        "name",
        "字号 + industry one character added or dropped (宏安新合 / 宏新合, 豪宇宇辉 / 豪宇辉), "
        "the longer of {t} characters or more",
        lambda t: _one_off(t),
        4,
    ),
    Level(
        "name_swap",
        "name",
        "字号 + industry with two neighbouring characters swapped (隆锦 / 锦隆, a typing error), "
        "of {t} characters or more",
        lambda t: c("core_swap") & (c("core_len") >= (t or 0)),
        3,
    ),
    Level(
        "name_same",
        "name",
        "names alike to a ratio of {t} or more (the closer of 字号 + industry and whole name)",
        lambda t: c("name_sim") >= t,
        0.95,
    ),
    Level(
        "name_alike",
        "name",
        "names alike to a ratio of {t} or more",
        lambda t: c("name_sim") >= t,
        0.8,
    ),
    Level(
        "name_near",
        "name",
        "names alike to a ratio of {t} or more",
        lambda t: c("name_sim") >= t,
        0.75,
    ),
    Level(
        "form_conflict",
        "name",
        "both names hold an organisation form and the forms differ (有限公司, 有限责任公司, "
        "股份有限公司 and 公司 are one form; so are the kinds of 合伙企业, of 中心 and of 学校)",
        lambda t: c("form_conflict"),
    ),
    Level(
        "region_nested",
        "region",
        "both names hold a region, different but one inside the other (江西 and 赣州)",
        lambda t: c("region_nested"),
    ),
    Level(
        "region_conflict",
        "region",
        "the names' regions are disjoint (赣县 and 信丰)",
        lambda t: c("region_conflict"),
    ),
    Level(
        "address_same",
        "address",
        "the same town, road and house number",
        lambda t: c("addr_eq"),
    ),
    Level(
        "address_road",
        "address",
        "the same town and road, whatever the numbers (a registered and an operating address, or "
        "one without its number)",
        lambda t: c("road_eq"),
    ),
    Level(
        "address_close",
        "address",
        "addresses alike to a ratio of {t} or more",
        lambda t: c("addr_sim") >= t,
        0.85,
    ),
    Level(
        "address_near",
        "address",
        "addresses alike to a ratio of {t} or more",
        lambda t: c("addr_sim") >= t,
        0.6,
    ),
    Level(
        "phone", "phone", "the same phone number (compared as its HMAC)", lambda t: c("phone_eq")
    ),
    Level(
        "lookup",
        "source",
        "one side is a name looked up in the pool, as a union clerk or a member typed it "
        "(no address or phone to compare)",
        lambda t: c("lookup") | c("lookup_b"),
    ),
    Level(
        "weights",
        "all",
        "the pair's weights, learned this month from the pairs identifiers label (weights.py), add "
        "up to this month's threshold for the target precision",
        lambda t: c("match_weight") >= c("weight_threshold"),
    ),
)

VETOES: tuple[Veto, ...] = (
    Veto(
        "two_usccs",
        "two different USCCs that both pass their check",
        lambda: c("uscc_valid") & c("uscc_valid_b") & (c("uscc") != c("uscc_b")),
    ),
    Veto(
        "two_org_codes",
        "two different check-passing organisation codes",
        lambda: (
            (c("org_strong") != c("org_strong_b"))
            & (c("org_strong") != EMPTY_KEY)
            & (c("org_strong_b") != EMPTY_KEY)
        ),
    ),
    Veto(
        "branch",
        "a branch and a non-branch, or branches at different places",
        lambda: (
            (c("branch") != c("branch_b"))
            | (c("branch") & (c("branch_place") != c("branch_place_b")))
        ),
    ),
    Veto(
        "once_only",
        "two rows of a registry that lists each entity once ("
        + ", ".join(LABELS[s] for s in ONCE_ONLY)
        + ")",
        lambda: (c("source") == c("source_b")) & c("once_only"),
    ),
)

RULES: tuple[Rule, ...] = (
    Rule("uscc", 1.0, "the same USCC", ("uscc",)),
    Rule("org_code", 0.97, "the same organisation code", ("org_code",)),
    Rule("regno", 0.96, "the same 注册号", ("regno",)),
    Rule(
        "uscc_typo",
        0.93,
        "a USCC typo and names alike, in regions that agree",
        ("uscc_one_off", "name_near"),
        none_of=("region_conflict",),
    ),
    Rule(
        "name",
        0.8,
        "the same 字号 + industry, of one organisation form, in regions that agree, and the "
        "address or phone supports it",
        ("name_core",),
        any_of=("address_same", "address_near", "phone"),
        none_of=("region_conflict", "form_conflict"),
    ),
    Rule(
        "name_only",
        0.8,
        "the same 字号 + industry and names alike, of one organisation form, in the same region "
        "or with one side naming none (regions at two levels need the address or phone: rule "
        "`name`)",
        ("name_core", "name_same"),
        none_of=("region_conflict", "region_nested", "form_conflict"),
    ),
    Rule(
        "brand",
        0.75,
        "the same 字号, the industry written otherwise, at the same address (town, road and "
        "number) or with the same phone, of one organisation form, in regions that agree",
        ("brand_same",),
        any_of=("address_same", "phone"),
        none_of=("region_conflict", "form_conflict"),
    ),
    Rule(
        "name_swap",
        0.75,
        "the 字号 + industry with two neighbouring characters swapped, at the same address "
        "(town, road and number) or with the same phone, of one organisation form, in regions "
        "that agree",
        ("name_swap",),
        any_of=("address_same", "phone"),
        none_of=("region_conflict", "form_conflict"),
    ),
    Rule(
        "name_typo",
        0.7,
        "the 字号 + industry with a character added or dropped, on the same road of the same town "
        "(the numbers may differ) or with the same phone, of one organisation form, in regions "
        "that agree",
        ("name_one_off",),
        any_of=("address_road", "phone"),
        none_of=("region_conflict", "form_conflict"),
    ),
    Rule(
        "name_fuzzy",
        0.7,
        "names alike, in regions that agree, and the same address, a close one or the same phone",
        ("name_alike",),
        any_of=("address_same", "address_close", "phone"),
        none_of=("region_conflict",),
    ),
    Rule(
        "weights",
        0.7,
        "no rule above holds, but the learned weights of name, region, address, phone, headcount "
        "and founding date together reach this month's threshold, and the names are of one "
        "organisation form",
        ("weights",),
        none_of=("region_conflict", "form_conflict"),
    ),
    Rule(
        "lookup_name",
        0.75,
        "a name looked up in the pool (a union's unit, a member's employer) with the same 字号 + "
        "industry, in regions that agree at any level, of the same organisation form (when "
        "several enterprises qualify, the lookup's order decides: see docs/design.md)",
        ("lookup", "name_core"),
        none_of=("region_conflict", "form_conflict"),
    ),
    Rule(
        "lookup_typo",
        0.7,
        "a name looked up in the pool whose 字号 + industry lost or doubled a character, in "
        "regions that agree at any level, of the same organisation form (after every name that "
        "agrees: see docs/design.md)",
        ("lookup", "name_one_off"),
        none_of=("region_conflict", "form_conflict"),
    ),
)

# the score: the rule's base plus these weights times the pair's similarities, over MAX_SCORE
SCORE_BONUS: dict[str, float] = {"name_sim": 0.1, "addr_sim": 0.07, "phone_eq": 0.03}
MAX_SCORE = 1.2

RULE_NAMES = tuple(r.name for r in RULES)
RULE_RANK = {r: i for i, r in enumerate(RULE_NAMES)}
# the rules an identifier decides: their pairs are never asked of people (matching/review.py)
CERTAIN_RULES = frozenset({"uscc", "org_code", "regno"})
LEVEL_NAMES = tuple(lv.name for lv in LEVELS)
_BIT = {name: 1 << i for i, name in enumerate(LEVEL_NAMES)}
_BY_NAME = {lv.name: lv for lv in LEVELS}


def _check() -> None:
    for r in RULES:
        for name in (*r.all_of, *r.any_of, *r.none_of):
            if name not in _BY_NAME:
                raise ValueError(f"rule {r.name} names an unknown level {name}")
    if len(LEVELS) > 32:
        raise ValueError("agreed is a 32-bit mask: at most 32 levels")


_check()


def _holds(rule: Rule) -> pl.Expr:
    expr = pl.all_horizontal([_BY_NAME[n].expr() for n in rule.all_of])
    if rule.any_of:
        expr = expr & pl.any_horizontal([_BY_NAME[n].expr() for n in rule.any_of])
    if rule.none_of:
        expr = expr & ~pl.any_horizontal([_BY_NAME[n].expr() for n in rule.none_of])
    return expr


def decision() -> pl.Expr:
    """The name of the first rule that holds, null when none does."""
    expr: Then | ChainedThen = pl.when(_holds(RULES[0])).then(pl.lit(RULES[0].name))
    for rule in RULES[1:]:
        expr = expr.when(_holds(rule)).then(pl.lit(rule.name))
    return expr.otherwise(pl.lit(None, dtype=pl.Utf8))


def veto() -> pl.Expr:
    """Whether any hard constraint forbids the pair."""
    return pl.any_horizontal([v.expr() for v in VETOES])


def evidence(rule: pl.Expr) -> pl.Expr:
    """The levels that made the link of ``rule`` (a rule name column), as a 32-bit mask over
    :data:`LEVEL_NAMES`: the rule's ``all_of`` levels and those of its ``any_of`` that held."""

    def mask(r: Rule) -> pl.Expr:
        fixed = sum(_BIT[n] for n in r.all_of)
        held = [
            pl.when(_BY_NAME[n].expr()).then(_BIT[n]).otherwise(0) for n in r.any_of
        ]  # fmt: skip
        return pl.sum_horizontal([pl.lit(fixed), *held]) if held else pl.lit(fixed)

    expr: Then | ChainedThen = pl.when(rule == RULES[0].name).then(mask(RULES[0]))
    for r in RULES[1:]:
        expr = expr.when(rule == r.name).then(mask(r))
    return expr.otherwise(0).cast(pl.UInt32)


def evidence_text(mask: pl.Expr) -> pl.Expr:
    """An evidence mask as its level names joined by ',' ('' for none)."""
    return pl.concat_str(
        [pl.when((mask & bit) != 0).then(pl.lit(name)) for name, bit in _BIT.items()],
        separator=",",
        ignore_nulls=True,
    ).fill_null("")


def score(rule: pl.Expr) -> pl.Expr:
    """The link's score, 0-1: the rule's base plus :data:`SCORE_BONUS`, over :data:`MAX_SCORE`."""
    base = pl.lit(0.0)
    for r in reversed(RULES):
        base = pl.when(rule == r.name).then(r.score).otherwise(base)
    bonus = pl.sum_horizontal([c(col).cast(pl.Float64) * w for col, w in SCORE_BONUS.items()])
    return ((base + bonus) / MAX_SCORE).round(4)


def markdown() -> str:
    """The rule table as Markdown (README.md and docs/warehouse.md hold a copy; tests compare)."""
    lines = [
        "Rules, strongest first (the first that holds names the link, `enterprise_link.rule`):",
        "",
        "| rule | needs all of | and one of | and none of | in words |",
        "|---|---|---|---|---|",
    ]
    for r in RULES:
        cells = [
            ", ".join(f"`{n}`" for n in part) or "—" for part in (r.all_of, r.any_of, r.none_of)
        ]
        lines.append(f"| `{r.name}` | {' | '.join(cells)} | {r.description} |")
    lines += [
        "",
        "Comparison levels (the evidence labels stored in `enterprise_link.agreed`):",
        "",
        "| level | compares | holds when |",
        "|---|---|---|",
        *(f"| `{lv.name}` | {lv.comparison} | {lv.text()} |" for lv in LEVELS),
        "",
        "Hard constraints: a pair is never linked, whatever agrees, when it has",
        "",
        *(f"* {v.description} (`{v.name}`);" for v in VETOES),
        "",
        "and clusters never hold two valid USCCs, two rows of a once-only registry, or a branch "
        "with its head office.",
    ]
    return "\n".join(lines) + "\n"


BEGIN, END = (
    "<!-- rule table: generated by matching/rules.py, do not edit -->",
    "<!-- end rule table -->",
)


def write_docs(*paths: str) -> None:
    """Replace the rule table between :data:`BEGIN` and :data:`END` in each file."""
    from pathlib import Path

    for path in paths:
        p = Path(path)
        text = p.read_text("utf-8")
        head, rest = text.split(BEGIN, 1)
        _, tail = rest.split(END, 1)
        p.write_text(head + BEGIN + "\n" + markdown() + END + tail, "utf-8")


if __name__ == "__main__":  # python -m datapool.matching.rules README.md docs/warehouse.md
    import sys

    write_docs(*sys.argv[1:])
