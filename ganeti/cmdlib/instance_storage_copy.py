"""Migration with a storage copy (``OP_INSTANCE_MIGRATE storage_copy``, beyond Ganeti).

An instance whose disks are node-local files (the ``file`` template) cannot simply be
migrated: the target has no copy of its disks.  When the operator asks for it
(``gnt-instance migrate --storage-copy``), the disks travel with the instance:

1. the target gets empty disk files of the same sizes at the same paths
   (``blockdev_create``, as when the instance was created) and opens them;
2. the hypervisor copies the data during the migration: libvirt's non-shared-disk
   migration (``VIR_MIGRATE_NON_SHARED_DISK``: QEMU mirrors each disk to the target over
   NBD while the memory is copied, so the guest keeps running and writing), the fake
   hypervisor hands the file contents over with its state;
3. after the switch the source's disk files are removed; when the migration fails, the
   target's new files are removed instead and the instance keeps running on the source.

The node side decides which disks to copy from the disk template in the instance's disk
dicts (``DiskRef.storage``), so no RPC changes.  Only ``file`` disks qualify: ``plain``
volumes would need the same on the target's volume group (not done), shared and
mirrored templates need no copy.
"""

from __future__ import annotations

from typing import Any

from ganeti import constants as C
from ganeti import errors
from ganeti.cmdlib.base import Feedback
from ganeti.cmdlib.instance import create_disks
from ganeti.cmdlib.instance_common import InstanceLU, bad, remove_disks
from ganeti.objects import Disk, Node

# Templates whose disks a storage-copy migration moves.
COPYABLE_TEMPLATES = (C.DT_FILE,)


def requested(lu: InstanceLU) -> bool:
    return bool(getattr(lu.op, "storage_copy", False))


def check(lu: InstanceLU, template: str) -> bool:
    """True when the operator asked for a storage copy and it makes ``template``
    movable; refuses the request where it cannot apply."""
    if not requested(lu):
        return False
    if template not in COPYABLE_TEMPLATES:
        raise bad(
            f"--storage-copy applies to instances with 'file' disks, not {template!r} ones",
            errors.ECODE_INVAL,
        )
    if getattr(lu.op, "cleanup", False):
        raise bad("--storage-copy and --cleanup don't go together", errors.ECODE_INVAL)
    return True


def on_node(disks: list[Disk], node_uuid: str) -> list[Disk]:
    """The disks as they exist (or will exist) on one node."""
    out = []
    for disk in disks:
        copy = disk.copy()
        copy.nodes = [node_uuid]
        out.append(copy)
    return out


async def create_on(lu: InstanceLU, target: Node, feedback: Feedback) -> None:
    """Empty disk files of the instance's sizes on ``target`` (rolled back on failure)."""
    inst: Any = lu.inst
    sizes = ", ".join(f"{d.size} MiB" for d in lu.disks)
    feedback(f"* creating the disks of {inst.name} on {target.name} ({sizes}) for the copy")
    await create_disks(lu, inst.name, on_node(list(lu.disks), target.uuid), feedback)


async def remove_on(lu: InstanceLU, node: Node, feedback: Feedback, why: str) -> None:
    """Remove the instance's disk files on ``node`` (warnings only)."""
    inst: Any = lu.inst
    feedback(f"* removing the disks of {inst.name} on {node.name} ({why})")
    await remove_disks(lu, inst, on_node(list(lu.disks), node.uuid), feedback)


async def switch_primary(lu: InstanceLU, target: Node) -> None:
    """The instance and its (copied) disks now belong to ``target``.  The configuration
    insists that node-local disks live on the primary: the disks are taken out, the
    primary switched and the disks put back on the target, with no await in between, so
    no commit sees a half-switched instance."""
    cfg = lu.cfg
    inst: Any = lu.inst
    disks = list(lu.disks)
    for disk in disks:
        cfg.remove_instance_disk(inst.uuid, disk.uuid)
    new = cfg.get_instance(inst.uuid).copy()  # removing the disks changed its serial
    new.primary_node = target.uuid
    cfg.update(new)
    for disk in on_node(disks, target.uuid):
        cfg.add_instance_disk(inst.uuid, disk)
    await cfg.flush()
