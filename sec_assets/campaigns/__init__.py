"""Campaigns in Dagster: a task's plan as runs (:mod:`.plan`), the process that runs one task
(:mod:`.worker`), what is done (:mod:`.status`) and its launch (:mod:`.launch`). The
``sec-assets campaign`` commands are :mod:`sec_assets.cli.campaign`; the file format and its
checks are in :mod:`sec_assets.core.campaign`."""
