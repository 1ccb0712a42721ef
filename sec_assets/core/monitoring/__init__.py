"""The drift watch's core: what the champions predict in use (the served requests and the labelled
inbox), day by day, against what each champion predicted on its own test set.

- :mod:`.psi`: the population stability index (the one formula written here by hand) and the
  fixed top-1 confidence bins;
- :mod:`.reference`: a champion's test-set top-1 classes and confidences, read from its
  evaluation (the report on disk when it is the champion's, else its MLflow run);
- :mod:`.daily`: the top-1 rows of both sources and the per (source, octave, day) frame;
- :mod:`.figures`: PSI by day against the threshold, and class frequencies against the reference.

No Dagster here: :mod:`sec_assets.defs.monitoring` wires these to the catalog and the UI.
"""
