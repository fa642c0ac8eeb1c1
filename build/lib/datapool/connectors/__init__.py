"""Edges of the pipeline: agency exports, the member database, grids, the warehouse."""
