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

import polars as pl
from dagster import AssetExecutionContext, Definitions, MaterializeResult, asset

from sec_assets.core.store import storage
from sec_assets.defs._shared import STEP_RETRY, asset_boundary, each_partition, finish, requests
from sec_assets.executor import submitit_executor
from sec_assets.partitions import AUDIO_CLASS, CLASS_BACKFILL, audio_class_partitions
from sec_assets.resources import SecResource

SLEEP_ENV = "SEC_SIMULATED_CLASS_S"
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


defs = Definitions(
    assets=[simulated_class_work],
    resources={"sec": SecResource.from_settings()},
    executor=submitit_executor,
)
