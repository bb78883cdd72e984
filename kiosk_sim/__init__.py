"""The `kiosk-sim` command: one entry point, one subcommand per system."""
