"""The settings group of ``sec-assets serve`` (the real-time service) and of the drift watch over
what it served. Its own room; :data:`.groups.GROUPS` lists it with the others."""

from __future__ import annotations

from pydantic import Field, NonNegativeFloat, PositiveFloat, PositiveInt

from sec_assets.core.settings.base import Group


class ServiceSettings(Group):
    """The real-time service: where it listens, how it batches, what it keeps, and the drift watch."""

    serve_host: str = Field(
        "127.0.0.1",
        min_length=1,
        description="address the service binds (SEC_SERVE_HOST); 127.0.0.1 keeps it on this machine, "
        "0.0.0.0 opens it to the network (put it behind a reverse proxy with TLS)",
    )
    serve_port: int = Field(8350, ge=1, le=65535, description="port the service listens on (SEC_SERVE_PORT)")
    serve_max_batch_windows: PositiveInt = Field(
        32,
        description="dynamic batching: windows of concurrent requests featurized and scored in one pass "
        "at most (a request longer than this is scored alone, in one pass)",
    )
    serve_max_wait_ms: NonNegativeFloat = Field(
        10.0,
        description="dynamic batching: how long the first request of a batch waits for others to join",
    )
    serve_max_upload_mb: PositiveFloat = Field(
        20.0, description="a posted clip larger than this is refused (413)"
    )
    serve_max_clip_seconds: PositiveFloat = Field(
        60.0, description="a posted clip longer than this is refused (413)"
    )
    serve_poll_seconds: PositiveFloat = Field(
        10.0,
        description="how often the service asks the registry whether an alias moved (a new champion is "
        "loaded beside the old one and swapped in between batches)",
    )
    serve_shadow: bool = Field(
        False,
        description="also score each request with the newest `challenger` of its octave, never returned: "
        "agreement and confidences go to /metrics and served_requests",
    )
    serve_keep_requests: PositiveInt = Field(
        2000,
        description="recent requests whose clip is kept (under <home>/service/recent) so a correction "
        "can name them; older ones are dropped",
    )
    review_fraction: float = Field(
        0.05,
        ge=0,
        le=1,
        description="share of requests kept with their predictions under <home>/service/review for "
        "labelling (chosen by a stable hash of the request id)",
    )
    feedback_new_classes: bool = Field(
        False,
        description="a correction naming a label that is not a class yet creates that class's landing "
        "folder; off: such a correction is refused (409) and kept for review",
    )
    drift_psi_threshold: PositiveFloat = Field(
        0.2,
        description="the drift check warns when a day's class frequencies or top-1 confidences part from "
        "the champion's test-set distribution by a population stability index above this",
    )
