"""Datasets as published: a metadata table (path, label, group, fold, clip bounds) read and checked
(:mod:`.table`), and the source groups that must never straddle splits (:mod:`.groups`)."""
