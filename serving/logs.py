"""Where a serving process's log goes: stderr, or a rotating file that stays bounded.

A server that logs every request to a pipe nobody reads stops when the pipe
fills (64 KiB), and a blocked process ignores SIGTERM. So a long-running
command writes to a file of its own instead (``--log-file``), rotated by
logging's ``RotatingFileHandler`` at ``--log-max-bytes`` with
``--log-backups`` older files kept: the disk it takes is bounded whatever the
traffic. Uncaught exceptions (in any thread) land in the same file rather than
on stderr.
"""

from __future__ import annotations

import argparse
import logging
import sys
import threading
from collections.abc import Callable
from logging.handlers import RotatingFileHandler
from pathlib import Path
from types import TracebackType

MAX_BYTES = 5 * 1024 * 1024  # per file
BACKUPS = 3  # older files kept: at most (BACKUPS + 1) * MAX_BYTES on disk
FORMAT = "%(asctime)s %(name)s %(levelname)s %(message)s"


def add_log_options(parser: argparse.ArgumentParser) -> None:
    """``--log-file``, ``--log-max-bytes`` and ``--log-backups`` for a serve command."""
    parser.add_argument(
        "--log-file",
        type=Path,
        default=None,
        help="write the log to this file, rotated (default: stderr)",
    )
    parser.add_argument(
        "--log-max-bytes",
        type=_at_least(1024),
        default=MAX_BYTES,
        help=f"rotate the log file at this size (default {MAX_BYTES})",
    )
    parser.add_argument(
        "--log-backups",
        type=_at_least(1),
        default=BACKUPS,
        help=f"rotated log files kept (default {BACKUPS})",
    )


def _at_least(low: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"at least {low}")
        return value

    return parse


def setup_logging(
    log_file: Path | None,
    *,
    max_bytes: int = MAX_BYTES,
    backups: int = BACKUPS,
    level: int = logging.INFO,
) -> logging.Handler:
    """Sends the root logger to ``log_file`` (rotated) or, when None, to stderr.

    Replaces the root logger's handlers, so calling it twice does not log twice.
    """
    handler: logging.Handler
    if log_file is None:
        handler = logging.StreamHandler()
    else:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        handler = RotatingFileHandler(
            log_file, maxBytes=max_bytes, backupCount=backups, encoding="utf-8"
        )
        _log_uncaught()
    handler.setFormatter(logging.Formatter(FORMAT))
    # A record would otherwise look up its caller's file and line (a walk up the stack)
    # and the thread's and process's names, none of which FORMAT shows: a server logs
    # every request (the logging cookbook's "Optimization" section lists these switches).
    logging._srcfile = None
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    root = logging.getLogger()
    for old in root.handlers[:]:
        root.removeHandler(old)
        old.close()
    root.addHandler(handler)
    root.setLevel(level)
    logging.captureWarnings(True)
    return handler


def _log_uncaught() -> None:
    log = logging.getLogger("uncaught")

    def main_hook(kind: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
        if issubclass(kind, KeyboardInterrupt):
            sys.__excepthook__(kind, exc, tb)
            return
        log.error("uncaught exception", exc_info=(kind, exc, tb))

    def thread_hook(args: threading.ExceptHookArgs) -> None:
        if args.exc_type is SystemExit:
            return
        name = args.thread.name if args.thread is not None else "?"
        log.error(
            "uncaught exception in thread %s",
            name,
            # the exception brings its type and traceback (threading gives all three from
            # sys.exc_info(); ExceptHookArgs only types exc_value as optional)
            exc_info=args.exc_value,
        )

    sys.excepthook = main_hook
    threading.excepthook = thread_hook
