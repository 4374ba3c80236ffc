"""Node group logical units: add, remove, rename, assign nodes, set parameters.

Also the parameter helpers shared with the cluster LUs (:mod:`ganeti.cmdlib.cluster`):
updating an override dict (``"default"``/``None`` drops a key, values are coerced to the
type of the built-in default, unknown keys are refused), per-template disk parameters and
instance policies.

Locking: every LU here holds the BGL shared and locks the groups (and nodes) it touches
exclusively; ``OP_GROUP_ASSIGN_NODES`` computes the instances, groups and nodes involved
optimistically before locking and re-checks them once the locks are held.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from typing import Any

from ganeti import constants, errors
from ganeti.cmdlib.base import Feedback, LogicalUnit, register
from ganeti.cmdlib.tags import check_tag_count, check_tags
from ganeti.config.interfaces import IConfigWriter
from ganeti.locking import LEVEL_INSTANCE, LEVEL_NODE, LEVEL_NODEGROUP
from ganeti.objects import Instance, IPolicy, NodeGroup, fill_ipolicy, new_uuid

VALUE_DEFAULT = "default"
"""A parameter value meaning: drop the override, inherit the default again."""

_TRUE = frozenset({"true", "yes", "y", "on", "1"})
_FALSE = frozenset({"false", "no", "n", "off", "0"})


def _bad(message: str) -> errors.OpPrereqError:
    return errors.OpPrereqError(message, errors.ECODE_INVAL)


def coerce_value(key: str, value: Any, default: Any, what: str) -> Any:
    """``value`` converted to the type of ``default`` (strings from the CLI accepted)."""
    if isinstance(default, bool):
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in _TRUE | _FALSE:
            return value.lower() in _TRUE
        raise _bad(f"{what}: {key} must be a boolean, not {value!r}")
    if isinstance(default, int):
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, str):
            try:
                return int(value)
            except ValueError:
                pass
        raise _bad(f"{what}: {key} must be an integer, not {value!r}")
    if isinstance(default, float):
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                pass
        raise _bad(f"{what}: {key} must be a number, not {value!r}")
    if isinstance(default, str):
        if isinstance(value, str):
            return value
        raise _bad(f"{what}: {key} must be a string, not {value!r}")
    return value


def update_params(
    old: Mapping[str, Any],
    updates: Mapping[str, Any],
    defaults: Mapping[str, Any],
    what: str,
    *,
    allow_default: bool = True,
) -> dict[str, Any]:
    """``old`` with ``updates`` applied; ``"default"``/``None`` removes an override."""
    if not isinstance(updates, Mapping):
        raise _bad(f"{what} must be a dictionary")
    result = copy.deepcopy(dict(old))
    unknown = sorted(k for k in updates if k not in defaults)
    if unknown:
        raise _bad(
            f"{what}: unknown parameter(s) {', '.join(unknown)}; "
            f"valid: {', '.join(sorted(defaults))}"
        )
    for key, value in updates.items():
        if value is None or value == VALUE_DEFAULT:
            if not allow_default:
                raise _bad(f"{what}: {key} cannot be reset to the default here")
            result.pop(key, None)
        else:
            result[key] = coerce_value(key, value, defaults[key], what)
    return result


def update_diskparams(
    old: Mapping[str, Mapping[str, Any]], updates: Mapping[str, Any], what: str
) -> dict[str, dict[str, Any]]:
    """Per-template update of disk parameters (templates and keys checked)."""
    if not isinstance(updates, Mapping):
        raise _bad(f"{what} must be a dictionary of templates")
    result = {dt: dict(params) for dt, params in old.items()}
    for template, params in updates.items():
        if template not in constants.DISK_DT_DEFAULTS:
            raise _bad(f"{what}: unknown disk template {template!r}")
        if params is None or params == VALUE_DEFAULT:
            result.pop(template, None)
            continue
        new = update_params(
            result.get(template, {}),
            params,
            constants.DISK_DT_DEFAULTS[template],
            f"{what} for {template}",
        )
        if new:
            result[template] = new
        else:
            result.pop(template, None)
    return result


def update_ipolicy(
    old: Mapping[str, Any], updates: Mapping[str, Any], what: str, *, group: bool
) -> dict[str, Any]:
    """Apply ipolicy changes.  ``"default"``/``None`` drops a key (groups inherit it
    from the cluster, the cluster from the built-in policy).  ``std`` is updated
    key-wise, everything else replaced."""
    if not isinstance(updates, Mapping):
        raise _bad(f"{what} must be a dictionary")
    unknown = sorted(set(updates) - constants.IPOLICY_ALL_KEYS)
    if unknown:
        raise _bad(f"{what}: unknown key(s) {', '.join(unknown)}")
    result = copy.deepcopy(dict(old))
    for key, value in updates.items():
        if value is None or value == VALUE_DEFAULT:
            result.pop(key, None)
        elif key == constants.ISPECS_STD:
            std = update_params(
                result.get(key, {}),
                value,
                {p: 0 for p in constants.ISPECS_PARAMETERS},
                f"{what} std",
            )
            if std:
                result[key] = std
            else:
                result.pop(key, None)
        elif key == constants.ISPECS_MINMAX:
            if not isinstance(value, list) or not value:
                raise _bad(f"{what}: minmax must be a non-empty list of min/max pairs")
            pairs = []
            for pair in value:
                if not isinstance(pair, Mapping) or set(pair) != {
                    constants.ISPECS_MIN,
                    constants.ISPECS_MAX,
                }:
                    raise _bad(f"{what}: each minmax entry needs exactly 'min' and 'max'")
                pairs.append(
                    {
                        side: update_params(
                            {},
                            spec,
                            {p: 0 for p in constants.ISPECS_PARAMETERS},
                            f"{what} {side}",
                        )
                        for side, spec in pair.items()
                    }
                )
            result[key] = pairs
        elif key == constants.IPOLICY_DTS:
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise _bad(f"{what}: disk-templates must be a list of templates")
            bad = [v for v in value if v not in constants.DISK_TEMPLATES]
            if bad:
                raise _bad(f"{what}: unknown disk template(s) {', '.join(bad)}")
            result[key] = list(value)
        else:
            number = coerce_value(key, value, 1.0, what)
            if number <= 0:
                raise _bad(f"{what}: {key} must be positive")
            result[key] = number
    if not group:
        # The cluster policy must be complete once the built-in defaults are added.
        filled = fill_ipolicy(constants.IPOLICY_DEFAULTS, result)
        check_ipolicy(filled, what)
    return result


def check_ipolicy(policy: Mapping[str, Any], what: str) -> None:
    try:
        problems = IPolicy.from_dict(policy).problems()
    except (KeyError, TypeError, ValueError) as exc:
        raise _bad(f"{what} is malformed: {exc}") from None
    if problems:
        raise _bad(f"{what} is invalid: {'; '.join(problems)}")


def instance_spec(cfg: IConfigWriter, inst: Instance) -> dict[str, int]:
    """The ipolicy spec of an instance (largest disk as disk-size)."""
    be = cfg.get_cluster().fill_instance_be(inst)
    disks = cfg.config.instance_disks(inst)
    spec = {
        constants.ISPEC_MEM_SIZE: int(be[constants.BE_MAXMEM]),
        constants.ISPEC_CPU_COUNT: int(be[constants.BE_VCPUS]),
        constants.ISPEC_DISK_COUNT: len(disks),
        constants.ISPEC_NIC_COUNT: len(inst.nics),
        constants.ISPEC_SPINDLE_USE: int(be[constants.BE_SPINDLE_USE]),
    }
    if disks:
        spec[constants.ISPEC_DISK_SIZE] = max(int(d.size) for d in disks)
    return spec


def policy_violations(
    cfg: IConfigWriter, policy: IPolicy, instances: Iterable[Instance]
) -> list[str]:
    """``"<instance>: <reason>"`` for each instance the policy would not allow."""
    out: list[str] = []
    for inst in sorted(instances, key=lambda i: i.name):
        found = policy.spec_violations(instance_spec(cfg, inst))
        template = cfg.config.instance_disk_template(inst)
        if template not in policy.disk_templates:
            found.append(f"disk template {template} not allowed")
        out.extend(f"{inst.name}: {why}" for why in found)
    return out


def _group_name_free(cfg: IConfigWriter, name: str, uuid: str | None = None) -> None:
    for group in cfg.get_groups():
        if group.name == name and group.uuid != uuid:
            raise errors.OpPrereqError(
                f"Desired group name {name!r} already exists as a node group (UUID: {group.uuid})",
                errors.ECODE_EXISTS,
            )


def _state_update(old: Mapping[str, Any], updates: Mapping[str, Any] | None) -> dict[str, Any]:
    result = copy.deepcopy(dict(old))
    for key, value in (updates or {}).items():
        if value is None or value == VALUE_DEFAULT:
            result.pop(key, None)
        elif isinstance(value, Mapping):
            result[key] = {**result.get(key, {}), **value}
        else:
            raise _bad(f"state for {key!r} must be a dictionary")
    return result


@register
class LUGroupAdd(LogicalUnit):
    """Create a node group (no nodes yet)."""

    OP_ID = "OP_GROUP_ADD"
    REQ_BGL = False

    def expand_names(self) -> None:
        # The new group's lock, so nobody uses the group before it is complete.
        self.group_uuid = new_uuid()
        self.needed_locks[LEVEL_NODEGROUP] = [self.group_uuid]

    def check_prereq(self) -> None:
        op = self.op
        _group_name_free(self.cfg, op.group_name)
        what = f"node group {op.group_name!r}"
        self.ndparams = update_params(
            {}, op.ndparams or {}, constants.NDC_DEFAULTS, f"{what} ndparams"
        )
        self.diskparams = update_diskparams({}, op.diskparams or {}, f"{what} diskparams")
        self.ipolicy = update_ipolicy({}, op.ipolicy or {}, f"{what} ipolicy", group=True)
        check_ipolicy(
            fill_ipolicy(self.cfg.get_cluster().cluster_ipolicy(), self.ipolicy),
            f"{what} ipolicy",
        )
        tags = getattr(op, "tags", None) or []
        self.tags = check_tags(tags)
        check_tag_count((), self.tags, what)

    async def exec(self, feedback: Feedback) -> Any:
        op = self.op
        group = NodeGroup(
            uuid=self.group_uuid,
            name=op.group_name,
            alloc_policy=op.alloc_policy or constants.ALLOC_POLICY_PREFERRED,
            ndparams=self.ndparams,
            diskparams=self.diskparams,
            ipolicy=self.ipolicy,
            tags=set(self.tags),
            hv_state_static=_state_update({}, op.hv_state),
            disk_state_static=_state_update({}, op.disk_state),
        )
        self.cfg.add_group(group)
        await self.cfg.flush()
        return None


@register
class LUGroupRemove(LogicalUnit):
    """Remove an empty node group; the last group of the cluster stays."""

    OP_ID = "OP_GROUP_REMOVE"
    REQ_BGL = False

    def expand_names(self) -> None:
        self.group_uuid = self.cfg.lookup_group(self.op.group_name).uuid
        self.needed_locks[LEVEL_NODEGROUP] = [self.group_uuid]

    def check_prereq(self) -> None:
        group = self.cfg.get_group(self.group_uuid)
        members = sorted(n.name for n in self.cfg.get_nodes() if n.group == group.uuid)
        if members:
            raise errors.OpPrereqError(
                f"Group {group.name!r} not empty, has the following node(s): " + ", ".join(members),
                errors.ECODE_STATE,
            )
        if len(self.cfg.get_groups()) == 1:
            raise errors.OpPrereqError(
                f"Group {group.name!r} is the only group, cannot be removed", errors.ECODE_STATE
            )

    async def exec(self, feedback: Feedback) -> Any:
        self.cfg.remove_group(self.group_uuid)
        await self.cfg.flush()
        return None


@register
class LUGroupRename(LogicalUnit):
    """Rename a node group; returns the new name."""

    OP_ID = "OP_GROUP_RENAME"
    REQ_BGL = False

    def expand_names(self) -> None:
        self.group_uuid = self.cfg.lookup_group(self.op.group_name).uuid
        self.needed_locks[LEVEL_NODEGROUP] = [self.group_uuid]

    def check_prereq(self) -> None:
        _group_name_free(self.cfg, self.op.new_name, self.group_uuid)

    async def exec(self, feedback: Feedback) -> Any:
        group = self.cfg.get_group(self.group_uuid).copy()
        group.name = self.op.new_name
        self.cfg.update(group)
        await self.cfg.flush()
        return self.op.new_name


@register
class LUGroupAssignNodes(LogicalUnit):
    """Move nodes into a group.

    Moving a node away from the other node of a DRBD instance would split the instance
    across groups; that is refused unless ``force`` (then a warning is logged).
    """

    OP_ID = "OP_GROUP_ASSIGN_NODES"
    REQ_BGL = False

    def expand_names(self) -> None:
        cfg = self.cfg
        self.group_uuid = cfg.lookup_group(self.op.group_name).uuid
        uuids = [cfg.lookup_node(name).uuid for name in self.op.nodes]
        uuids += [cfg.get_node(uuid).uuid for uuid in self.op.node_uuids or []]
        self.node_uuids = list(dict.fromkeys(uuids))
        self.instance_uuids = sorted(i.uuid for i in self._instances())
        self.group_uuids = sorted(self._groups())
        self.needed_locks[LEVEL_INSTANCE] = list(self.instance_uuids)
        self.share_locks[LEVEL_INSTANCE] = True
        self.needed_locks[LEVEL_NODEGROUP] = list(self.group_uuids)
        self.needed_locks[LEVEL_NODE] = list(self.node_uuids)

    def _instances(self) -> list[Instance]:
        moving = set(self.node_uuids)
        return [
            inst
            for inst in self.cfg.get_instances()
            if moving.intersection(self.cfg.config.instance_all_nodes(inst))
        ]

    def _groups(self) -> set[str]:
        cfg = self.cfg
        groups = {self.group_uuid}
        groups.update(cfg.get_node(u).group for u in self.node_uuids)
        for inst in self._instances():
            for node_uuid in cfg.config.instance_all_nodes(inst):
                node = cfg.config.nodes.get(node_uuid)
                if node is not None:
                    groups.add(node.group)
        return groups

    def check_prereq(self) -> None:
        cfg = self.cfg
        if sorted(i.uuid for i in self._instances()) != self.instance_uuids or not (
            self._groups() <= set(self.group_uuids)
        ):
            raise errors.OpPrereqError(
                "Instances or node groups changed while waiting for locks, please retry",
                errors.ECODE_STATE,
            )
        cfg.get_group(self.group_uuid)
        new_group = {u: self.group_uuid for u in self.node_uuids}
        self.new_splits: list[str] = []
        self.old_splits: list[str] = []
        for inst in self._instances():
            if cfg.config.instance_disk_template(inst) not in constants.DTS_INT_MIRROR:
                continue
            nodes = [cfg.get_node(u) for u in cfg.config.instance_all_nodes(inst)]
            before = {n.group for n in nodes}
            after = {new_group.get(n.uuid, n.group) for n in nodes}
            if len(before) > 1:
                self.old_splits.append(inst.name)
            elif len(after) > 1:
                self.new_splits.append(inst.name)
        if self.new_splits and not self.op.force:
            raise errors.OpPrereqError(
                "Moving these nodes would split the following instance(s) between node "
                f"groups: {', '.join(sorted(self.new_splits))}; use force to move anyway",
                errors.ECODE_STATE,
            )

    async def exec(self, feedback: Feedback) -> Any:
        if self.new_splits:
            feedback(
                "WARNING: these instances are now split between node groups: "
                + ", ".join(sorted(self.new_splits))
            )
        if self.old_splits:
            feedback(
                "WARNING: these instances were already split between node groups: "
                + ", ".join(sorted(self.old_splits))
            )
        for uuid in self.node_uuids:
            node = self.cfg.get_node(uuid)
            if node.group == self.group_uuid:
                continue
            moved = node.copy()
            moved.group = self.group_uuid
            self.cfg.update(moved)
        await self.cfg.flush()
        return None


@register
class LUGroupSetParams(LogicalUnit):
    """Change a group's allocation policy, node/disk parameters, ipolicy or state.

    Returns ``[[parameter, new value], ...]`` for what changed.
    """

    OP_ID = "OP_GROUP_SET_PARAMS"
    REQ_BGL = False

    _CHANGEABLE = ("alloc_policy", "ndparams", "diskparams", "ipolicy", "hv_state", "disk_state")

    def expand_names(self) -> None:
        if all(getattr(self.op, name) is None for name in self._CHANGEABLE):
            raise errors.OpPrereqError("Please pass at least one modification", errors.ECODE_INVAL)
        self.group_uuid = self.cfg.lookup_group(self.op.group_name).uuid
        self.needed_locks[LEVEL_NODEGROUP] = [self.group_uuid]
        # Instances are only read (policy warnings): no instance locks needed.

    def check_prereq(self) -> None:
        op = self.op
        old = self.cfg.get_group(self.group_uuid)
        what = f"node group {old.name!r}"
        new = old.copy()
        if op.alloc_policy is not None:
            new.alloc_policy = op.alloc_policy
        if op.ndparams is not None:
            new.ndparams = update_params(
                old.ndparams, op.ndparams, constants.NDC_DEFAULTS, f"{what} ndparams"
            )
        if op.diskparams is not None:
            new.diskparams = update_diskparams(old.diskparams, op.diskparams, f"{what} diskparams")
        if op.ipolicy is not None:
            new.ipolicy = update_ipolicy(old.ipolicy, op.ipolicy, f"{what} ipolicy", group=True)
            check_ipolicy(
                fill_ipolicy(self.cfg.get_cluster().cluster_ipolicy(), new.ipolicy),
                f"{what} ipolicy",
            )
        if op.hv_state is not None:
            new.hv_state_static = _state_update(old.hv_state_static, op.hv_state)
        if op.disk_state is not None:
            new.disk_state_static = _state_update(old.disk_state_static, op.disk_state)
        self.new = new

    async def exec(self, feedback: Feedback) -> Any:
        op = self.op
        new = self.new
        changes: list[list[Any]] = []
        if op.alloc_policy is not None:
            changes.append(["alloc_policy", new.alloc_policy])
        if op.ndparams is not None:
            changes.append(["ndparams", str(new.ndparams)])
        if op.diskparams is not None:
            changes.append(["diskparams", str(new.diskparams)])
        if op.ipolicy is not None:
            changes.append(["ipolicy", str(new.ipolicy)])
            policy = self.cfg.get_cluster().fill_ipolicy(new)
            members = {n.uuid for n in self.cfg.get_nodes() if n.group == new.uuid}
            instances = [i for i in self.cfg.get_instances() if i.primary_node in members]
            for line in policy_violations(self.cfg, policy, instances):
                feedback(f"WARNING: instance violates the new policy: {line}")
        if op.hv_state is not None:
            changes.append(["hv_state", str(new.hv_state_static)])
        if op.disk_state is not None:
            changes.append(["disk_state", str(new.disk_state_static)])
        self.cfg.update(new)
        await self.cfg.flush()
        return changes
