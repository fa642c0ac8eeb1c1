"""The diff of the pool against the union member database."""

from datapool.coverage.diff import Coverage, diff_members, month_changes

__all__ = ["Coverage", "diff_members", "month_changes"]
