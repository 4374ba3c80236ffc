"""Cluster configuration: loading, validation, durable group-committed writes, ssconf.

Pure core: nothing here imports the global reactor; the writer receives a clock.
"""

from ganeti.config.atomic import FileOps, atomic_write
from ganeti.config.bootstrap import bootstrap_config
from ganeti.config.interfaces import Commit, CommitListener, IConfigWriter
from ganeti.config.ssconf import read_ssconf, ssconf_values, write_ssconf_files
from ganeti.config.store import (
    ConfigSerializer,
    ConfigStore,
    load_config,
    parse_config,
)
from ganeti.config.writer import ConfigWriter, run_inline

__all__ = [
    "Commit",
    "CommitListener",
    "ConfigSerializer",
    "ConfigStore",
    "ConfigWriter",
    "FileOps",
    "IConfigWriter",
    "atomic_write",
    "bootstrap_config",
    "load_config",
    "parse_config",
    "read_ssconf",
    "run_inline",
    "ssconf_values",
    "write_ssconf_files",
]
