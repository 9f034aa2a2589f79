"""Orchestration: notebook steps, runner, batch, Dask, measure, scaffold, own footprint."""
