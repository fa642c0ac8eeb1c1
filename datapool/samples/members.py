"""The union member database (工会会员库) of the sample district, as SQLite.

Single unions name their employer as a clerk typed it; joint unions (联合工会,
楼宇工会, 商圈工会, 行业工会) cover small employers that only their members
name. Some unions point at employers no registry knows (moved away, typed
beyond recognition), some at deregistered ones.
"""

from __future__ import annotations

import random
import sqlite3
from datetime import date
from pathlib import Path
from typing import Any

from datapool.matching.identifiers import org_check_char, uscc_check_char
from datapool.samples import noise
from datapool.samples.noisemodel import NoiseModel
from datapool.samples.world import (
    BRAND_CHARS,
    INDUSTRIES,
    KIND_INDIV,
    KIND_SOCIAL,
    KIND_SOLE,
    World,
    mobile,
    person,
)

SCHEMA = """
CREATE TABLE union_org (union_id TEXT PRIMARY KEY, union_name TEXT NOT NULL, union_uscc TEXT,
  union_kind TEXT NOT NULL, unit_name TEXT, unit_uscc TEXT, founded_on TEXT, status TEXT NOT NULL);
CREATE TABLE union_member (member_id TEXT PRIMARY KEY,
  union_id TEXT NOT NULL REFERENCES union_org(union_id), employer_name TEXT, name TEXT NOT NULL,
  id_number TEXT, phone TEXT, joined_on TEXT, status TEXT NOT NULL);
"""


def _id_number(rng: random.Random) -> str:
    """A made-up 18-digit resident ID with a valid ISO 7064 check (personal data)."""
    body = (
        "360721"
        + f"{rng.randint(1965, 2004)}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}"
        + f"{rng.randint(0, 999):03d}"
    )
    weights = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
    return body + "10X98765432"[sum(int(c) * w for c, w in zip(body, weights, strict=True)) % 11]


def _union_uscc(rng: random.Random) -> str:
    body8 = "".join(rng.choice("0123456789") for _ in range(8))
    body17 = "81360721" + body8 + (org_check_char(body8) or "0")
    return body17 + (uscc_check_char(body17) or "0")


def _one_apart(cores: set[str]) -> set[str]:
    """Each core with each one of its characters left out, and as written (marked): two cores
    share an element when they are equal or one insertion, deletion or substitution apart (or
    two neighbours swapped)."""
    out = {"=" + c for c in cores}
    for c in cores:
        out |= {"=" + c[:i] + c[i + 1 :] for i in range(len(c))}  # deletion: meets a shorter one
        out |= {f"{i}:{c[:i]}{c[i + 1 :]}" for i in range(len(c))}  # substitution at i
    return out


def build_members(
    world: World, rng: random.Random, months: list[str], model: NoiseModel = noise.MODEL
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
    """Unions and members; returns (orgs, members, union_truth, member_truth)."""
    orgs: list[dict[str, Any]] = []
    members: list[dict[str, Any]] = []
    utruth: list[dict[str, Any]] = []
    mtruth: list[dict[str, Any]] = []
    first = date.fromisoformat(months[0] + "-01")
    last = date.fromisoformat(months[-1] + "-01")

    def add_members(union_id: str, n: int, employer: str, key: str) -> None:
        for _ in range(n):
            mid = f"M{len(members) + 1:07d}"
            members.append(
                {
                    "member_id": mid,
                    "union_id": union_id,
                    "employer_name": employer,
                    "name": person(rng),
                    "id_number": _id_number(rng),
                    "phone": mobile(rng),
                    "joined_on": date(
                        rng.randint(2015, 2025), rng.randint(1, 4), rng.randint(1, 28)
                    ).isoformat(),
                    "status": "active" if rng.random() < 0.92 else "left",
                }
            )
            mtruth.append({"member_id": mid, "enterprise_key": key})

    def founded() -> date:
        if rng.random() < 0.1 and len({first, last}) > 1:
            # newly covered in the last month
            return date(last.year, last.month, rng.randint(1, 28))
        return date(rng.randint(2008, first.year - 1), rng.randint(1, 12), rng.randint(1, 28))

    eligible = [
        e for e in world.enterprises if e.kind not in (KIND_INDIV, KIND_SOLE) and e.headcount >= 5
    ]
    for e in eligible:
        if rng.random() > (0.5 if e.headcount > 25 else 0.2):
            continue
        uid = f"U{len(orgs) + 1:05d}"
        unit = model.name_variant(e.name(world), e, rng, model.levels["members"])
        r = rng.random()
        code = (
            e.uscc
            if r < 0.6
            else e.org_code
            if r < 0.7
            else model.code_typo(e.uscc, rng)
            if r < 0.8
            else None
        )
        status = "active" if rng.random() < 0.95 else "dissolved"
        orgs.append(
            {
                "union_id": uid,
                "union_name": e.name(world) + "工会委员会",
                "union_uscc": _union_uscc(rng) if rng.random() < 0.7 else None,
                "union_kind": "single",
                "unit_name": unit,
                "unit_uscc": code,
                "founded_on": founded().isoformat(),
                "status": status,
            }
        )
        utruth.append({"union_id": uid, "enterprise_key": e.key, "kind": "single"})
        add_members(uid, max(1, min(e.headcount, rng.randint(3, 60))), unit, e.key)
    # unions whose employer exists in no registry (moved away, closed long ago): a name one
    # character from a registered one would be that one mistyped as much as a ghost (nobody could
    # tell), so a ghost's 字号 + industry is at least two characters from every registered one
    taken = _one_apart({e.brand + e.industry for e in world.enterprises})
    for _ in range(max(3, len(orgs) // 25)):
        uid = f"U{len(orgs) + 1:05d}"
        core = ""
        while not core or _one_apart({core}) & taken:
            core = "".join(rng.choice(BRAND_CHARS) for _ in range(3)) + rng.choice(INDUSTRIES)
        ghost = "赣州" + core + "有限公司"
        orgs.append(
            {
                "union_id": uid,
                "union_name": ghost + "工会委员会",
                "union_uscc": None,
                "union_kind": "single",
                "unit_name": ghost,
                "unit_uscc": None,
                "founded_on": founded().isoformat(),
                "status": "active",
            }
        )
        utruth.append({"union_id": uid, "enterprise_key": "", "kind": "single"})
        add_members(uid, rng.randint(3, 20), ghost, "")
    # joint unions covering small employers named only by their members
    smalls = [
        e
        for e in world.enterprises
        if e.kind != KIND_SOCIAL and e.headcount <= 25 and e.headcount > 0
    ]
    rng.shuffle(smalls)
    kinds = ["联合工会", "楼宇工会", "商圈工会", "行业工会"]
    for j in range(10):
        uid = f"U{len(orgs) + 1:05d}"
        town = rng.choice(["梅林镇", "茅店镇", "江口镇", "储潭镇", "开发区"])
        orgs.append(
            {
                "union_id": uid,
                "union_name": f"赣县区{town}{kinds[j % 4]}",
                "union_uscc": _union_uscc(rng),
                "union_kind": "joint",
                "unit_name": None,
                "unit_uscc": None,
                "founded_on": founded().isoformat(),
                "status": "active",
            }
        )
        utruth.append({"union_id": uid, "enterprise_key": "", "kind": "joint"})
        for e in smalls[j * 12 : (j + 1) * 12]:
            add_members(
                uid,
                rng.randint(1, max(1, min(e.headcount, 6))),
                model.name_variant(e.name(world), e, rng, model.levels["members"]),
                e.key,
            )
        for _ in range(2):
            core = ""
            while not core or _one_apart({core}) & taken:
                core = "".join(rng.choice(BRAND_CHARS) for _ in range(2)) + rng.choice(
                    ["米粉", "便利", "五金", "理发"]
                )
            ghost = "赣县" + core + "店"
            add_members(uid, rng.randint(1, 3), ghost, "")
    return orgs, members, utruth, mtruth


def write_members(path: Path, orgs: list[dict[str, Any]], members: list[dict[str, Any]]) -> None:
    """Write the member database as a SQLite file."""
    if path.exists():
        path.unlink()
    con = sqlite3.connect(path)
    con.executescript(SCHEMA)
    con.executemany(
        "INSERT INTO union_org VALUES (:union_id,:union_name,:union_uscc,:union_kind,:unit_name,"
        ":unit_uscc,:founded_on,:status)",
        orgs,
    )
    con.executemany(
        "INSERT INTO union_member VALUES (:member_id,:union_id,:employer_name,:name,:id_number,"
        ":phone,:joined_on,:status)",
        members,
    )
    con.commit()
    con.close()
