"""Behaviour shared by both settings classes: config.Settings (pydantic) and
settings_table.ServeSettings (the serve path's plain dataclass).

Put derived values of settings here, not on the pydantic model, so that the serve path has
them too.
"""

from __future__ import annotations

import shlex
from typing import TYPE_CHECKING


class SettingsMethods:
    __slots__ = ()

    if TYPE_CHECKING:
        backend_command: str | None

    @property
    def command_argv(self) -> list[str] | None:
        """backend_command split like a shell would, or None when not given."""
        return shlex.split(self.backend_command) if self.backend_command is not None else None
