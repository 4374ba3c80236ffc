"""Instance logical units: create, remove, rename, query data and console.

The other instance LUs live next to this module (``instance_ops``: start, stop, reboot,
reinstall; ``instance_storage``: disks; ``instance_set_params``: modify) and
``os_diagnose``; importing this module registers all of them.

Creation never leaves half an instance behind: every block device made so far is
removed and the instance taken out of the configuration again when a later step fails.
"""

from __future__ import annotations

from typing import Any

from ganeti import constants as C
from ganeti import errors
from ganeti.cmdlib.base import Feedback, LogicalUnit, register
from ganeti.cmdlib.instance_common import (
    FILE_TEMPLATES,
    LVM_TEMPLATES,
    SUPPORTED_TEMPLATES,
    InstanceLU,
    assemble_disks,
    bad,
    build_nic,
    check_be_consistent,
    check_node_usable,
    disk_dict,
    inst_dict,
    instance_running,
    node_name,
    parse_size,
    remove_disks,
    require_memory,
    rpc_payload,
    shutdown_disks,
    storage_free,
    update_beparams,
    update_hvparams,
)
from ganeti.cmdlib.instance_drbd import generate_drbd_disk, release_ports, wait_for_sync
from ganeti.cmdlib.tags import check_tags
from ganeti.locking import ALL_SET, LEVEL_INSTANCE, LEVEL_NODE
from ganeti.masterd import iallocator
from ganeti.objects import Disk, Instance, Node, new_uuid

_DISK_KEYS = {"size", "mode", "name", "vg", "spindles", "adopt", "metavg", "provider"}


def new_instance_spec(
    beparams: dict[str, Any], disk_sizes: list[int], nics: int, template: str
) -> dict[str, int]:
    """The ipolicy spec of an instance to be; diskless ones skip the disk checks."""
    spec = {
        C.ISPEC_MEM_SIZE: int(beparams[C.BE_MAXMEM]),
        C.ISPEC_CPU_COUNT: int(beparams[C.BE_VCPUS]),
        C.ISPEC_NIC_COUNT: nics,
        C.ISPEC_SPINDLE_USE: int(beparams[C.BE_SPINDLE_USE]),
    }
    if template != C.DT_DISKLESS:
        spec[C.ISPEC_DISK_COUNT] = len(disk_sizes)
        spec[C.ISPEC_DISK_SIZE] = max(disk_sizes)
    return spec


def ipolicy_violations(
    lu: LogicalUnit, node: Node, spec: dict[str, int], template: str
) -> list[str]:
    group = lu.cfg.config.node_group(node)
    policy = lu.cfg.get_cluster().fill_ipolicy(group)
    found = policy.spec_violations(spec)
    if template not in policy.disk_templates:
        found.append(f"disk template {template} not allowed")
    return found


def file_dir(lu: LogicalUnit, template: str, instance_name: str, subdir: str | None) -> str:
    cluster = lu.cfg.get_cluster()
    base = (
        cluster.shared_file_storage_dir
        if template == C.DT_SHARED_FILE
        else cluster.file_storage_dir
    )
    if not base:
        raise bad(f"the cluster has no storage directory for {template} disks")
    if subdir:
        if subdir.startswith("/") or ".." in subdir.split("/"):
            raise bad(f"file_storage_dir {subdir!r} must be a relative path below {base}")
        base = f"{base.rstrip('/')}/{subdir.strip('/')}"
    return f"{base.rstrip('/')}/{instance_name}"


def make_disk(
    lu: LogicalUnit,
    template: str,
    spec: dict[str, Any],
    idx: int,
    node_uuid: str,
    instance_name: str,
    file_driver: str | None = None,
    subdir: str | None = None,
) -> Disk:
    """A new Disk object for ``template`` at index ``idx`` (not yet created anywhere)."""
    uuid = new_uuid()
    if template in FILE_TEMPLATES:
        directory = file_dir(lu, template, instance_name, subdir)
        logical_id: list[Any] = [
            file_driver or C.FD_LOOP,
            f"{directory}/{uuid}.file.disk{idx}",
        ]
    elif template == C.DT_PLAIN:
        vg = spec.get("vg") or lu.cfg.get_cluster().volume_group_name
        if not vg:
            raise bad("plain disks need a volume group (cluster vg_name or the disk's vg)")
        logical_id = [vg, f"{uuid}.disk{idx}"]
    elif template == C.DT_DRBD8:
        # New drbd disks need a secondary node, a port and minors: see _make_drbd_disks.
        raise bad("adding a disk to a drbd instance is not supported yet")
    else:
        raise bad(f"disk template {template} is not supported here")
    return Disk(
        uuid=uuid,
        name=spec.get("name"),
        dev_type=template,
        logical_id=logical_id,
        nodes=[node_uuid],
        iv_name=f"disk/{idx}",
        size=int(spec["size"]),
        mode=spec.get("mode") or C.DISK_RDWR,
        spindles=spec.get("spindles"),
    )


def parse_disk_spec(spec: Any, idx: int) -> dict[str, Any]:
    if not isinstance(spec, dict):
        raise bad(f"disk/{idx}: must be a dictionary")
    unknown = sorted(set(spec) - _DISK_KEYS)
    if unknown:
        raise bad(f"disk/{idx}: unknown parameter(s) {', '.join(unknown)}")
    if "adopt" in spec:
        raise bad("disk adoption is not supported")
    if "size" not in spec:
        raise bad(f"disk/{idx}: missing size")
    out = dict(spec)
    out["size"] = parse_size(spec["size"], f"disk/{idx} size")
    mode = spec.get("mode") or C.DISK_RDWR
    if mode not in C.VALID_DISK_MODES:
        raise bad(f"disk/{idx}: invalid mode {mode!r}")
    out["mode"] = mode
    return out


async def create_disks(
    lu: LogicalUnit,
    inst_name: str,
    disks: list[Disk],
    feedback: Feedback,
    primary: str | None = None,
) -> list[Disk]:
    """``blockdev_create`` every disk on its nodes; on failure remove what was made.

    With ``primary`` (a DRBD instance) the other nodes come first and only the primary's
    call says ``on_primary`` (its side becomes Primary and the initial sync starts).
    """
    cfg = lu.cfg
    created: list[Disk] = []
    dirs_made: list[tuple[str, str]] = []
    try:
        for disk in disks:
            if disk.dev_type in FILE_TEMPLATES:
                directory = str(disk.logical_id[1]).rsplit("/", 1)[0]  # type: ignore[index]
                for node_uuid in disk.nodes:
                    name = node_name(cfg, node_uuid)
                    if (name, directory) in dirs_made:
                        continue
                    res = await lu.ctx.rpc.call_one(name, "file_storage_dir_create", [directory])
                    rpc_payload(res, f"creating directory {directory}")
                    dirs_made.append((name, directory))
            order = sorted(disk.nodes, key=lambda n: n == primary)
            for node_uuid in order:
                name = node_name(cfg, node_uuid)
                res = await lu.ctx.rpc.call_one(
                    name,
                    "blockdev_create",
                    [
                        disk_dict(cfg, disk, node_uuid),
                        disk.size,
                        inst_name,
                        primary is None or node_uuid == primary,
                        f"originstname+{inst_name}",
                        False,
                    ],
                )
                rpc_payload(res, f"creating disk {disk.iv_name} ({disk.size} MiB)")
            created.append(disk)
    except errors.GanetiError:
        feedback("* removing the disks created so far")
        await _rollback_disks(lu, created + [d for d in disks if d not in created], feedback)
        for name, directory in dirs_made:
            await lu.ctx.rpc.call_one(name, "file_storage_dir_remove", [directory])
        raise
    return created


async def _rollback_disks(lu: LogicalUnit, disks: list[Disk], feedback: Feedback) -> None:
    cfg = lu.cfg
    for disk in disks:
        for node_uuid in disk.nodes:
            name = node_name(cfg, node_uuid)
            res = await lu.ctx.rpc.call_one(
                name, "blockdev_remove", [disk_dict(cfg, disk, node_uuid)]
            )
            if not res.ok:
                feedback(f"WARNING: could not remove disk {disk.iv_name} on {name}")


@register
class LUInstanceCreate(LogicalUnit):
    """Create an instance: place it, make its disks, install its OS, maybe start it."""

    OP_ID = "OP_INSTANCE_CREATE"
    REQ_BGL = False

    def expand_names(self) -> None:
        op = self.op
        if op.mode not in (C.INSTANCE_CREATE, C.INSTANCE_IMPORT):
            raise bad(f"instance creation mode {op.mode!r} is not supported (inter-cluster)")
        self._check_name_free(op.instance_name)
        self.new_uuid = new_uuid()
        self.needed_locks[LEVEL_INSTANCE] = [self.new_uuid]
        self.pnode_uuid: str | None = None
        if op.pnode_uuid or op.pnode:
            self.pnode_uuid = self.cfg.lookup_node(op.pnode_uuid or op.pnode).uuid
            nodes = [self.pnode_uuid]
            if op.snode_uuid or op.snode:
                nodes.append(self.cfg.lookup_node(op.snode_uuid or op.snode).uuid)
            self.needed_locks[LEVEL_NODE] = nodes
        elif op.snode_uuid or op.snode:
            raise bad("a secondary node needs a primary node (-n PNODE:SNODE)")
        else:
            self.needed_locks[LEVEL_NODE] = ALL_SET
            self.share_locks[LEVEL_NODE] = True
        if op.mode == C.INSTANCE_IMPORT:
            from ganeti.cmdlib.backup import import_expand

            import_expand(self)

    def _check_name_free(self, name: str) -> None:
        try:
            self.cfg.lookup_instance(name)
        except errors.OpPrereqError:
            return
        raise bad(f"instance {name!r} already exists", errors.ECODE_EXISTS)

    def check_prereq(self) -> None:
        op = self.op
        cfg = self.cfg
        cluster = cfg.get_cluster()
        self._check_name_free(op.instance_name)
        if op.mode == C.INSTANCE_IMPORT and not hasattr(self, "import_source"):
            return  # checked in exec, once the export has been read (ganeti/cmdlib/backup.py)
        # Hypervisor and template.
        self.hypervisor = op.hypervisor or cluster.default_hypervisor
        if self.hypervisor not in cluster.enabled_hypervisors:
            raise bad(
                f"hypervisor {self.hypervisor} is not enabled "
                f"(enabled: {', '.join(cluster.enabled_hypervisors)})"
            )
        template = op.disk_template or (
            C.DT_DISKLESS if not op.disks else cluster.enabled_disk_templates[0]
        )
        if template not in cluster.enabled_disk_templates:
            raise bad(
                f"disk template {template} is not enabled "
                f"(enabled: {', '.join(cluster.enabled_disk_templates)})"
            )
        if template not in SUPPORTED_TEMPLATES:
            raise bad(f"disk template {template} is not supported yet")
        self.template = template
        self.disk_specs = [parse_disk_spec(d, i) for i, d in enumerate(op.disks)]
        if template == C.DT_DISKLESS and self.disk_specs:
            raise bad("a diskless instance cannot have disks")
        if template != C.DT_DISKLESS and not self.disk_specs:
            raise bad(f"template {template} needs at least one disk")
        if len(self.disk_specs) > C.MAX_DISKS:
            raise bad(f"at most {C.MAX_DISKS} disks")
        if len(op.nics) > C.MAX_NICS:
            raise bad(f"at most {C.MAX_NICS} NICs")
        if template in LVM_TEMPLATES and not cluster.volume_group_name:
            if not all(d.get("vg") for d in self.disk_specs):
                raise bad(f"{template} disks need a volume group; the cluster has none")
        if template in FILE_TEMPLATES:
            file_dir(self, template, op.instance_name, op.file_storage_dir)
        # Parameters.
        self.beparams = update_beparams({}, op.beparams)
        self.filled_be = cluster.fill_be(self.beparams)
        check_be_consistent(self.filled_be)
        self.hvparams = update_hvparams(self.hypervisor, {}, op.hvparams)
        self.filled_hv = cluster.fill_hv(self.hypervisor, op.os_type or "", self.hvparams)
        if not op.os_type:
            raise bad("an OS (os_type) is required")
        self.osparams = dict(op.osparams or {})
        self.osparams_private = dict(op.osparams_private or {})
        self.filled_os = cluster.fill_os(op.os_type, self.osparams)
        self.filled_os.update(cluster.fill_os_private(op.os_type, self.osparams_private))
        if op.tags:
            check_tags(op.tags)
        taken: set[str] = set()
        self.nics = [build_nic(cfg, spec, taken, i) for i, spec in enumerate(op.nics)]
        self.spec = new_instance_spec(
            self.filled_be, [d["size"] for d in self.disk_specs], len(self.nics), template
        )
        # Nodes.
        self.snode_uuid: str | None = None
        if template == C.DT_DRBD8:
            if op.snode or op.snode_uuid:
                self.snode_uuid = cfg.lookup_node(op.snode_uuid or op.snode).uuid
            elif self.pnode_uuid is not None:
                raise bad(
                    "the drbd template needs a secondary node: give -n PNODE:SNODE "
                    "(or no node and an allocator)"
                )
        elif op.snode or op.snode_uuid:
            raise bad(f"a secondary node makes no sense for template {template}")
        if self.pnode_uuid is not None:
            pnode = cfg.get_node(self.pnode_uuid)
            check_node_usable(pnode, for_new=True)
            if self.snode_uuid is not None:
                check_secondary(self, pnode, cfg.get_node(self.snode_uuid))
            if not op.ignore_ipolicy:
                found = ipolicy_violations(self, pnode, self.spec, template)
                if found:
                    raise bad(
                        f"instance allocation to group {node_group_name(self, pnode)} "
                        f"violates policy: {', '.join(found)}"
                    )

    async def _allocate(self, feedback: Feedback) -> str:
        """Choose the primary node with the allocator (``iallocator`` or the built-in)."""
        cfg = self.cfg
        op = self.op
        name = op.iallocator or cfg.get_cluster().default_iallocator or iallocator.BUILTIN
        request = iallocator.AllocRequest(
            name=op.instance_name,
            memory=int(self.filled_be[C.BE_MAXMEM]),
            vcpus=int(self.filled_be[C.BE_VCPUS]),
            disk_template=self.template,
            disks=tuple(d["size"] for d in self.disk_specs),
            nics=len(self.nics),
            spindle_use=int(self.filled_be[C.BE_SPINDLE_USE]),
            os=op.os_type,
            hypervisor=self.hypervisor,
            required_nodes=2 if self.template == C.DT_DRBD8 else 1,
        )
        candidates = []
        usable = [n for n in cfg.get_nodes() if not n.offline and n.vm_capable and not n.drained]
        if not usable:
            raise bad("no online, vm_capable, undrained node to place the instance on")
        results = await self.ctx.rpc.call(
            [n.name for n in usable], "node_info", _node_info_args(self, self.hypervisor)
        )
        for node in usable:
            res = results.get(node.name)
            group = cfg.config.node_group(node)
            policy = group.alloc_policy if group is not None else C.ALLOC_POLICY_PREFERRED
            if res is None or not res.ok:
                feedback(f"WARNING: node {node.name} did not answer: skipped")
                continue
            info = _parse_node_info(res.payload)
            self.node_infos[node.name] = info
            violations = (
                ()
                if op.ignore_ipolicy
                else tuple(ipolicy_violations(self, node, self.spec, self.template))
            )
            candidates.append(
                iallocator.NodeCandidate(
                    name=node.name,
                    group=group.name if group is not None else "",
                    alloc_policy=policy,
                    memory_free=int(info.get("memory_free") or 0),
                    memory_total=int(info.get("memory_total") or 0),
                    disk_free=storage_free(info, self.template),
                    disk_total=0,
                    cpu_total=int(info.get("cpu_total") or 1),
                    policy_violations=violations,
                )
            )
        chosen = iallocator.allocate(name, request, candidates, cfg.get_cluster().cluster_ipolicy())
        feedback(
            f"Selected nodes for instance {op.instance_name} via iallocator {name}: "
            + ", ".join(chosen)
        )
        if self.template == C.DT_DRBD8:
            if len(chosen) < 2:
                raise bad(f"allocator {name} chose no secondary node", errors.ECODE_NORES)
            self.snode_uuid = cfg.lookup_node(chosen[1]).uuid
        return cfg.lookup_node(chosen[0]).uuid

    async def exec(self, feedback: Feedback) -> Any:
        op = self.op
        cfg = self.cfg
        self.node_infos: dict[str, dict[str, Any]] = {}
        if op.mode == C.INSTANCE_IMPORT:
            from ganeti.cmdlib.backup import import_prepare

            await import_prepare(self, feedback)
            self.check_prereq()
        if self.pnode_uuid is None:
            self.pnode_uuid = await self._allocate(feedback)
        pnode = cfg.get_node(self.pnode_uuid)
        check_node_usable(pnode, for_new=True)
        snode = None
        if self.snode_uuid is not None:
            snode = cfg.get_node(self.snode_uuid)
            check_secondary(self, pnode, snode)
        await self._node_checks(pnode)
        if snode is not None:
            await self._storage_check(snode)

        if self.template == C.DT_DRBD8:
            assert snode is not None
            disks = self._make_drbd_disks(pnode, snode)
        else:
            disks = [
                make_disk(
                    self,
                    self.template,
                    spec,
                    idx,
                    pnode.uuid,
                    op.instance_name,
                    op.file_driver,
                    op.file_storage_dir,
                )
                for idx, spec in enumerate(self.disk_specs)
            ]
        try:
            return await self._create(pnode, snode, disks, feedback)
        finally:
            cfg.release_drbd_minors(self.new_uuid)

    def _make_drbd_disks(self, pnode: Node, snode: Node) -> list[Disk]:
        """Ports, minors (reserved for this instance) and LV names for each new disk."""
        cfg = self.cfg
        vg_default = cfg.get_cluster().volume_group_name or ""
        disks: list[Disk] = []
        self._new_ports: list[int] = []
        try:
            for idx, spec in enumerate(self.disk_specs):
                port = cfg.allocate_drbd_port()
                self._new_ports.append(port)
                p_minor, s_minor = cfg.allocate_drbd_minors([pnode.uuid, snode.uuid], self.new_uuid)
                disks.append(
                    generate_drbd_disk(
                        idx=idx,
                        size=int(spec["size"]),
                        pnode=pnode.uuid,
                        snode=snode.uuid,
                        port=port,
                        p_minor=p_minor,
                        s_minor=s_minor,
                        vg=spec.get("vg") or vg_default,
                        metavg=spec.get("metavg"),
                        name=spec.get("name"),
                        mode=spec.get("mode") or C.DISK_RDWR,
                        spindles=spec.get("spindles"),
                    )
                )
        except errors.GanetiError:
            release_ports(self, self._new_ports)
            raise
        return disks

    async def _create(
        self, pnode: Node, snode: Node | None, disks: list[Disk], feedback: Feedback
    ) -> Any:
        op = self.op
        cfg = self.cfg
        drbd_ports = [
            int((d.logical_id or [0, 0, 0])[2]) for d in disks if d.dev_type == C.DT_DRBD8
        ]
        inst = Instance(
            uuid=self.new_uuid,
            name=op.instance_name,
            primary_node=pnode.uuid,
            os=op.os_type,
            hypervisor=self.hypervisor,
            hvparams=self.hvparams,
            beparams=self.beparams,
            osparams=self.osparams,
            osparams_private=self.osparams_private,
            admin_state=C.ADMINST_DOWN,
            nics=self.nics,
            disks_active=False,
            tags=set(op.tags or ()),
        )
        if disks:
            feedback("* creating instance disks...")
            try:
                await create_disks(
                    self, inst.name, disks, feedback, pnode.uuid if snode is not None else None
                )
            except errors.GanetiError:
                release_ports(self, drbd_ports)
                raise
        try:
            feedback(f"adding instance {inst.name} to cluster config")
            cfg.add_instance(inst, disks)
        except errors.GanetiError:
            await _rollback_disks(self, disks, feedback)
            await self._remove_dirs(disks)
            release_ports(self, drbd_ports)
            raise
        try:
            if snode is not None:
                await self._wait_for_sync(pnode, snode, disks, feedback)
            await self._install_and_start(feedback)
        except errors.GanetiError as exc:
            feedback(f"* creation failed ({exc}); removing the instance again")
            current = cfg.get_instance(self.new_uuid)
            if op.start:
                await self.ctx.rpc.call_one(
                    pnode.name, "instance_shutdown", [inst_dict(cfg, current), 0, None]
                )
            await shutdown_disks(self, current, feedback)
            await remove_disks(self, current, cfg.config.instance_disks(current), feedback)
            cfg.remove_instance(self.new_uuid)
            await cfg.flush()
            raise
        await cfg.flush()
        return [pnode.name]

    async def _wait_for_sync(
        self, pnode: Node, snode: Node, disks: list[Disk], feedback: Feedback
    ) -> None:
        if self.op.wait_for_sync:
            feedback("* waiting for the new mirrors to synchronise")
            ok = await wait_for_sync(self, [pnode, snode], disks, feedback)
        else:
            feedback("* checking the mirrors' status")
            ok = await wait_for_sync(self, [pnode, snode], disks, feedback, oneshot=True)
        if not ok:
            raise errors.OpExecError("there are some degraded disks for this instance")

    async def _storage_check(self, node: Node) -> None:
        """Enough space in the volume group of a DRBD secondary."""
        info = _parse_node_info(
            rpc_payload(
                await self.ctx.rpc.call_one(
                    node.name, "node_info", _node_info_args(self, self.hypervisor)
                ),
                "node_info",
            )
        )
        self._require_space(node, info)

    def _require_space(self, node: Node, info: dict[str, Any]) -> None:
        need = sum(d["size"] for d in self.disk_specs)
        if self.template == C.DT_DRBD8:
            need += C.DRBD_META_SIZE * len(self.disk_specs)
        free = storage_free(info, self.template)
        if need and free is not None and free < need:
            raise bad(
                f"not enough disk space on node {node.name}: needed {need} MiB, "
                f"available {free} MiB",
                errors.ECODE_NORES,
            )

    async def _remove_dirs(self, disks: list[Disk]) -> None:
        for disk in disks:
            if disk.dev_type in FILE_TEMPLATES:
                directory = str(disk.logical_id[1]).rsplit("/", 1)[0]  # type: ignore[index]
                for node_uuid in disk.nodes:
                    await self.ctx.rpc.call_one(
                        node_name(self.cfg, node_uuid), "file_storage_dir_remove", [directory]
                    )

    async def _node_checks(self, pnode: Node) -> None:
        """Checks that need the primary node: OS, hypervisor parameters, memory, disk space."""
        op = self.op
        rpc = self.ctx.rpc
        # Both checks are independent: ask the node for them at once.
        hv_check = rpc.call_one(
            pnode.name, "hypervisor_validate_params", [self.hypervisor, self.filled_hv]
        )
        os_check = rpc.call_one(
            pnode.name,
            "os_validate",
            # The OS's verify script (a process) only runs when there are parameters.
            [
                True,
                op.os_type,
                ["parameters"] if self.filled_os else [],
                self.filled_os,
                op.force_variant,
            ],
        )
        res = await hv_check
        if not res.ok:
            os_check.addErrback(lambda _: None)  # not wanted any more
            os_check.cancel()
            raise bad(f"invalid hypervisor parameters on node {pnode.name}: {res.fail_msg}")
        res = await os_check
        if not res.ok:
            raise bad(
                f"OS {op.os_type!r} is not valid on node {pnode.name}: {res.fail_msg}",
                errors.ECODE_INVAL,
            )
        info = self.node_infos.get(pnode.name)
        if info is None:
            info = _parse_node_info(
                rpc_payload(
                    await rpc.call_one(
                        pnode.name, "node_info", _node_info_args(self, self.hypervisor)
                    ),
                    "node_info",
                )
            )
        if op.start:
            require_memory(info, int(self.filled_be[C.BE_MAXMEM]), pnode.name, "start the instance")
        self._require_space(pnode, info)

    async def _install_and_start(self, feedback: Feedback) -> None:
        op = self.op
        cfg = self.cfg
        inst = cfg.get_instance(self.new_uuid)
        pnode = cfg.get_node(inst.primary_node)
        assembled = False
        importing = op.mode == C.INSTANCE_IMPORT
        if not op.no_install or importing:
            if cfg.config.instance_disks(inst):
                await assemble_disks(self, inst, feedback)
                assembled = True
        if importing:
            from ganeti.cmdlib.backup import import_disks

            await import_disks(self, inst, feedback)
        elif not op.no_install:
            feedback("* running the instance OS create scripts...")
            res = await self.ctx.rpc.call_one(
                pnode.name,
                "instance_os_add",
                [self._os_dict(inst), False, op.debug_level or 0],
            )
            rpc_payload(res, f"OS create script of {op.os_type}")
        if op.start:
            new = inst.copy()
            new.admin_state = C.ADMINST_UP
            new.admin_state_source = C.ADMIN_SOURCE
            new.disks_active = bool(new.disks)
            cfg.update(new)
            if not assembled and new.disks:
                await assemble_disks(self, new, feedback)
            feedback("* starting instance...")
            res = await self.ctx.rpc.call_one(
                pnode.name, "instance_start", [inst_dict(cfg, new), False, op.reason]
            )
            rpc_payload(res, "starting the instance")
        elif assembled or cfg.config.instance_disk_template(inst) == C.DT_DRBD8:
            # DRBD disks are up since their creation: the stopped instance leaves them down.
            await shutdown_disks(self, inst, feedback)

    def _os_dict(self, inst: Instance) -> dict[str, Any]:
        data = inst_dict(self.cfg, inst)
        if self.op.osparams_secret:
            data["osparams_secret"] = dict(self.op.osparams_secret)
        return data


def check_secondary(lu: LogicalUnit, pnode: Node, snode: Node) -> None:
    """A DRBD secondary: another online, vm_capable, undrained node of the primary's group."""
    if snode.uuid == pnode.uuid:
        raise bad(f"the secondary node must differ from the primary node ({pnode.name})")
    check_node_usable(snode, for_new=True)
    if snode.group != pnode.group:
        raise bad(
            f"the secondary node {snode.name} is in group {node_group_name(lu, snode)}, the "
            f"primary {pnode.name} in group {node_group_name(lu, pnode)}: both must be in "
            "the same group",
            errors.ECODE_INVAL,
        )


def node_group_name(lu: LogicalUnit, node: Node) -> str:
    group = lu.cfg.config.node_group(node)
    return group.name if group is not None else node.group


def _node_info_args(lu: LogicalUnit, hypervisor: str) -> list[Any]:
    cluster = lu.cfg.get_cluster()
    storage: list[Any] = []
    if cluster.file_storage_dir:
        storage.append([C.DT_FILE, cluster.file_storage_dir, []])
    if cluster.volume_group_name:
        storage.append(["lvm-vg", cluster.volume_group_name, []])
    return [storage, [[hypervisor, cluster.hvparams.get(hypervisor, {})]]]


def _parse_node_info(payload: Any) -> dict[str, Any]:
    _boot, units, hvs = payload
    out: dict[str, Any] = {"storage": {}}
    for unit in units or []:
        if isinstance(unit, dict):
            kind = unit.get("type")
            if kind == "lvm-vg":
                out["storage"]["lvm-vg"] = unit
            else:
                out["storage"].setdefault(C.DT_FILE, unit)
    if hvs:
        out.update(hvs[0])
    return out


@register
class LUInstanceRemove(InstanceLU):
    """Stop the instance, remove its disks everywhere and drop it from the config."""

    OP_ID = "OP_INSTANCE_REMOVE"

    async def exec(self, feedback: Feedback) -> Any:
        cfg = self.cfg
        inst = self.inst
        pnode = self.pnode
        op = self.op
        feedback(f"Shutting down instance {inst.name} on node {pnode.name}")
        if pnode.offline:
            feedback(f"WARNING: primary node {pnode.name} is offline, not shutting down")
        else:
            res = await self.ctx.rpc.call_one(
                pnode.name,
                "instance_shutdown",
                [inst_dict(cfg, inst), op.shutdown_timeout, op.reason],
            )
            if not res.ok:
                msg = f"could not shut down instance {inst.name}: {res.fail_msg}"
                if not op.ignore_failures:
                    raise errors.OpExecError(msg)
                feedback(f"WARNING: {msg}")
        await shutdown_disks(self, inst, feedback)
        feedback(f"Removing block devices for instance {inst.name}")
        if not await remove_disks(self, inst, self.disks, feedback):
            if not op.ignore_failures:
                raise errors.OpExecError("could not remove all block devices")
        feedback(f"Removing instance {inst.name} out of cluster config")
        cfg.remove_instance(inst.uuid)
        await cfg.flush()


@register
class LUInstanceRename(InstanceLU):
    """Rename a stopped instance (file storage directory and OS rename script too)."""

    OP_ID = "OP_INSTANCE_RENAME"

    def check_prereq(self) -> None:
        new = self.op.new_name
        try:
            other = self.cfg.lookup_instance(new)
        except errors.OpPrereqError:
            other = None
        if other is not None:
            raise bad(f"instance {new!r} already exists", errors.ECODE_EXISTS)
        if self.inst.admin_state == C.ADMINST_UP:
            raise bad(
                f"instance {self.inst.name} is marked to be up; shut it down first",
                errors.ECODE_STATE,
            )
        check_node_usable(self.pnode)

    async def exec(self, feedback: Feedback) -> Any:
        cfg = self.cfg
        inst = self.inst
        old_name = inst.name
        new_name = self.op.new_name
        if await instance_running(self, inst):
            raise bad(f"instance {old_name} is running; shut it down first", errors.ECODE_STATE)
        pnode = self.pnode
        # File-based disks live in a directory named after the instance.
        renames: list[tuple[str, str]] = []
        for disk in self.disks:
            if disk.dev_type not in FILE_TEMPLATES or not disk.logical_id:
                continue
            path = str(disk.logical_id[1])
            directory, base = path.rsplit("/", 1)
            parent, last = directory.rsplit("/", 1)
            if last != old_name:
                continue
            new_dir = f"{parent}/{new_name}"
            if (directory, new_dir) not in renames:
                renames.append((directory, new_dir))
            copy = disk.copy()
            copy.logical_id = [disk.logical_id[0], f"{new_dir}/{base}"]
            self._disk_updates.append(copy)
        for old_dir, new_dir in renames:
            res = await self.ctx.rpc.call_one(
                pnode.name, "file_storage_dir_rename", [old_dir, new_dir]
            )
            rpc_payload(res, f"renaming {old_dir} to {new_dir}")
        for copy in self._disk_updates:
            cfg.update(copy)
        new = self.inst.copy()
        new.name = new_name
        cfg.update(new)
        await cfg.flush()
        # The OS rename script runs with the disks assembled; failures only warn.
        inst = self.inst
        try:
            if self.disks:
                await assemble_disks(self, inst, feedback)
            res = await self.ctx.rpc.call_one(
                pnode.name,
                "instance_run_rename",
                [inst_dict(cfg, inst), old_name, self.op.debug_level or 0],
            )
            if not res.ok:
                feedback(
                    f"WARNING: could not run the OS rename script for {new_name}: {res.fail_msg}"
                )
        except errors.GanetiError as exc:
            feedback(f"WARNING: could not run the OS rename script: {exc}")
        finally:
            if self.disks:
                await shutdown_disks(self, self.inst, feedback)
        return new_name

    @property
    def _disk_updates(self) -> list[Disk]:
        if not hasattr(self, "_pending_disks"):
            self._pending_disks: list[Disk] = []
        return self._pending_disks


@register
class LUInstanceQueryData(LogicalUnit):
    """Detailed configuration and (unless ``static``) runtime data for gnt-instance info."""

    OP_ID = "OP_INSTANCE_QUERY_DATA"
    REQ_BGL = False

    def expand_names(self) -> None:
        cfg = self.cfg
        if self.op.instances:
            self.wanted = [cfg.lookup_instance(n).uuid for n in self.op.instances]
        else:
            self.wanted = sorted(
                (i.uuid for i in cfg.get_instances()), key=lambda u: cfg.get_instance(u).name
            )
        if self.op.use_locking:
            self.needed_locks[LEVEL_INSTANCE] = list(self.wanted)
            self.share_locks[LEVEL_INSTANCE] = True

    async def exec(self, feedback: Feedback) -> Any:
        cfg = self.cfg
        cluster = cfg.get_cluster()
        out: dict[str, Any] = {}
        for uuid in self.wanted:
            try:
                inst = cfg.get_instance(uuid)
            except errors.OpPrereqError:
                continue
            pnode = cfg.get_node(inst.primary_node)
            disks = cfg.config.instance_disks(inst)
            run_state: str | None = None
            live: dict[str, Any] = {}
            if not self.op.static and not pnode.offline:
                res = await self.ctx.rpc.call_one(
                    pnode.name,
                    "instance_info",
                    [inst.name, inst.hypervisor, cluster.fill_instance_hv(inst)],
                )
                if res.ok:
                    live = res.payload or {}
                    run_state = "up" if live and live.get("state") != "shutdown" else "down"
            disk_data = []
            for disk in disks:
                pstatus = sstatus = None
                if not self.op.static and not pnode.offline:
                    res = await self.ctx.rpc.call_one(
                        pnode.name, "blockdev_find", [disk_dict(cfg, disk, pnode.uuid)]
                    )
                    pstatus = res.payload if res.ok else None
                for snode_uuid in disk.nodes if not self.op.static else []:
                    snode = cfg.get_node(snode_uuid)
                    if snode_uuid == pnode.uuid or snode.offline:
                        continue
                    res = await self.ctx.rpc.call_one(
                        snode.name, "blockdev_find", [disk_dict(cfg, disk, snode_uuid)]
                    )
                    sstatus = res.payload if res.ok else None
                disk_data.append(
                    {
                        "iv_name": disk.iv_name,
                        "dev_type": disk.dev_type,
                        "logical_id": disk.logical_id,
                        "pstatus": pstatus,
                        "sstatus": sstatus,
                        "children": [],
                        "mode": disk.mode,
                        "size": disk.size,
                        "spindles": disk.spindles,
                        "name": disk.name,
                        "uuid": disk.uuid,
                    }
                )
            nics = []
            for nic in inst.nics:
                params = cfg.config.filled_nicparams(inst, nic)
                nics.append(
                    [
                        nic.name,
                        nic.uuid,
                        nic.mac,
                        nic.ip,
                        params.get(C.NIC_MODE),
                        params.get(C.NIC_LINK),
                        params.get(C.NIC_VLAN),
                        nic.network,
                        None,
                    ]
                )
            out[inst.name] = {
                "name": inst.name,
                "config_state": inst.admin_state,
                "run_state": run_state,
                "pnode": pnode.name,
                "snodes": [node_name(cfg, n) for n in cfg.config.instance_secondary_nodes(inst)],
                "os": inst.os,
                "nics": nics,
                "disk_template": cfg.config.instance_disk_template(inst),
                "disks": disk_data,
                "hypervisor": inst.hypervisor,
                "network_port": inst.network_port,
                "hv_instance": dict(inst.hvparams),
                "hv_actual": cluster.fill_instance_hv(inst),
                "be_instance": dict(inst.beparams),
                "be_actual": cluster.fill_instance_be(inst),
                "os_instance": dict(inst.osparams),
                "os_actual": cluster.fill_os(inst.os, inst.osparams),
                "oper_ram": live.get("memory"),
                "oper_vcpus": live.get("vcpus"),
                "ctime": inst.ctime,
                "mtime": inst.mtime,
                "uuid": inst.uuid,
                "serial_no": inst.serial_no,
                "tags": sorted(inst.tags),
                "admin_state": inst.admin_state,
                "admin_state_source": inst.admin_state_source,
                "disks_active": inst.disks_active,
            }
        return out


@register
class LUInstanceConsole(InstanceLU):
    """How to reach the console of a running instance."""

    OP_ID = "OP_INSTANCE_CONSOLE"
    SHARED_NODES = True

    def expand_names(self) -> None:
        super().expand_names()
        self.share_locks[LEVEL_INSTANCE] = True

    def check_prereq(self) -> None:
        check_node_usable(self.pnode)

    async def exec(self, feedback: Feedback) -> Any:
        inst = self.inst
        pnode = self.pnode
        if not await instance_running(self, inst):
            state = "down" if inst.admin_state != C.ADMINST_UP else "not running (ERROR_down)"
            raise bad(f"instance {inst.name} is {state}", errors.ECODE_STATE)
        res = await self.ctx.rpc.call_one(
            pnode.name,
            "instance_console_info",
            [{inst.name: {"instance": inst_dict(self.cfg, inst), "node_name": pnode.name}}],
        )
        payload = rpc_payload(res, "instance_console_info")
        console: dict[str, Any] = dict(payload[inst.name])
        return console


# Register the LUs of the sibling modules.
from ganeti.cmdlib import (  # noqa: E402, F401
    instance_ops,
    instance_replace,
    instance_set_params,
    instance_storage,
    os_diagnose,
)
