"""A code location for the fan-out checks (the cluster test and ``benchmarks/fanout.py``).

One per-class asset, ``simulated_class_work``, with the product's backfill policy
(``CLASS_BACKFILL``: ``classes_per_run`` when this module loads), retry policy, stop handling,
storage and lineage, the submitit executor and the real ``sec`` resource. Its work is
**simulated**: it sleeps ``SEC_SIMULATED_CLASS_S`` seconds per class while its rows arrive,
because a 2-core machine cannot show real parallel compute — what it shows is how a backfill
spreads over nodes, what the runs cost beyond the work, and what a fault leaves behind. Each
step asks for a whole node (4 CPUs on the local cluster) in ``SEC_SIMULATED_PARTITION``
(default ``cpu,gpu``: Slurm starts the job in whichever partition has a free node), so
concurrent jobs are on different nodes.

    dagster-daemon run -m sec_assets.testing.fanout_defs
    sec-assets backfill -m sec_assets.testing.fanout_defs --wait
"""

import os
import time
from collections.abc import Iterator
from pathlib import Path

import polars as pl
from dagster import AssetExecutionContext, Definitions, MaterializeResult, asset

from sec_assets.core.store import storage
from sec_assets.defs._shared import STEP_RETRY, asset_boundary, each_partition, finish, requests
from sec_assets.executor import submitit_executor
from sec_assets.partitions import AUDIO_CLASS, CLASS_BACKFILL, audio_class_partitions
from sec_assets.resources import SecResource

SLEEP_ENV = "SEC_SIMULATED_CLASS_S"
# a start barrier: each step marks its start in this folder and waits (up to BARRIER_TIMEOUT_S) until
# BARRIER_N steps have started, so that "the jobs run at once" does not depend on how fast a loaded
# machine launches the runs (a run launched after another's job ended could reuse its node)
BARRIER_DIR_ENV = "SEC_SIMULATED_BARRIER_DIR"
BARRIER_N_ENV = "SEC_SIMULATED_BARRIER_N"
BARRIER_TIMEOUT_S = 300.0
PARTITION_ENV = "SEC_SIMULATED_PARTITION"
NODE_CPUS = 4  # scripts/local_slurm.sh's nodes
TABLE = "simulated_class_work"
ROWS_PER_CLASS = 100
CHUNKS = 4  # the rows arrive in chunks across the sleep, as a real step's shards do


@asset(
    partitions_def=audio_class_partitions,
    backfill_policy=CLASS_BACKFILL,
    code_version="1",
    op_tags=requests(cpus=NODE_CPUS, partition=os.environ.get(PARTITION_ENV, "cpu,gpu")),
    retry_policy=STEP_RETRY,
    description="Simulated per-class work: sleeps SEC_SIMULATED_CLASS_S per class while it writes "
    "100 rows per class (in 4 chunks) to its partition, atomically, with a lineage row.",
)
@asset_boundary
def simulated_class_work(context: AssetExecutionContext, sec: SecResource) -> MaterializeResult:
    seconds = float(os.environ.get(SLEEP_ENV, "1"))
    _barrier(context)

    def one(key: str) -> MaterializeResult:
        def chunks() -> Iterator[pl.DataFrame]:
            per = ROWS_PER_CLASS // CHUNKS
            for i in range(CHUNKS):
                time.sleep(seconds / CHUNKS)
                yield pl.DataFrame(
                    {
                        "audio_class": [key] * per,
                        "row": list(range(i * per, (i + 1) * per)),
                        "run_id": [context.run_id] * per,
                        "attempt": [context.retry_number] * per,
                    }
                )

        written = storage.write_partition(sec.home_path, TABLE, {AUDIO_CLASS: key}, chunks())
        return finish(
            context,
            sec=sec,
            partition_key=key,
            written=written,
            params={"seconds": seconds},
            inputs=[],
            metadata={"slept_s": seconds},
        )

    return each_partition(context, one)


def _barrier(context: AssetExecutionContext) -> None:
    folder, n = os.environ.get(BARRIER_DIR_ENV), int(os.environ.get(BARRIER_N_ENV, "0"))
    if not folder or n < 2:
        return
    here = Path(folder)
    here.mkdir(parents=True, exist_ok=True)
    (here / f"{context.run_id}-{context.retry_number}").touch()
    deadline = time.monotonic() + BARRIER_TIMEOUT_S
    while len(list(here.iterdir())) < n:
        if time.monotonic() > deadline:
            context.log.warning(
                f"start barrier: {len(list(here.iterdir()))} of {n} steps after {BARRIER_TIMEOUT_S} s"
            )
            return
        time.sleep(0.2)


defs = Definitions(
    assets=[simulated_class_work],
    resources={"sec": SecResource.from_settings()},
    executor=submitit_executor,
)
