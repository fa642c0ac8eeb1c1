"""Entity resolution: standardise -> block -> compare/decide -> cluster -> ids -> golden."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from math import isfinite
from typing import Protocol, TypedDict

import numpy as np
import polars as pl

from datapool.matching.blocking import candidate_pairs
from datapool.matching.clusters import cluster, record_rules
from datapool.matching.golden import fuse, with_ids
from datapool.matching.ids import assign_ids
from datapool.matching.scoring import Scored, score_all
from datapool.matching.standardise import standardise
from datapool.matching.weights import Weights, learn


class MatchCounts(TypedDict):
    """How much matching saw and kept."""

    records: int
    candidate_pairs: int
    accepted_pairs: int
    links_kept: int
    enterprises: int
    weight_threshold: float | None


@dataclass
class Resolution:
    """What resolution produced: links per record, golden enterprises, and counts.

    ``unsure``: the compared pairs no identifier decided, as scoring kept them
    (scoring.UNSURE_SCHEMA, in candidate-pair order), which the month's review queue is made of
    (matching/review.py); None when scoring kept none (:func:`finish` called on its own).
    """

    std: pl.DataFrame
    links: pl.DataFrame
    enterprises: pl.DataFrame
    edges: pl.DataFrame
    counts: MatchCounts
    weights: Weights
    unsure: pl.DataFrame | None = None


class MatchSteps(Protocol):
    """How each matching step is run; :func:`resolve` walks them in order.

    :data:`INLINE` calls them in this process. The Prefect flow hands :func:`resolve` its own
    implementation, each step a task (scoring one task per chunk), so the flow and the engine
    walk the same steps and only the engine knows their order.
    """

    def standardise(self, records: pl.DataFrame) -> pl.DataFrame:
        """Records to standardised rows (``rid`` = row position)."""
        ...

    def learn(self, std: pl.DataFrame) -> Weights:
        """The month's match weights, learned from the pairs identifiers label."""
        ...

    def block(self, std: pl.DataFrame) -> pl.DataFrame:
        """Candidate pairs ``rid_a < rid_b``."""
        ...

    def score(
        self, std: pl.DataFrame, chunks: list[pl.DataFrame], weights: Weights
    ) -> list[Scored]:
        """Each chunk of candidate pairs scored (its accepted pairs and the unsure ones the review
        queue is made of: scoring.score_all), in chunk order."""
        ...

    def finish(
        self,
        std: pl.DataFrame,
        scored: pl.DataFrame,
        previous_links: pl.DataFrame | None,
        n_pairs: int,
        id_key: str,
        weights: Weights,
    ) -> Resolution:
        """Clusters, ids, explanations and golden records from all accepted pairs."""
        ...


class InlineSteps:
    """The matching steps called in this process, one after the other."""

    def standardise(self, records: pl.DataFrame) -> pl.DataFrame:
        """Records to standardised rows."""
        return standardise(records)

    def learn(self, std: pl.DataFrame) -> Weights:
        """The month's match weights."""
        return learn(std)

    def block(self, std: pl.DataFrame) -> pl.DataFrame:
        """Candidate pairs."""
        return candidate_pairs(std)

    def score(
        self, std: pl.DataFrame, chunks: list[pl.DataFrame], weights: Weights
    ) -> list[Scored]:
        """Each chunk scored in turn."""
        return [score_all(std, chunk, weights) for chunk in chunks]

    def finish(
        self,
        std: pl.DataFrame,
        scored: pl.DataFrame,
        previous_links: pl.DataFrame | None,
        n_pairs: int,
        id_key: str,
        weights: Weights,
    ) -> Resolution:
        """Clusters, ids, explanations and golden records."""
        return finish(std, scored, previous_links, n_pairs, id_key, weights)


INLINE = InlineSteps()


def resolve(
    records: pl.DataFrame,
    previous_links: pl.DataFrame | None,
    id_key: str,
    *,
    steps: MatchSteps = INLINE,
    score_chunks: int = 1,
    decisions: pl.DataFrame | None = None,
) -> Resolution:
    """Resolve canonical records into enterprises (see docs/design.md, Matching).

    standardise -> learn weights -> block -> score (in ``score_chunks`` chunks of candidate
    pairs, so a parallel ``steps`` can spread them) -> finish. The result does not depend on the
    number of chunks: clustering sees every accepted pair at once. Scoring also keeps the unsure
    pairs (``Resolution.unsure``), so the review queue compares nothing again. ``id_key`` keys
    the hash that gives new enterprises their ids. ``decisions``: people's current review decisions
    (matching/review.py): ``same`` becomes a must-link edge, ``different`` a cannot-link.
    """
    std = steps.standardise(records)
    must_link = None
    if decisions is not None and decisions.height:
        from datapool.matching.review import constrain

        std, must_link = constrain(std, decisions)
    weights = steps.learn(std)
    pairs = steps.block(std)
    n_pairs, chunks = pairs.height, split_pairs(pairs, score_chunks)
    del pairs  # not held through clustering: at millions of rows it is hundreds of MB
    both = Scored.concat(steps.score(std, chunks, weights), rechunk=False)
    del chunks
    scored = both.accepted
    if must_link is not None and must_link.height:
        scored = pl.concat([must_link, scored], how="vertical_relaxed")
    res = steps.finish(std, scored, previous_links, n_pairs, id_key, weights)
    return replace(res, unsure=both.unsure)


def split_pairs(pairs: pl.DataFrame, chunks: int) -> list[pl.DataFrame]:
    """Cut candidate pairs into ``chunks`` contiguous slices (by ``rid_a``) for parallel scoring."""
    chunks = max(1, chunks)
    size = max(1, -(-pairs.height // chunks))
    return [pairs.slice(i, size) for i in range(0, max(pairs.height, 1), size)] or [pairs]


def finish(
    std: pl.DataFrame,
    scored: pl.DataFrame,
    previous_links: pl.DataFrame | None,
    n_pairs: int,
    id_key: str,
    weights: Weights | None = None,
) -> Resolution:
    """Cluster scored pairs, give stable ids, explain links, fuse golden records.

    Scoring is per pair, so it can be split across workers; this step sees all
    accepted pairs at once, so identifier links resolve globally. ``weights``: the month's learned
    weights the pairs were scored with (kept for the warehouse; learned here when not given).
    """
    weights = weights if weights is not None else learn(std)
    assign, accepted = cluster(std, scored)
    # explanations and fused records (polars, which releases the GIL) are made one after the other
    # on a worker while ids are given (mostly a Python loop hashing new ids)
    with ThreadPoolExecutor(max_workers=1) as pool:
        explaining = pool.submit(record_rules, std, accepted)
        fusing = pool.submit(fuse, std, assign)
        # sorted while fusing goes on
        ids = assign_ids(std, assign, previous_links, id_key).sort("enterprise_id")
        rules = explaining.result()
        # assign and rules are in rid order, as std is: their columns are placed side by side; a
        # cluster number is a row id, so each row's id is found by position
        # out of range: a cluster without an id would raise
        at = np.full(std.height, ids.height, dtype=np.int64)
        at[ids.get_column("cluster").to_numpy()] = np.arange(ids.height)
        eid = ids.get_column("enterprise_id").gather(at[assign.get_column("cluster").to_numpy()])
        links = std.select("source", "source_row", "source_key").with_columns(
            eid, *rules.drop("rid")
        )
        ents = with_ids(fusing.result(), ids)
    counts = MatchCounts(
        records=std.height,
        candidate_pairs=n_pairs,
        accepted_pairs=scored.height,
        links_kept=accepted.height,
        enterprises=ents.height,
        # the summed weight a pair needs for rule weights (None: no labelled pairs to learn from)
        weight_threshold=round(weights.threshold, 3) if isfinite(weights.threshold) else None,
    )
    return Resolution(std, links, ents, accepted, counts, weights)
