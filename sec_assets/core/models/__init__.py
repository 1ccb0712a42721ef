"""Models: splits by source file, the data models read, feature sets × heads (registries),
deterministic training and the model file, selection on validation, the CLAP zero-shot
baseline, the CLAP model store."""
