"""The `kiosk-sim` command: one entry point, one subcommand per system."""

from __future__ import annotations

import os
from pathlib import Path


def home() -> Path:
    """The instance folder: development keys, CAs, card state, VRS data. Never the repository."""
    env = os.environ.get("KIOSK_SIM_HOME")
    return Path(env) if env else Path.home() / ".local" / "share" / "kiosk-sim"
