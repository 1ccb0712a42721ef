"""Audio in: decoding and resampling, the landing-folder manifest, partition keys, segments."""
