"""Serving the center: HTTPS that refuses any client without a kiosk-CA certificate (M05)."""

from __future__ import annotations

from kiosk_sim.tls import mutual_tls_context, start

__all__ = ["mutual_tls_context", "start"]
