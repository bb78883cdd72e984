"""Printers: a simulated one with a tray view, and CUPS (`lp`) for hardware testers."""

from __future__ import annotations

import secrets
import subprocess
import tempfile
from pathlib import Path
from typing import Protocol

from certs import Printable, render_pdf, render_png

from .errors import Code, KioskError


class Printer(Protocol):
    def print_page(self, page: Printable) -> None: ...
    def clear(self) -> None: ...


class SimulatedPrinter:
    """Keeps the printed pages in memory for the tray view until they are taken.

    PDFs go to disk only when ``print_dir`` was named on the command line.
    ``fail_next`` makes the next print fail, for tests of "no charge".
    """

    def __init__(self, print_dir: Path | None = None) -> None:
        self.print_dir = print_dir
        self.tray: list[bytes] = []  # PNG pages
        self.fail_next = False

    def print_page(self, page: Printable) -> None:
        if self.fail_next:
            self.fail_next = False
            raise KioskError(Code.PRINT_FAILED)
        self.tray.append(render_png(page))
        if self.print_dir is not None:
            self.print_dir.mkdir(parents=True, exist_ok=True)
            (self.print_dir / f"certificate-{secrets.token_hex(6)}.pdf").write_bytes(
                render_pdf(page)
            )

    def clear(self) -> None:
        self.tray.clear()


class CupsPrinter:
    """Sends each page to CUPS with ``lp``; the temporary PDF is deleted at once."""

    def __init__(self, destination: str | None = None) -> None:
        self.destination = destination

    def print_page(self, page: Printable) -> None:
        with tempfile.NamedTemporaryFile(suffix=".pdf") as f:
            f.write(render_pdf(page))
            f.flush()
            cmd = ["lp", "-o", "media=A4", f.name]
            if self.destination:
                cmd[1:1] = ["-d", self.destination]
            try:
                subprocess.run(cmd, check=True, capture_output=True, timeout=30)
            except (OSError, subprocess.SubprocessError):
                raise KioskError(Code.PRINT_FAILED) from None

    def clear(self) -> None:
        pass
