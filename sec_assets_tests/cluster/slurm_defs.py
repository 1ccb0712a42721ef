"""A small code location for the executor's failure-path tests on the real Slurm cluster.

Its assets sleep instead of computing, so that a test can scancel a running job, hit a time
limit or cancel a run at a known moment; they use the real executor and the real SecResource
(which turns Slurm's signals into step outcomes).
"""

import json
import os
import time

from dagster import AssetExecutionContext, Definitions, MaterializeResult, RetryPolicy, asset

from sec_assets.executor import submitit_executor
from sec_assets.resources import SecResource


@asset(retry_policy=RetryPolicy(max_retries=1, delay=1))
def sleepy(context: AssetExecutionContext, sec: SecResource) -> MaterializeResult:
    """Sleeps long on its first attempt (time to scancel it), briefly on the retry."""
    seconds = float(os.environ.get("SEC_TEST_SLEEP_S", "60")) if context.retry_number == 0 else 0.5
    time.sleep(seconds)
    return MaterializeResult(metadata={"attempt": context.retry_number, "slept_s": seconds})


@asset(op_tags={"sec/resources": json.dumps({"time_min": 1})})
def over_time(sec: SecResource) -> MaterializeResult:
    """Runs past its 1-minute Slurm limit."""
    time.sleep(600)
    return MaterializeResult(metadata={"finished": True})


defs = Definitions(
    assets=[sleepy, over_time],
    resources={"sec": SecResource.from_settings()},
    executor=submitit_executor,
)
