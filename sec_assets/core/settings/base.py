"""The base of every settings group (:mod:`.groups`, :mod:`.service`)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict


class Group(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    @classmethod
    def pick(cls, settings: BaseModel) -> Any:
        """This group's values out of the flat :class:`Settings`."""
        return cls.model_validate({name: getattr(settings, name) for name in cls.model_fields})
