"""The master daemon: config, locks, job queue and LUXI in one reactor."""
