"""Campaigns: named tasks (settings overlays) over one landing folder, each in its own home."""
