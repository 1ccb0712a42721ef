"""Code that exists for tests and the demo, kept apart from the product: synthetic signals, the
demo dataset, and the tiny random-init CLAP 2023 / GPT-2 builders (also used, loudly flagged, by
``allow_random_init`` dry runs). Nothing here downloads anything."""
