"""Backfills as Dagster asset backfills: :mod:`.plan` (targets, runs, submit, follow) and
:mod:`sec_assets.cli.backfill` (``sec-assets backfill``)."""
