"""sec_assets: sound-event classification assets (CLAP embeddings, n-octave spectrograms) on Dagster.

`sec_assets.core` is the Dagster-free core (importable from a notebook); the other modules are the
thin Dagster shell that wires it to partitions, storage, metadata and resources.
"""

__version__ = "0.1.0"
