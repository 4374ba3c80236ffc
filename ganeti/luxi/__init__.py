"""LUXI: the local JSON protocol between clients (CLI, RAPI) and the master daemon."""
