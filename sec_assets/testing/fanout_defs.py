"""A code location for the fan-out checks (the cluster test and ``benchmarks/fanout.py``).

One per-class asset, ``simulated_class_work``, with the product's backfill policy
(``CLASS_BACKFILL``: ``classes_per_run`` when this module loads), the submitit executor and the
real ``sec`` resource. Its work is **simulated**: it sleeps ``SEC_SIMULATED_CLASS_S`` seconds per
class, because a 2-core machine cannot show real parallel compute — what it shows is how a
backfill spreads over nodes and what the runs cost beyond the work. Each step asks for a whole
node (4 CPUs on the local cluster) in ``SEC_SIMULATED_PARTITION`` (default ``cpu,gpu``: Slurm
starts the job in whichever partition has a free node), so concurrent jobs are on different nodes.

    dagster-daemon run -m sec_assets.testing.fanout_defs
    sec-assets backfill -m sec_assets.testing.fanout_defs --wait
"""

import os
import time

from dagster import AssetExecutionContext, Definitions, MaterializeResult, asset

from sec_assets.defs._shared import each_partition, requests, slurm_metadata
from sec_assets.executor import submitit_executor
from sec_assets.partitions import CLASS_BACKFILL, audio_class_partitions
from sec_assets.resources import SecResource

SLEEP_ENV = "SEC_SIMULATED_CLASS_S"
PARTITION_ENV = "SEC_SIMULATED_PARTITION"
NODE_CPUS = 4  # scripts/local_slurm.sh's nodes


@asset(
    partitions_def=audio_class_partitions,
    backfill_policy=CLASS_BACKFILL,
    op_tags=requests(cpus=NODE_CPUS, partition=os.environ.get(PARTITION_ENV, "cpu,gpu")),
    description="Simulated per-class work: sleeps SEC_SIMULATED_CLASS_S per class (a fan-out check).",
)
def simulated_class_work(context: AssetExecutionContext, sec: SecResource) -> MaterializeResult:
    seconds = float(os.environ.get(SLEEP_ENV, "1"))

    def one(key: str) -> MaterializeResult:
        time.sleep(seconds)
        return MaterializeResult(metadata={"rows": 1, "slept_s": seconds, **slurm_metadata()})

    return each_partition(context, one)


defs = Definitions(
    assets=[simulated_class_work],
    resources={"sec": SecResource.from_settings()},
    executor=submitit_executor,
)
