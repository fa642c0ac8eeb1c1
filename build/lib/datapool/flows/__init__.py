"""Prefect 3 flows: the monthly snapshot flow and its deployments."""
