"""Campaigns in Dagster: a task's plan as runs (:mod:`.plan`), the process that runs one task
(:mod:`.worker`), what is done (:mod:`.status`) and the ``sec-assets campaign`` commands
(:mod:`.commands`). The file format and its checks are in :mod:`sec_assets.core.campaign`."""
