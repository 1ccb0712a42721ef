"""The campaign run tags moved to :mod:`sec_assets.core.campaign.tags` (the defs read them too, and
the defs sit below this package); re-exported here until the last importer has moved."""

from sec_assets.core.campaign.tags import (
    CAMPAIGN_TAG,
    PLAN_TAG,
    STAGE_TAG,
    STEP_TAG,
    TASK_TAG,
    WORKER_TAG,
)

__all__ = ["CAMPAIGN_TAG", "PLAN_TAG", "STAGE_TAG", "STEP_TAG", "TASK_TAG", "WORKER_TAG"]
