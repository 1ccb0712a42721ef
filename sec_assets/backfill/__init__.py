"""Backfills as Dagster asset backfills: :mod:`.plan` (targets, runs, submit, follow) and
:mod:`.command` (``sec-assets backfill``)."""
