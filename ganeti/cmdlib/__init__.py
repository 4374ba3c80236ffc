"""Logical units: one module per area; importing this package registers them all.

See :mod:`ganeti.cmdlib.base` for the LU life cycle and :func:`register`.
"""

from ganeti.cmdlib import backup as backup  # gnt-backup export/remove, imports
from ganeti.cmdlib import cluster, node, test
from ganeti.cmdlib import instance as instance  # registers the instance and OS LUs
from ganeti.cmdlib import instance_migration as instance_migration  # migrate, failover
from ganeti.cmdlib import instance_move as instance_move  # move with a disk copy
from ganeti.cmdlib import node_evacuate as node_evacuate  # node migrate/evacuate, change-group
from ganeti.cmdlib import verify_disks as verify_disks  # gnt-cluster verify-disks
from ganeti.cmdlib.base import LogicalUnit, LUContext, lu_registry, register

__all__ = [
    "LUContext",
    "LogicalUnit",
    "cluster",
    "lu_registry",
    "node",
    "register",
    "test",
]
