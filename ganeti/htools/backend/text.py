"""The text backend (``-t FILE``): parse and serialize Ganeti's cluster files.

Format (see htools(1)): sections separated by one empty line: groups,
nodes, instances, cluster tags, optional instance policies.  Fields are
separated by ``|``; lists inside a field by ``,``.
"""

from __future__ import annotations

import attrs

from ganeti.htools.model import D_F_DSK, Cluster, Group, InstanceSpec, NodeSpec
from ganeti.htools.types import (
    DISK_TEMPLATES,
    INSTANCE_STATES,
    AllocPolicy,
    HToolsError,
    IPolicy,
    ISpec,
    MinMax,
)


@attrs.define
class ClusterData:
    """Loader output: plain records, before `Cluster.build` post-processing."""

    groups: list[Group]
    nodes: list[NodeSpec]
    instances: list[InstanceSpec]
    cluster_tags: list[str]
    ipolicy: IPolicy


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise HToolsError(f"cannot parse string '{text}'") from None


def _float(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise HToolsError(f"cannot parse string '{text}'") from None


def _bool_yn(text: str, what: str) -> bool:
    if text == "Y":
        return True
    if text == "N":
        return False
    raise HToolsError(f"Invalid {what} value '{text}'")


def _split_list(text: str) -> list[str]:
    return [t for t in text.split(",") if t] if text else []


def split_sections(text: str) -> list[list[str]]:
    sections: list[list[str]] = [[]]
    for line in text.split("\n"):
        if line == "":
            sections.append([])
        else:
            sections[-1].append(line)
    # a final newline produces one trailing empty section marker
    if text.endswith("\n") and sections and not sections[-1]:
        sections.pop()
    return sections


def parse_ipolicy(fields: list[str]) -> IPolicy:
    if len(fields) != 5:
        raise HToolsError("Invalid ipolicy line: " + "|".join(fields))
    std = ISpec.parse(fields[0])
    mm_parts = fields[1].split(";")
    if len(mm_parts) % 2 != 0 or not mm_parts:
        raise HToolsError(f"Invalid minmax specification '{fields[1]}'")
    minmax = tuple(
        MinMax(ISpec.parse(mm_parts[k]), ISpec.parse(mm_parts[k + 1]))
        for k in range(0, len(mm_parts), 2)
    )
    dts = tuple(_split_list(fields[2]))
    for d in dts:
        if d not in DISK_TEMPLATES:
            raise HToolsError(f"Invalid disk template '{d}'")
    return IPolicy(minmax, std, dts, _float(fields[3]), _float(fields[4]))


def parse_text(text: str) -> ClusterData:
    sections = split_sections(text)
    if len(sections) < 4:
        raise HToolsError("Invalid/incomplete data file: fewer than 4 sections")
    gsec, nsec, isec, tsec = sections[:4]
    psec = sections[4] if len(sections) > 4 else []

    groups: list[Group] = []
    uuid_idx: dict[str, int] = {}
    for line in gsec:
        f = line.split("|")
        if len(f) not in (4, 5):
            raise HToolsError(f"Invalid group line '{line}'")
        nets = _split_list(f[4]) if len(f) == 5 else []
        uuid_idx[f[1]] = len(groups)
        groups.append(Group(f[0], f[1], AllocPolicy.parse(f[2]), _split_list(f[3]), nets))

    nodes: list[NodeSpec] = []
    node_idx: dict[str, int] = {}
    for line in nsec:
        f = line.split("|")
        if not 9 <= len(f) <= 15:
            raise HToolsError(f"Invalid node line '{line}'")
        name = f[0]
        if f[8] not in uuid_idx:
            raise HToolsError(f"Unknown group '{f[8]}' for node {name}")
        gidx = uuid_idx[f[8]]
        role = f[7]
        if role not in ("Y", "N", "M"):
            raise HToolsError(f"Invalid node role '{role}' for node {name}")
        extra = f[9:] + [""] * (15 - len(f))
        t_sp = _int(extra[0]) if extra[0] else 1
        tags = _split_list(extra[1])
        excl = _bool_yn(extra[2], "exclusive storage") if extra[2] else False
        f_sp = _int(extra[3]) if extra[3] else 0
        n_cpu = _int(extra[4]) if extra[4] else 1
        speed = _float(extra[5]) if extra[5] else 1.0
        offline = role == "Y"
        if any(v == "?" for v in f[1:7]):
            offline = True
            tm, nm, fm, td, fd, tc = 0.0, 0, 0, 0.0, 0, 0.0
        else:
            tm, nm, fm = _float(f[1]), _int(f[2]), _int(f[3])
            td, fd, tc = _float(f[4]), _int(f[5]), _float(f[6])
        node_idx[name] = len(nodes)
        nodes.append(
            NodeSpec(
                name=name,
                t_mem=tm,
                n_mem=nm,
                f_mem=fm,
                t_dsk=td,
                f_dsk=fd,
                t_cpu=tc,
                offline=offline,
                group=gidx,
                master=role == "M",
                t_spindles=t_sp,
                tags=tags,
                excl_storage=excl,
                f_spindles=f_sp,
                n_cpu=n_cpu,
                cpu_speed=speed,
            )
        )

    instances: list[InstanceSpec] = []
    for line in isec:
        f = line.split("|")
        if not 10 <= len(f) <= 13:
            raise HToolsError(f"Invalid instance line '{line}'")
        name = f[0]
        status = f[4]
        if status not in INSTANCE_STATES:
            raise HToolsError(f"Invalid instance status '{status}' for instance {name}")
        template = f[8]
        if template not in DISK_TEMPLATES:
            raise HToolsError(f"Invalid disk template '{template}' for instance {name}")
        if f[6] not in node_idx:
            raise HToolsError(f"Unknown node '{f[6]}' for instance {name}")
        pnode = node_idx[f[6]]
        snode = -1
        if f[7]:
            if f[7] not in node_idx:
                raise HToolsError(f"Unknown node '{f[7]}' for instance {name}")
            snode = node_idx[f[7]]
        if template == "drbd" and snode == pnode:
            raise HToolsError(f"Instance {name} has the same primary and secondary node")
        extra = f[10:] + [""] * (13 - len(f))
        su = _int(extra[0]) if extra[0] else 1
        dsp = None if extra[1] in ("", "-") else _int(extra[1])
        forth = _bool_yn(extra[2], "forthcoming") if extra[2] else False
        dsk = _int(f[2])
        instances.append(
            InstanceSpec(
                name=name,
                mem=_int(f[1]),
                dsk=dsk,
                vcpus=_int(f[3]),
                status=status,
                auto_balance=_bool_yn(f[5], "auto_balance"),
                pnode=pnode,
                snode=snode,
                template=template,
                tags=_split_list(f[9]),
                spindle_use=su,
                disk_spindles=dsp,
                forthcoming=forth,
                disks=[dsk],
            )
        )

    cluster_tags = list(tsec)
    ipolicy = IPolicy()
    group_by_name = {g.name: k for k, g in enumerate(groups)}
    for line in psec:
        f = line.split("|")
        owner, rest = f[0], f[1:]
        pol = parse_ipolicy(rest)
        if owner == "":
            ipolicy = pol
        elif owner in group_by_name:
            groups[group_by_name[owner]].ipolicy = pol
        else:
            raise HToolsError(f"Unknown group '{owner}' in ipolicy line")
    return ClusterData(groups, nodes, instances, cluster_tags, ipolicy)


def load_text_file(path: str) -> ClusterData:
    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
    except OSError as err:
        raise HToolsError(f"failed to load data, aborting: {err}") from None
    try:
        return parse_text(text)
    except HToolsError as err:
        raise HToolsError(f"failed to load data, aborting: {err}") from None


def _fmt_f(value: float) -> str:
    """Haskell printf %f: six decimals."""
    return f"{value:f}"


def serialize_cluster(c: Cluster) -> str:
    """Write the cluster in text-backend format (fMem as loaded, fDsk current)."""
    out: list[str] = []
    for g in c.groups:
        out.append(
            f"{g.name}|{g.uuid}|{g.alloc_policy.value}|{','.join(g.tags)}|{','.join(g.networks)}"
        )
    out.append("")
    for k, n in enumerate(c.node_specs):
        role = "Y" if c.offline[k] else ("M" if n.master else "N")
        out.append(
            "|".join(
                [
                    n.name,
                    f"{n.t_mem:.0f}",
                    str(n.n_mem),
                    str(n.f_mem),
                    f"{n.t_dsk:.0f}",
                    str(int(c.dyn[D_F_DSK, k])),
                    f"{n.t_cpu:.0f}",
                    role,
                    c.groups[n.group].uuid,
                    str(n.t_spindles),
                    ",".join(n.tags),
                    "Y" if n.excl_storage else "N",
                    str(n.f_spindles),
                    str(n.n_cpu),
                    repr(float(n.cpu_speed)),
                ]
            )
        )
    out.append("")
    for k, i in enumerate(c.inst_specs):
        s = int(c.snode[k])
        out.append(
            "|".join(
                [
                    i.name,
                    str(i.mem),
                    str(i.dsk),
                    str(i.vcpus),
                    i.status,
                    "Y" if i.auto_balance else "N",
                    c.node_names[int(c.pnode[k])],
                    c.node_names[s] if s >= 0 else "",
                    i.template,
                    ",".join(i.tags),
                    str(i.spindle_use),
                    "-" if i.disk_spindles is None else str(i.disk_spindles),
                    "Y" if i.forthcoming else "N",
                ]
            )
        )
    out.append("")
    out.extend(c.cluster_tags)
    out.append("")
    out.append("|" + c.ipolicy.serialize())
    for g in c.groups:
        pol = g.ipolicy if g.ipolicy is not None else c.ipolicy
        out.append(f"{g.name}|{pol.serialize()}")
    return "\n".join(out) + "\n"
