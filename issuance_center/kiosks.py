"""The registry of kiosks: which terminals may use the center at all."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from .errors import CenterError, Code


@dataclass(frozen=True)
class Kiosk:
    id: str
    store: str
    enabled: bool


class KioskRegistry:
    """Read from a JSON file ``{"kiosks": [{"id", "store", "enabled"}]}`` on each change."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._mtime = -1.0
        self._kiosks: dict[str, Kiosk] = {}

    def _load(self) -> None:
        mtime = self.path.stat().st_mtime if self.path.exists() else 0.0
        if mtime == self._mtime:
            return
        data = json.loads(self.path.read_text()) if self.path.exists() else {"kiosks": []}
        self._kiosks = {
            k["id"]: Kiosk(k["id"], k.get("store", ""), bool(k.get("enabled", True)))
            for k in data["kiosks"]
        }
        self._mtime = mtime

    def check(self, kiosk_id: str) -> Kiosk:
        self._load()
        kiosk = self._kiosks.get(kiosk_id)
        if kiosk is None:
            raise CenterError(Code.KIOSK_UNKNOWN, "this kiosk is not registered with the center")
        if not kiosk.enabled:
            raise CenterError(Code.KIOSK_DISABLED, "this kiosk is disabled")
        return kiosk

    @staticmethod
    def write(path: Path, kiosks: list[Kiosk]) -> None:
        body = {"kiosks": [k.__dict__ for k in kiosks]}
        Path(path).write_text(json.dumps(body, ensure_ascii=False, indent=2))
