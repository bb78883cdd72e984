"""Shared infrastructure: the instance folder, the development PKI, mutual TLS, the server,
pooled clients, the JSON error shape, and ``serving.api`` for HTTP APIs declared as typed
models (not imported here: only the apps that use it load flask-openapi3).

Every system serves and calls through this package; it imports no system
(design.md), so any system can be installed and run without the others.
"""

from .client import Link, LinkCode, LinkError, Reply
from .instance import DevCa, add_home_option, home
from .logs import add_log_options, setup_logging
from .peer import Peer, client_certificate
from .pki import CA
from .server import Server, raise_open_files_limit, serve_until_stopped
from .tls import CrlContext, client_context, mutual_tls_context

__all__ = [
    "CA",
    "CrlContext",
    "DevCa",
    "Link",
    "LinkCode",
    "LinkError",
    "Peer",
    "Reply",
    "Server",
    "add_home_option",
    "add_log_options",
    "client_certificate",
    "client_context",
    "home",
    "mutual_tls_context",
    "raise_open_files_limit",
    "serve_until_stopped",
    "setup_logging",
]
