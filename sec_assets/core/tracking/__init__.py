"""MLflow behind a small seam: where runs go (:mod:`.store`), what a run holds (:mod:`.runs`), the
pyfunc model (:mod:`.pyfunc`), the champion gate (:mod:`.gate`, pure) and the registry
(:mod:`.registry`). Only MLflow's public API is used."""
