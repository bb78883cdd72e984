"""The `kiosk-sim` command: one entry point, one subcommand per system, and the demo.

It imports the systems; no system imports it. What the systems share lives in ``serving``.
"""
