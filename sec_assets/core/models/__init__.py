"""Models: splits by source file, the classifier, the CLAP zero-shot baseline, the model store."""
