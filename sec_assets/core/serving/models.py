"""What the service serves: each octave's ``champion`` from the registry (and, for the shadow, its
newest ``challenger``), the featurizer they read, the windows they were trained on — one immutable
:class:`ServedModels` — and the :class:`ModelSlot` that follows the aliases.

A request takes the slot's current set once and uses it from its first window to its answer, so
no response mixes versions. When an alias moves, the new set is built beside the old one (models
loaded, off the request path) and swapped in by one reference assignment; requests already
holding the old set finish with it. A failed load keeps the old set serving and is reported.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sec_assets.core.audio.segments import SegmentParams
from sec_assets.core.inference.featurize import Featurizer
from sec_assets.core.inference.label import Champion

log = logging.getLogger(__name__)

CHAMPION_ROLE = "champion"
SHADOW_ROLE = "shadow"


@dataclass(frozen=True)
class Served:
    """One registered version the service holds: (octave, registered name, version, role)."""

    octave: int
    name: str
    version: str
    role: str  # champion | shadow


@dataclass(frozen=True)
class ServedModels:
    champions: tuple[Champion, ...]
    shadows: tuple[Champion, ...]  # scored beside the champion of their octave, never returned
    featurizer: Featurizer
    params: SegmentParams  # the windows: the champions' training segments unless set by hand
    window_source: str  # champion | setting | fallback
    window_warning: str | None
    names: Mapping[str, str]  # class key → class name
    loaded_at: float = field(default_factory=time.time)

    @property
    def versions(self) -> tuple[Served, ...]:
        return tuple(Served(c.octave, c.name, c.version, CHAMPION_ROLE) for c in self.champions) + tuple(
            Served(c.octave, c.name, c.version, SHADOW_ROLE) for c in self.shadows
        )

    def describe(self) -> list[dict[str, Any]]:
        return [vars(v) for v in self.versions]


class ModelSlot:
    """The served set, kept current: ``lookup()`` names the versions the registry's aliases point
    to now (cheap), ``build(versions, before)`` loads a set for them (slow; may reuse parts of the
    set before). :meth:`refresh` swaps a new set in when the versions moved."""

    def __init__(
        self,
        lookup: Callable[[], tuple[Served, ...]],
        build: Callable[[tuple[Served, ...], ServedModels | None], ServedModels],
        on_swap: Callable[[ServedModels | None, ServedModels], Any] | None = None,
    ) -> None:
        self._lookup = lookup
        self._build = build
        self._on_swap = on_swap
        self._current: ServedModels | None = None
        self._refresh_lock = threading.Lock()
        self.last_error: str | None = None
        self.swaps = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def current(self) -> ServedModels | None:
        return self._current  # one reference read: a request holds the set it got

    def refresh(self) -> bool:
        """Load and swap in the set the aliases name now, if it differs; True when swapped."""
        with self._refresh_lock:
            try:
                wanted = self._lookup()
                before = self._current
                if before is not None and before.versions == wanted:
                    self.last_error = None
                    return False
                if not wanted:
                    raise LookupError(
                        "no registered model has a champion: train and evaluate first (a model that "
                        "passes the gate becomes `champion`)"
                    )
                new = self._build(wanted, before)
            except Exception as exc:  # the old set keeps serving; /ready and the log say why
                self.last_error = f"{type(exc).__name__}: {exc}"
                log.warning("model refresh failed, the served set is unchanged: %s", self.last_error)
                return False
            self._current = new
            self.swaps += 1
            self.last_error = None
        if self._on_swap is not None:
            self._on_swap(before, new)
        return True

    def follow(self, every_s: float) -> None:
        """Refresh every ``every_s`` seconds on a background thread until :meth:`stop`."""

        def loop() -> None:
            while not self._stop.wait(every_s):
                self.refresh()

        self._thread = threading.Thread(target=loop, name="model-slot", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=60)


def shared_octaves(champions: Sequence[Champion], shadows: Sequence[Champion]) -> list[Champion]:
    """The shadows whose octave has a champion (a shadow alone is never scored)."""
    octaves = {c.octave for c in champions}
    return [s for s in shadows if s.octave in octaves]
