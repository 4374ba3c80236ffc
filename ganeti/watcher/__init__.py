"""ganeti-watcher: the periodic repair job (restart what should run, re-activate disks of
rebooted nodes, archive old jobs).  Decisions live in :mod:`ganeti.watcher.decide` (pure);
:mod:`ganeti.watcher.main` gathers the data over LUXI and submits the jobs."""
