"""Features of a segment: n-octave band levels, CLAP embeddings (the seam and the pipeline), and
the per-band statistics the classifier reads."""
