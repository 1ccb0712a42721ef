"""The service's Prometheus metrics (``GET /metrics``), one registry per service."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Summary

LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.3, 0.5, 0.75, 1.0, 2.0, 5.0, 10.0, 30.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "sec_requests",
            "requests answered, by endpoint and HTTP status",
            ["endpoint", "status"],
            registry=r,
        )
        self.latency = Histogram(
            "sec_classify_latency_seconds",
            "time from a clip's arrival to its answer",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.batch_windows = Histogram(
            "sec_batch_windows", "windows per featurize-and-score pass", buckets=BATCH_BUCKETS, registry=r
        )
        self.batch_requests = Histogram(
            "sec_batch_requests", "requests per featurize-and-score pass", buckets=BATCH_BUCKETS, registry=r
        )
        self.served = Gauge(
            "sec_model_served",
            "1 for each model version served",
            ["octave", "model", "version", "role"],
            registry=r,
        )
        self.swaps = Counter("sec_model_swaps", "served sets swapped in after an alias moved", registry=r)
        self.predictions = Counter(
            "sec_predictions", "windows by their top-1 label, per octave", ["octave", "label"], registry=r
        )
        self.confidence = Summary(
            "sec_top1_confidence",
            "top-1 probability of each window (mean = sum / count)",
            ["octave"],
            registry=r,
        )
        self.shadow = Counter(
            "sec_shadow_windows",
            "windows scored by the shadow challenger, by whether its top-1 agrees with the champion's",
            ["octave", "agrees"],
            registry=r,
        )
        self.shadow_confidence = Summary(
            "sec_shadow_top1_confidence", "the shadow challenger's top-1 probability", ["octave"], registry=r
        )
        self.feedback = Counter(
            "sec_feedback", "corrections received, by where they went", ["into_training"], registry=r
        )
        self.review = Counter("sec_review_kept", "requests kept for review", registry=r)
