"""``sec-assets serve``: the real-time service. A thin shell: :mod:`.service` wires the core's
serving pieces (:mod:`sec_assets.core.serving`) together, :mod:`.app` puts them behind HTTP
(FastAPI on uvicorn), :mod:`.metrics` declares what ``/metrics`` exports."""
