"""The snapshot flow with the task runner the options ask for (in-process, local or remote Dask)."""

from __future__ import annotations

import logging

from datapool.errors import DatapoolError


def quiet_dask() -> None:
    """Dask's INFO lines (scheduler, workers, nannies starting) are not for the terminal."""
    for name in (
        "distributed",
        "distributed.scheduler",
        "distributed.nanny",
        "distributed.worker",
        "distributed.core",
        "distributed.http.proxy",
        "distributed.deploy",
    ):
        logging.getLogger(name).setLevel(logging.WARNING)


def flow_for(workers: int | None, dask_address: str | None):  # noqa: ANN201
    """The snapshot flow (or its body as a plain function when no Prefect API is set and no
    Dask runner is asked for) and its number of scoring chunks, for the options given."""
    from prefect.settings import PREFECT_API_URL

    from datapool.flows.snapshot import snapshot_flow

    if not workers and not dask_address:
        # with no Prefect API to record the run in, the flow's body runs as a plain function:
        # no temporary Prefect server is started (it costs 10-20 s before the first stage)
        return (snapshot_flow if PREFECT_API_URL.value() else snapshot_flow.fn), 1
    try:
        from prefect_dask import DaskTaskRunner
    except ImportError:
        raise DatapoolError(
            "Dask runs need the 'dask' extra: pip install 'datapool[dask]'"
        ) from None
    quiet_dask()
    runner = (
        DaskTaskRunner(address=dask_address)
        if dask_address
        else DaskTaskRunner(
            cluster_kwargs={
                "n_workers": workers,
                "threads_per_worker": 1,
                "processes": True,
                "dashboard_address": None,
                "silence_logs": logging.WARNING,
            }
        )
    )
    return snapshot_flow.with_options(task_runner=runner), (workers or 2) * 2
