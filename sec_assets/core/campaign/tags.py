"""Run tags of campaign runs (declared once; the retrain sensor and the status read them)."""

CAMPAIGN_TAG = "sec/campaign"  # the campaign's name
TASK_TAG = "sec/campaign_task"  # the task's name
STAGE_TAG = "sec/campaign_stage"  # features | spectrograms | train | summary
STEP_TAG = "sec/campaign_step"  # the step's id within the task's plan
PLAN_TAG = "sec/campaign_plan"  # digest of the task and its classes: a changed plan starts over
WORKER_TAG = "sec/campaign_worker"  # host:pid:start of the process that ran it (a vanished one is "lost")
