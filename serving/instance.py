"""The instance folder and the development CA of each link in it: one place for their paths and names.

The instance folder (``$KIOSK_SIM_HOME``, default ``~/.local/share/kiosk-sim``) holds what
the systems create at first run: development keys and CAs, card state, VRS's data, logs.
Never the repository. The center and the kiosk must open the same kiosk CA, VRS and the
center the same LGWAN CA: a name spelt twice could drift, and a CA under a second name
would be a second CA.
"""

from __future__ import annotations

import argparse
import os
from enum import StrEnum
from pathlib import Path

from .pki import CA


def home() -> Path:
    """The instance folder: development keys, CAs, card state, VRS data. Never the repository."""
    env = os.environ.get("KIOSK_SIM_HOME")
    return Path(env) if env else Path.home() / ".local" / "share" / "kiosk-sim"


def add_home_option(parser: argparse.ArgumentParser) -> None:
    """``--home``: the instance folder of a command (None: ``home()``)."""
    parser.add_argument(
        "--home", type=Path, default=None, help="instance folder (default $KIOSK_SIM_HOME)"
    )


class DevCa(StrEnum):
    """The development CA of each mutual-TLS link; the value is its folder under ``pki/``."""

    KIOSK = "kiosk"  # kiosks ↔ center: the "dedicated line"
    LGWAN = "lgwan"  # center ↔ VRS
    SITE = "site"  # vaccination-site tablets ↔ VRS

    def open(self, instance: Path, folder: Path | None = None) -> CA:
        """This CA in ``instance`` (or in ``folder`` when given), created on first use."""
        return CA(folder or instance / "pki" / self.value, _NAMES[self])


_NAMES = {
    DevCa.KIOSK: "Kiosk CA (development)",
    DevCa.LGWAN: "LGWAN CA (development)",
    DevCa.SITE: "Vaccination-site CA (development)",
}
