"""Addresses parsed into comparable parts: town, community, road, number.

Province / city / district prefixes are dropped (every address in the pool is
in the district, and registries disagree on whether to write them).
"""

from __future__ import annotations

import functools
import re

from datapool.matching.names import fold

_PREFIXES = ("江西省", "赣州市", "赣县区", "赣县", "江西")
_TOWN_ALIASES = {"赣县经开区": "江西赣县经济开发区", "赣县经济开发区": "江西赣县经济开发区", "经济开发区": "江西赣县经济开发区",
                 "江西赣县经济开发区": "江西赣县经济开发区", "经开区": "江西赣县经济开发区"}
_TOWN_RE = re.compile(r"^(江西赣县经济开发区|赣县经开区|赣县经济开发区|经济开发区|经开区|[\u4e00-\u9fff]{1,4}?(?:镇|乡|街道))")
_COMMUNITY_RE = re.compile(r"^([\u4e00-\u9fff\d]{1,6}?(?:社区|村|居委会))")
_ROAD_RE = re.compile(r"([\u4e00-\u9fff\d]{1,8}?(?:大道|路|街|巷|大街|道))(\d+)号")


@functools.lru_cache(maxsize=500_000)
def parse_address(raw: str | None) -> tuple[str, str, str, str, str]:
    """Return ``(norm, town, community, road, number)``; parts are '' when absent."""
    text = fold(raw)
    changed = True
    while changed:
        changed = False
        for p in _PREFIXES:
            if text.startswith(p) and not text.startswith("江西赣县经济开发区"):
                text, changed = text[len(p):], True
    town = ""
    m = _TOWN_RE.match(text)
    if m:
        town = _TOWN_ALIASES.get(m.group(1), m.group(1))
        text = text[m.end():]
    community = ""
    m = _COMMUNITY_RE.match(text)
    if m:
        community, text = m.group(1), text[m.end():]
    road = number = ""
    m = _ROAD_RE.search(text)
    if m:
        road, number = m.group(1), m.group(2)
    norm = town + community + (road + number if road else text)
    return norm, town, community, road, number
