"""Entity resolution end to end: standardise -> block -> compare/decide -> cluster -> ids -> golden."""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from datapool.matching.blocking import candidate_pairs
from datapool.matching.clusters import cluster, record_rules
from datapool.matching.golden import golden
from datapool.matching.ids import assign_ids
from datapool.matching.scoring import score_pairs
from datapool.matching.standardise import standardise


@dataclass
class Resolution:
    """What resolution produced: links per record, golden enterprises, and counts."""

    std: pl.DataFrame
    links: pl.DataFrame
    enterprises: pl.DataFrame
    edges: pl.DataFrame
    counts: dict[str, int]


def resolve(records: pl.DataFrame, previous_links: pl.DataFrame | None = None) -> Resolution:
    """Resolve canonical records into enterprises (see DESIGN.md, matching)."""
    std = standardise(records)
    pairs = candidate_pairs(std)
    scored = score_pairs(std, pairs)
    assign, accepted = cluster(std, scored)
    ids = assign_ids(std, assign, previous_links)
    rules = record_rules(std, accepted)
    links = (std.select("rid", "source", "source_row", "source_key").join(assign, on="rid").join(ids, on="cluster")
             .join(rules, on="rid").sort("rid").select("source", "source_row", "source_key", "enterprise_id", "rule",
                                                         "score", "agreed"))
    ents = golden(std, ids, assign)
    counts = {"records": std.height, "candidate_pairs": pairs.height, "accepted_pairs": scored.height,
              "links_kept": accepted.height, "enterprises": ents.height}
    return Resolution(std, links, ents, accepted, counts)
