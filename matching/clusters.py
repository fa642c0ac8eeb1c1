"""Constrained, deterministic clustering of accepted pairs.

Edges are taken strongest first (rule rank, then score, then row ids), and a union is refused
when the merged cluster would break a constraint of :data:`CONSTRAINTS`: two distinct valid
USCCs, two rows of a registry that lists each entity once, or branch and non-branch rows. The
order makes the result independent of input order.

The constraints are written once, as data, and every path reads them from there: the check of
whole components over all rows (numpy), the same check rank by rank over clusters (numpy), and
the ordered union-find over the few clusters left (Python scalars). Each constraint keeps a
state per cluster, an integer: :class:`OneValue` the cluster's value (-1 for none yet),
:class:`OnePerGroup` a bit per group it holds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import polars as pl
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from datapool.matching.rules import RULE_RANK
from datapool.matching.scoring import UNIQUE_SOURCES, agreed_text
from datapool.matching.standardise import require_row_ids

REVIEW_RULE = "review"  # a must-link edge: people decided the two rows are one enterprise
APART_COLUMN = "review_apart"  # std's cannot-link labels (matching/review.py), when decided
USCC_HASH_SEED = 5  # a valid USCC is compared by a 63-bit hash of it (seeded polars hash, >> 1)
NONE = -1  # a OneValue state: the cluster holds no value yet


class Constraint(Protocol):
    """What a cluster may not hold, as an integer state per cluster (see the module docstring)."""

    @property
    def name(self) -> str:
        """What the constraint is about."""
        ...

    def states(self, std: pl.DataFrame) -> np.ndarray:
        """Each row's state (int64), as a cluster of one."""
        ...

    def clash(self, a: int, b: int) -> bool:
        """Whether two clusters with states ``a`` and ``b`` may not be merged."""
        ...

    def merge(self, a: int, b: int) -> int:
        """The state of the merge of two clusters that do not clash."""
        ...

    def broken(self, comp: np.ndarray, k: int, state: np.ndarray) -> np.ndarray:
        """Per component (``comp``: each node's, ``k`` in all): would merging it break this?"""
        ...

    def merged(self, comp: np.ndarray, k: int, state: np.ndarray) -> np.ndarray:
        """The state of each component's nodes merged (meaningful where not broken)."""
        ...


@dataclass(frozen=True)
class OneValue:
    """A cluster holds at most one distinct value of ``expr`` (an integer >= 0 per row, or null)."""

    name: str
    expr: pl.Expr

    def states(self, std: pl.DataFrame) -> np.ndarray:
        return std.select(self.expr.cast(pl.Int64).fill_null(NONE)).to_series().to_numpy()

    def clash(self, a: int, b: int) -> bool:
        return a != b and a != NONE and b != NONE

    def merge(self, a: int, b: int) -> int:
        return max(a, b)

    def broken(self, comp: np.ndarray, k: int, state: np.ndarray) -> np.ndarray:
        lo, hi = self._bounds(comp, k, state)
        bad: np.ndarray = (hi != NONE) & (lo != hi)
        return bad

    def merged(self, comp: np.ndarray, k: int, state: np.ndarray) -> np.ndarray:
        return self._bounds(comp, k, state)[1]

    @staticmethod
    def _bounds(comp: np.ndarray, k: int, state: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Least and greatest value in each component (``NONE`` in both when it holds none)."""
        has = state != NONE
        lo = np.full(k, np.iinfo(np.int64).max, dtype=np.int64)
        hi = np.full(k, NONE, dtype=np.int64)
        np.minimum.at(lo, comp[has], state[has])
        np.maximum.at(hi, comp[has], state[has])
        lo[hi == NONE] = NONE
        return lo, hi


@dataclass(frozen=True)
class OnePerGroup:
    """A cluster holds at most one row of each of ``groups`` (``expr``: a row's group, or null)."""

    name: str
    expr: pl.Expr
    groups: int

    def states(self, std: pl.DataFrame) -> np.ndarray:
        group = std.select(self.expr.cast(pl.Int64).fill_null(-1)).to_series().to_numpy()
        return np.where(group >= 0, np.left_shift(1, np.maximum(group, 0)), 0).astype(np.int64)

    def clash(self, a: int, b: int) -> bool:
        return a & b != 0

    def merge(self, a: int, b: int) -> int:
        return a | b

    def broken(self, comp: np.ndarray, k: int, state: np.ndarray) -> np.ndarray:
        bad = np.zeros(k, dtype=bool)
        for bit in range(self.groups):
            held = np.flatnonzero((state >> bit) & 1)
            bad |= np.bincount(comp[held], minlength=k) > 1
        return bad

    def merged(self, comp: np.ndarray, k: int, state: np.ndarray) -> np.ndarray:
        out = np.zeros(k, dtype=np.int64)
        np.bitwise_or.at(out, comp, state)
        return out


@dataclass(frozen=True)
class Apart:
    """People's ``different`` decisions (cannot-link): the rows of pair ``i`` carry the label ``+i``
    on one side and ``-i`` on the other (std's :data:`APART_COLUMN`, a list per row); a cluster
    never holds both signs of a label, so neither the two rows nor the clusters they are in are
    ever merged.

    A cluster's state is the number of its label set in ``sets`` (0: none). Only the few rows
    that carry labels reach the Python below; an instance lives for one :func:`cluster` call.
    """

    name: str = "review"
    sets: list[frozenset[int]] = field(default_factory=lambda: [frozenset()])

    def _number(self, labels: frozenset[int]) -> int:
        if not labels:
            return 0
        self.sets.append(labels)
        return len(self.sets) - 1

    def states(self, std: pl.DataFrame) -> np.ndarray:
        out = np.zeros(std.height, dtype=np.int64)
        col = std.get_column(APART_COLUMN)
        at = np.flatnonzero(col.is_not_null().to_numpy())
        for i, labels in zip(at.tolist(), col.gather(at).to_list(), strict=True):
            out[i] = self._number(frozenset(labels))
        return out

    def clash(self, a: int, b: int) -> bool:
        if a == 0 or b == 0:
            return False
        sb = self.sets[b]
        return any(-x in sb for x in self.sets[a])

    def merge(self, a: int, b: int) -> int:
        if a == 0 or b == 0:
            return a or b
        return self._number(self.sets[a] | self.sets[b])

    def _unions(self, comp: np.ndarray, k: int, state: np.ndarray) -> dict[int, frozenset[int]]:
        """Each component's labels (only components holding some)."""
        held = np.flatnonzero(state != 0)
        out: dict[int, frozenset[int]] = {}
        for c, s in zip(comp[held].tolist(), state[held].tolist(), strict=True):
            out[c] = out.get(c, frozenset()) | self.sets[s]
        return out

    def broken(self, comp: np.ndarray, k: int, state: np.ndarray) -> np.ndarray:
        bad = np.zeros(k, dtype=bool)
        for c, labels in self._unions(comp, k, state).items():
            bad[c] = any(-x in labels for x in labels)
        return bad

    def merged(self, comp: np.ndarray, k: int, state: np.ndarray) -> np.ndarray:
        out = np.zeros(k, dtype=np.int64)
        for c, labels in self._unions(comp, k, state).items():
            out[c] = self._number(labels)
        return out


_VALID_USCC = pl.col("uscc_valid").fill_null(False) & pl.col("uscc").is_not_null()
CONSTRAINTS: tuple[Constraint, ...] = (
    # two different valid USCCs are two enterprises
    OneValue("uscc", pl.when(_VALID_USCC).then(pl.col("uscc").hash(seed=USCC_HASH_SEED) // 2)),
    # market supervision, civil affairs and tax list each entity once
    OnePerGroup(
        "registry",
        pl.col("source").replace_strict(
            {s: i for i, s in enumerate(UNIQUE_SOURCES)}, default=None, return_dtype=pl.Int64
        ),
        len(UNIQUE_SOURCES),
    ),
    # a branch is its own employer: never with its head office (or any non-branch)
    OneValue("branch", pl.col("branch").fill_null(False).cast(pl.Int64)),
)


def constraints_for(std: pl.DataFrame) -> tuple[Constraint, ...]:
    """:data:`CONSTRAINTS`, and people's cannot-links when ``std`` carries any (:class:`Apart`)."""
    if APART_COLUMN in std.columns and std.get_column(APART_COLUMN).is_not_null().any():
        return (*CONSTRAINTS, Apart())
    return CONSTRAINTS


def _broken(
    comp: np.ndarray,
    k: int,
    states: list[np.ndarray],
    constraints: tuple[Constraint, ...] = CONSTRAINTS,
) -> np.ndarray:
    """Whether each component breaks any constraint, merged whole."""
    bad = np.zeros(k, dtype=bool)
    for c, state in zip(constraints, states, strict=True):
        bad |= c.broken(comp, k, state)
    return bad


def _constrained(
    n: int,
    edges: list[tuple[int, int]],
    states: list[list[int]],
    constraints: tuple[Constraint, ...] = CONSTRAINTS,
) -> tuple[list[int], list[bool]]:
    """Union-find over ``edges`` in order, refusing unions that break a constraint.

    ``states`` holds each constraint's per-node states; the union-find leaves each root's merged
    state there. Returns the roots and the accepted flags.
    """
    parent = list(range(n))
    rules = [(c.clash, c.merge, s) for c, s in zip(constraints, states, strict=True)]

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    accepted = []
    for a, b in edges:
        ra, rb = find(a), find(b)
        if ra == rb:
            accepted.append(True)
            continue
        for clash, _, s in rules:
            if clash(s[ra], s[rb]):
                accepted.append(False)
                break
        else:
            root, child = (ra, rb) if ra < rb else (rb, ra)
            parent[child] = root
            for _, merge, s in rules:
                s[root] = merge(s[root], s[child])
            accepted.append(True)
    return [find(i) for i in range(n)], accepted


def _by_rank(
    n: int,
    la: np.ndarray,
    lb: np.ndarray,
    rank: np.ndarray,
    states: list[np.ndarray],
    constraints: tuple[Constraint, ...] = CONSTRAINTS,
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`_constrained` over edges ``(la, lb)`` in order, their ``rank`` rising.

    ``states`` holds each constraint's per-node states. Returns the roots and the accepted flags.

    The edges of one rank are taken together: over the clusters they join, a connected component
    that keeps the constraints when merged whole is merged whole (in any order every one of its
    edges would be accepted, as the constraints are monotone); components of one rank never share
    a cluster, so only the components that would break a constraint need the ordered union-find.
    """
    root, ok = np.arange(n), np.zeros(len(la), dtype=bool)
    # the state of each cluster, at its root
    states = [s.copy() for s in states]
    bounds = np.r_[0, np.flatnonzero(np.diff(rank)) + 1, len(rank)]
    for s, e in zip(bounds[:-1], bounds[1:], strict=True):
        ra, rb = root[la[s:e]], root[lb[s:e]]
        cross = np.flatnonzero(ra != rb)
        ok[s:e] = ra == rb  # already one cluster
        if not len(cross):
            continue
        joined = np.zeros(n, dtype=bool)
        joined[ra[cross]], joined[rb[cross]] = True, True
        nodes = np.flatnonzero(joined)  # the clusters this rank joins, by root (ascending)
        m = len(nodes)
        place = np.empty(n, dtype=np.int64)
        place[nodes] = np.arange(m)
        ia, ib = place[ra[cross]], place[rb[cross]]
        _, comp = connected_components(
            coo_matrix((np.ones(len(ia), dtype=np.int8), (ia, ib)), shape=(m, m)), directed=False
        )
        k = int(comp.max()) + 1
        at_nodes = [st[nodes] for st in states]
        bad = _broken(comp, k, at_nodes, constraints)
        to = np.arange(n)
        # a good component: one cluster, named by its smallest root (nodes are sorted: its first)
        good = ~bad[comp]
        first = np.full(k, n)
        np.minimum.at(first, comp, np.arange(m))
        new = nodes[first[comp]]
        to[nodes[good]] = new[good]
        ok[s + cross[~bad[comp[ia]]]] = True
        for c, st, here in zip(constraints, states, at_nodes, strict=True):
            st[new[good]] = c.merged(comp, k, here)[comp[good]]
        hard = np.flatnonzero(bad[comp[ia]])
        if len(hard):  # the ordered union-find over the clusters of the bad components
            sub = np.flatnonzero(bad[comp])
            local = np.full(m, -1)
            local[sub] = np.arange(len(sub))
            sub_states = [here[sub].tolist() for here in at_nodes]
            edges = list(zip(local[ia[hard]].tolist(), local[ib[hard]].tolist(), strict=True))
            # it leaves each root's state in sub_states
            roots_found, flags = _constrained(len(sub), edges, sub_states, constraints)
            sub_roots = np.asarray(roots_found)
            to[nodes[sub]] = nodes[sub[sub_roots]]
            ok[s + cross[hard]] = flags
            is_root = sub_roots == np.arange(len(sub))
            at = nodes[sub[is_root]]
            for st, sub_state in zip(states, sub_states, strict=True):
                st[at] = np.asarray(sub_state, dtype=np.int64)[is_root]
        root = to[root]
    return root, ok


# people's must-links (rule review) come before every rule of the matcher
_RANKS = {REVIEW_RULE: 0, **{rule: rank + 1 for rule, rank in RULE_RANK.items()}}
_RANK_STEP = 100_000  # in an edge key, rule rank * _RANK_STEP + (_RANK_STEP - 1 - score * 10^4)


def _edge_keys(edges: pl.DataFrame) -> pl.DataFrame:
    """``rid_a``, ``rid_b`` and ``_key``: rule rank, then score (higher first), as one integer.

    A smaller key is a stronger edge.
    """
    rank = pl.col("rule").replace_strict(_RANKS, return_dtype=pl.Int64)
    score = (pl.col("score") * 10_000).round(0).cast(pl.Int64)  # scores carry 4 decimals
    return edges.select(
        "rid_a", "rid_b", (rank * _RANK_STEP + _RANK_STEP - 1 - score).alias("_key")
    )


def cluster(std: pl.DataFrame, edges: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Return ``(assignments: rid -> cluster, accepted edges)``; cluster = smallest rid in it.

    The constraints are monotone (a cluster that keeps them keeps them in every part), so a
    connected component of all edges that keeps them is one cluster, whatever the order:
    those are found at once (scipy). Only the edges of components that would break a
    constraint are ordered (strongest first: rule rank, score, rid_a, rid_b) and run through
    the union-find (:func:`_by_rank`, the same idea again rank by rank, then :func:`_constrained`),
    which keeps each constraint's state of a cluster at its root.
    Accepted edges keep the order of ``edges``.
    """
    n = std.height
    ia, ib = edges["rid_a"].to_numpy().astype(np.int64), edges["rid_b"].to_numpy().astype(np.int64)
    graph = coo_matrix((np.ones(len(ia), dtype=np.int8), (ia, ib)), shape=(n, n))
    _, comp = connected_components(graph, directed=False)
    constraints = constraints_for(std)
    states = [c.states(std) for c in constraints]
    k = int(comp.max()) + 1 if n else 0
    is_bad = _broken(comp, k, states, constraints)
    # a good component's cluster is its smallest rid; every edge in it is accepted
    smallest = np.full(k, n, dtype=np.int64)
    np.minimum.at(smallest, comp, np.arange(n))
    roots = smallest[comp]
    keep = ~is_bad[comp[ia]]
    if is_bad.any():
        members = np.flatnonzero(is_bad[comp])
        local = np.full(n, -1, dtype=np.int64)
        local[members] = np.arange(len(members))
        hard = np.flatnonzero(~keep)
        order = (
            _edge_keys(edges[hard])
            .with_columns(pl.Series("e", hard))
            .sort("_key", "rid_a", "rid_b")
        )
        hard = order.get_column("e").to_numpy()
        sub_roots, ok = _by_rank(
            len(members),
            local[ia[hard]],
            local[ib[hard]],
            order.get_column("_key").to_numpy() // _RANK_STEP,
            [s[members] for s in states],
            constraints,
        )
        roots[members] = members[sub_roots]
        keep[hard] = ok
    assign = pl.DataFrame(
        {"rid": std.get_column("rid"), "cluster": pl.Series(roots, dtype=pl.UInt32)}
    )
    return assign, edges.filter(pl.Series(keep))


def row_clusters(std: pl.DataFrame, assign: pl.DataFrame) -> pl.Series:
    """Each row's ``cluster``, in std's row order (no join when ``assign`` already is in it)."""
    if assign.get_column("rid").equals(std.get_column("rid")):
        return assign.get_column("cluster")
    return (
        std.select("rid")
        .join(assign, on="rid", how="left", maintain_order="left")
        .get_column("cluster")
    )


def record_rules(std: pl.DataFrame, accepted: pl.DataFrame) -> pl.DataFrame:
    """Each record's explanation: the strongest accepted edge touching it, else ``singleton``.

    Strongest = rule rank, then score, then the edge's (rid_a, rid_b). Among the edges of one
    record, that last order is the order of the other end, so the edge key (below 2^20, see
    :func:`_edge_keys`) and the other end, packed into one integer, decide: each record's least is
    found without a sort. Edges are chosen by number and only the chosen ones' texts are gathered.
    """
    require_row_ids(std, "record_rules")
    # an edge's order seen from each end: its key, then the other end
    key = _edge_keys(accepted).get_column("_key").to_numpy().astype(np.uint64) << np.uint64(32)
    a, b = accepted.get_column("rid_a").to_numpy(), accepted.get_column("rid_b").to_numpy()
    rid = np.concatenate([a, b])
    order = np.concatenate([key | b.astype(np.uint64), key | a.astype(np.uint64)])
    least = np.full(std.height, np.iinfo(np.uint64).max, dtype=np.uint64)
    np.minimum.at(least, rid, order)
    # the edge that gives each row its least order (one only: no two edges share both ends)
    hit = np.flatnonzero(order == least[rid])
    # rid = row position: each row's edge number, -1 for none
    best = np.full(std.height, -1, dtype=np.int64)
    best[rid[hit]] = hit % max(len(a), 1)
    at = pl.Series(best).replace(-1, None)
    # an edge's text is made once per distinct mask (a few hundred), not once per record: made
    # per record, every level's name was a column of its own for a moment (at 5.6M records, 1.8
    # GB at matching's peak)
    masks = accepted.get_column("agreed").unique().drop_nulls()
    texts = pl.DataFrame({"agreed": masks}).select(agreed_text(pl.col("agreed")).alias("text"))
    return (
        accepted.select("rule", "score", "agreed")
        .select(pl.all().gather(at))
        .with_columns(
            std.get_column("rid"),
            pl.col("rule").fill_null("singleton"),
            pl.col("score").fill_null(1.0),
            pl.col("agreed")
            .replace_strict(masks, texts.get_column("text"), default=None, return_dtype=pl.Utf8)
            .fill_null(""),
        )
        .select("rid", "rule", "score", "agreed")
    )
