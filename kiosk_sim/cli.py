"""Dispatch `kiosk-sim <system> ...` to the CLI module each system owns.

Each system package exposes ``cli.register(subparsers)``, which adds its own
sub-parser and sets ``func`` (``args -> exit code``) on it.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import os
import sys

# system name -> module that owns its CLI; a system is added here when it lands.
SYSTEMS = {
    "card": "card_reader.cli",
    "cert": "certs.cli",
    "vrs": "vrs.cli",
    "center": "issuance_center.cli",
    "kiosk": "kiosk.cli",
    "measures": "kiosk_sim.measures",
    "security": "kiosk_sim.security",
    "demo": "kiosk_sim.demo",
}


def _present(module_name: str) -> bool:
    try:
        return importlib.util.find_spec(module_name) is not None
    except ModuleNotFoundError:  # the system's package itself is not there yet
        return False


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kiosk-sim",
        description="Simulator of convenience-store issuance of the vaccination certificate.",
    )
    sub = parser.add_subparsers(dest="system", required=True, metavar="SYSTEM")
    for module_name in SYSTEMS.values():
        if _present(module_name):  # systems land one by one
            commands = importlib.import_module(module_name).register(sub)
            if module_name == "vrs.cli":
                from . import enroll  # reads a card, which VRS itself never does

                enroll.register(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        code = int(args.func(args))
        if sys.stdout is not None:  # None when the caller closed it (`>&-`)
            sys.stdout.flush()  # here, not at exit, so that a closed pipe is caught below
        return code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # the reader left (`| head -1`): stop quietly, as a killed `cat` would; stdout goes to
        # /dev/null so the interpreter's own flush at exit finds no pipe to complain about
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, sys.stdout.fileno())
        return 128 + 13  # the shell's status for a death by SIGPIPE


if __name__ == "__main__":
    sys.exit(main())
