"""Features of a segment: n-octave band levels and CLAP embeddings (the seam and the pipeline);
what a classifier makes of them is a feature set (:mod:`sec_assets.core.models.feature_sets`)."""
