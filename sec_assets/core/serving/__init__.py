"""The real-time service's core: posted clips graded and cut, dynamic batching, the served models
and their swap, corrections and review samples, the served-request log. No HTTP and no Dagster:
:mod:`sec_assets.serve` wires these to requests."""
