"""The demo: its synthetic dataset (:mod:`sec_assets.demo.data`), used by ``sec-assets demo``."""
