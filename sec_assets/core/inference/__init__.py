"""Labelling new recordings with trained models: windows cut by the segmenter (:mod:`.windows`),
features by the steps' own functions (:mod:`.featurize`), result tables (:mod:`.tables`)."""
