"""The cluster model: groups, nodes and instances as numpy arrays.

A `Cluster` is built once from plain records (`NodeSpec`, `InstanceSpec`,
`Group`) that any backend produces, then mutated by moves (see
`ganeti.htools.moves`).  Everything the scoring and the move code need is
kept as arrays indexed by node index (file order) or instance index (file
order); this order drives every tie-break, so backends must preserve it.

Per-node *dynamic* quantities live in one float64 matrix ``Cluster.dyn`` of
shape ``(NUM_DYN, n_nodes)`` whose rows are named by the ``D_*`` constants
(all integral quantities are exact in float64).  Gathering the columns of a
few nodes (``cluster.dyn[:, idx]``) gives a block the vectorised move
primitives can transform; scattering a block back applies a move.  Static
per-node quantities are in ``Cluster.stat`` (rows ``S_*``).

Public API used by hbal and meant for hail/hspace/hcheck:

* `NodeSpec`, `InstanceSpec`, `Group`: loader output records.
* `Cluster.build(groups, nodes, instances, cluster_tags, ipolicy, ...)`.
* name lookups: `node_index`, `instance_index`, `group_index`;
  per-entity lists `node_names`, `inst_names`, aliases `node_alias`/`inst_alias`.
* `Cluster.copy()` for what-if simulations; `Cluster.rebuilt()` recomputes
  every dynamic quantity from the instance placement (used by tests).
* helpers `group_nodes(g)`, `group_instances(g)`, `online_mask`.
"""

from __future__ import annotations

import collections
import math
from collections.abc import Iterable, Sequence

import attrs
import numpy as np
import numpy.typing as npt

from ganeti.htools.types import (
    LOCAL_STORAGE_TEMPLATES,
    MEMORY_USING_STATES,
    MIRROR_OF,
    MOVABLE_TEMPLATES,
    AllocPolicy,
    HToolsError,
    IPolicy,
    Mirror,
)

FArray = npt.NDArray[np.float64]
IArray = npt.NDArray[np.int64]
BArray = npt.NDArray[np.bool_]

# Rows of Cluster.dyn (per-node state changed by moves).
D_U_MEM = 0  # unallocated memory (uMem)
D_I_MEM = 1  # memory of memory-using primaries (iMem)
D_R_MEM = 2  # reserved memory: largest peer (rMem)
D_F_DSK = 3  # free disk
D_F_SP = 4  # free spindles (exclusive storage)
D_N_PRI = 5  # number of (non-forthcoming) primaries
D_N_SEC = 6  # number of (non-forthcoming) secondaries
D_FAIL_N1 = 7  # 1.0 if the node is not N+1 safe
D_U_CPU = 8  # used cpus (node OS + vcpus of primaries)
D_L_CPU = 9  # dynamic load vector
D_L_MEM = 10
D_L_DSK = 11
D_L_NET = 12
D_CONFLICTS = 13  # conflicting exclusion tags among primaries
D_INST_SP = 14  # spindles used by instances
D_F_MEM_FORTH = 15
D_F_DSK_FORTH = 16
D_F_SP_FORTH = 17
D_U_CPU_FORTH = 18
D_INST_SP_FORTH = 19
D_LOC_SCORE = 20  # location score of the node's primaries
NUM_DYN = 21

# Rows of Cluster.stat (per-node constants).
S_T_MEM = 0
S_T_DSK = 1
S_T_SP = 2
S_T_CPU = 3
S_SPEED = 4
S_HI_SP = 5
S_LO_DSK = 6
S_VCPU_RATIO = 7
S_EXCL = 8
S_OFFLINE = 9
S_N_MEM = 10
NUM_STAT = 11


@attrs.define
class Group:
    name: str
    uuid: str
    alloc_policy: AllocPolicy = AllocPolicy.PREFERRED
    tags: list[str] = attrs.Factory(list)
    networks: list[str] = attrs.Factory(list)
    ipolicy: IPolicy | None = None  # None: use the cluster policy


@attrs.define
class NodeSpec:
    """A node as a backend reports it (memory/disk in MiB)."""

    name: str
    t_mem: float
    n_mem: int
    f_mem: int
    t_dsk: float
    f_dsk: int
    t_cpu: float
    offline: bool
    group: int
    master: bool = False
    t_spindles: int = 1
    tags: list[str] = attrs.Factory(list)
    excl_storage: bool = False
    f_spindles: int = 0
    n_cpu: int = 1
    cpu_speed: float = 1.0
    drained: bool = False
    master_capable: bool = True
    vm_capable: bool = True
    hypervisor: str | None = None


@attrs.define
class InstanceSpec:
    name: str
    mem: int
    dsk: int
    vcpus: int
    status: str
    auto_balance: bool
    pnode: int
    snode: int  # -1: none
    template: str
    tags: list[str] = attrs.Factory(list)
    spindle_use: int = 1
    disk_spindles: int | None = None
    forthcoming: bool = False
    util: tuple[float, float, float, float] = (1.0, 1.0, 1.0, 1.0)
    disks: list[int] = attrs.Factory(list)
    nic_networks: list[str] = attrs.Factory(list)


def common_suffix(names: Sequence[str]) -> str:
    """Longest ``.domain`` suffix shared by all names (Ganeti's alias rule)."""
    if not names:
        return ""
    first = names[0]
    parts = first.split(".")
    best = ""
    for k in range(1, len(parts)):
        cand = "." + ".".join(parts[k:])
        if all(n.endswith(cand) and len(n) > len(cand) for n in names):
            best = cand
            break
    return best


class Cluster:
    """The whole cluster: static data, per-node dynamic state, placements."""

    def __init__(self) -> None:
        self.groups: list[Group] = []
        self.cluster_tags: list[str] = []
        self.ipolicy: IPolicy = IPolicy()
        self.suffix = ""
        # nodes
        self.node_names: list[str] = []
        self.node_alias: list[str] = []
        self.node_tags: list[list[str]] = []
        self.node_specs: list[NodeSpec] = []
        self.node_group: IArray = np.zeros(0, np.int64)
        self.node_master: BArray = np.zeros(0, bool)
        self.node_f_mem: IArray = np.zeros(0, np.int64)  # as loaded
        self.node_x_mem: IArray = np.zeros(0, np.int64)
        self.node_n_cpu: IArray = np.zeros(0, np.int64)
        self.node_loc_tags: list[frozenset[str]] = []
        self.node_mig_tags: list[frozenset[str]] = []
        self.node_recv_mig_tags: list[frozenset[str]] = []
        self.stat: FArray = np.zeros((NUM_STAT, 0))
        self.dyn: FArray = np.zeros((NUM_DYN, 0))
        self.peers: FArray = np.zeros((0, 0))
        self.p_tags: list[collections.Counter[str]] = []
        # instances
        self.inst_names: list[str] = []
        self.inst_alias: list[str] = []
        self.inst_specs: list[InstanceSpec] = []
        self.inst_tags: list[list[str]] = []
        self.inst_excl_tags: list[list[str]] = []
        self.inst_desired: list[list[str]] = []
        self.pnode: IArray = np.zeros(0, np.int64)
        self.snode: IArray = np.zeros(0, np.int64)
        self.i_mem: FArray = np.zeros(0)
        self.i_dsk: FArray = np.zeros(0)
        self.i_vcpus: FArray = np.zeros(0)
        self.i_su: FArray = np.zeros(0)
        self.i_dsp: FArray = np.zeros(0)  # disk spindles (exclusive storage)
        self.i_util: FArray = np.zeros((4, 0))
        self.i_uses_mem: BArray = np.zeros(0, bool)
        self.i_not_offline: BArray = np.zeros(0, bool)
        self.i_auto_balance: BArray = np.zeros(0, bool)
        self.i_forth: BArray = np.zeros(0, bool)
        self.i_local: BArray = np.zeros(0, bool)
        self.i_running: BArray = np.zeros(0, bool)
        self.i_mirror: list[Mirror] = []
        self.i_template: list[str] = []
        self.i_status: list[str] = []
        self.movable: BArray = np.zeros(0, bool)
        self.split_instances: list[int] = []
        # exclusion tag / location structures for vectorised tag scoring
        self.excl_tag_ids: dict[str, int] = {}
        self.i_excl_mat: FArray = np.zeros((0, 0))  # (n_inst, n_excl) 0/1
        self.loc_tag_ids: dict[str, int] = {}
        self.node_loc_mat: FArray = np.zeros((0, 0))  # (n_nodes, n_loc) 0/1
        self.loc_pair: FArray = np.zeros((0, 0))  # |loc(a) & loc(b)|
        self.has_location = False
        self.has_desired = False
        self.has_migration = False
        self.mig_ok: BArray = np.zeros((0, 0), bool)
        self.excl_count: FArray = np.zeros((0, 0))  # (n_nodes, n_excl) tags of primaries
        self.global_map: FArray = np.zeros((0, 0))  # (n_loc, n_excl) counts, online nodes
        self.n1_rule = "3.0.2"
        self._node_idx: dict[str, int] = {}
        self._inst_idx: dict[str, int] = {}
        self._desired_cache: dict[int, FArray] = {}

    # ------------------------------------------------------------ lookups
    @property
    def n_nodes(self) -> int:
        return len(self.node_names)

    @property
    def n_instances(self) -> int:
        return len(self.inst_names)

    @property
    def offline(self) -> BArray:
        return self.stat[S_OFFLINE] > 0

    @property
    def online_mask(self) -> BArray:
        return self.stat[S_OFFLINE] == 0

    def node_index(self, name: str) -> int:
        return self._node_idx[name]

    def instance_index(self, name: str) -> int:
        return self._inst_idx[name]

    def group_index(self, name_or_uuid: str) -> int:
        for i, g in enumerate(self.groups):
            if name_or_uuid in (g.name, g.uuid):
                return i
        raise KeyError(name_or_uuid)

    def group_nodes(self, g: int) -> IArray:
        return np.flatnonzero(self.node_group == g)

    def group_instances(self, g: int) -> IArray:
        if self.n_instances == 0:
            return np.zeros(0, np.int64)
        return np.flatnonzero(self.node_group[self.pnode] == g)

    def node_policy(self, n: int) -> IPolicy:
        pol = self.groups[int(self.node_group[n])].ipolicy
        return pol if pol is not None else self.ipolicy

    def primaries(self, n: int) -> list[int]:
        return [int(i) for i in np.flatnonzero((self.pnode == n) & ~self.i_forth)]

    def secondaries(self, n: int) -> list[int]:
        return [int(i) for i in np.flatnonzero((self.snode == n) & ~self.i_forth)]

    def sec_needed_mem(self, i: int) -> float:
        ok = self.i_auto_balance[i] and self.i_not_offline[i] and not self.i_forth[i]
        return float(self.i_mem[i]) if ok else 0.0

    # ------------------------------------------------------------ building
    @classmethod
    def build(
        cls,
        groups: list[Group],
        nodes: list[NodeSpec],
        instances: list[InstanceSpec],
        cluster_tags: list[str],
        ipolicy: IPolicy,
        extra_excl_prefixes: Iterable[str] = (),
        n1_rule: str = "3.0.2",
    ) -> Cluster:
        """Run Ganeti's load-time post-processing and compute node state."""
        c = cls()
        c.n1_rule = n1_rule
        c.groups = groups
        c.cluster_tags = list(cluster_tags)
        c.ipolicy = ipolicy
        c.node_specs = nodes
        c.inst_specs = instances
        nn, ni = len(nodes), len(instances)
        c.node_names = [n.name for n in nodes]
        c.inst_names = [i.name for i in instances]
        c._node_idx = {n: k for k, n in enumerate(c.node_names)}
        c._inst_idx = {n: k for k, n in enumerate(c.inst_names)}
        c.suffix = common_suffix(c.node_names + c.inst_names)
        cut = len(c.suffix)
        c.node_alias = [n[: len(n) - cut] if cut else n for n in c.node_names]
        c.inst_alias = [n[: len(n) - cut] if cut else n for n in c.inst_names]
        c.node_tags = [list(n.tags) for n in nodes]
        c.inst_tags = [list(i.tags) for i in instances]

        # cluster tag derived prefixes
        excl_prefixes = [
            t[len("htools:iextags:") :] for t in cluster_tags if t.startswith("htools:iextags:")
        ]
        excl_prefixes += [p + ":" for p in extra_excl_prefixes]
        desired_prefixes = [
            t[len("htools:desiredlocation:") :]
            for t in cluster_tags
            if t.startswith("htools:desiredlocation:")
        ]
        loc_prefixes = [
            t[len("htools:nlocation:") :] for t in cluster_tags if t.startswith("htools:nlocation:")
        ]
        mig_prefixes = [
            t[len("htools:migration:") :] for t in cluster_tags if t.startswith("htools:migration:")
        ]
        allow_mig = []
        for t in cluster_tags:
            if t.startswith("htools:allowmigration:"):
                rest = t[len("htools:allowmigration:") :]
                if "::" in rest:
                    x, y = rest.split("::", 1)
                    allow_mig.append((x, y))

        c.inst_excl_tags = [
            [t for t in i.tags if any(t.startswith(p) for p in excl_prefixes)] for i in instances
        ]
        c.inst_desired = [
            [t for t in i.tags if any(t.startswith(p) for p in desired_prefixes)] for i in instances
        ]
        c.has_desired = any(c.inst_desired)
        c.node_loc_tags = [
            frozenset(t for t in n.tags if any(t.startswith(p + ":") for p in loc_prefixes))
            for n in nodes
        ]
        c.has_location = any(c.node_loc_tags)
        c.node_mig_tags = [
            frozenset(t for t in n.tags if any(t.startswith(p + ":") for p in mig_prefixes))
            for n in nodes
        ]
        c.node_recv_mig_tags = [
            mt | frozenset(x for (x, y) in allow_mig if y in mt) for mt in c.node_mig_tags
        ]
        c.has_migration = any(c.node_mig_tags) or any(c.node_recv_mig_tags)
        if c.has_migration:
            c.mig_ok = np.array(
                [[a <= b for b in c.node_recv_mig_tags] for a in c.node_mig_tags], dtype=bool
            ).reshape(nn, nn)
        else:
            c.mig_ok = np.ones((0, 0), bool)

        # static node arrays
        c.node_group = np.array([n.group for n in nodes], np.int64)
        c.node_master = np.array([n.master for n in nodes], bool)
        c.node_f_mem = np.array([n.f_mem for n in nodes], np.int64)
        c.node_n_cpu = np.array([n.n_cpu for n in nodes], np.int64)
        st = np.zeros((NUM_STAT, nn))
        for k, n in enumerate(nodes):
            pol = groups[n.group].ipolicy if n.group < len(groups) else None
            pol = pol if pol is not None else ipolicy
            st[S_T_MEM, k] = n.t_mem
            st[S_T_DSK, k] = n.t_dsk
            st[S_T_SP, k] = n.t_spindles
            st[S_T_CPU, k] = n.t_cpu
            st[S_SPEED, k] = n.cpu_speed
            st[S_HI_SP, k] = pol.spindle_ratio * float(n.t_spindles)
            st[S_LO_DSK, k] = 0.0
            st[S_VCPU_RATIO, k] = pol.vcpu_ratio
            st[S_EXCL, k] = 1.0 if n.excl_storage else 0.0
            st[S_OFFLINE, k] = 1.0 if n.offline else 0.0
            st[S_N_MEM, k] = n.n_mem
        c.stat = st

        # instance arrays
        c.pnode = np.array([i.pnode for i in instances], np.int64).reshape(ni)
        c.snode = np.array([i.snode for i in instances], np.int64).reshape(ni)
        c.i_mem = np.array([i.mem for i in instances], float).reshape(ni)
        c.i_dsk = np.array([i.dsk for i in instances], float).reshape(ni)
        c.i_vcpus = np.array([i.vcpus for i in instances], float).reshape(ni)
        c.i_su = np.array([i.spindle_use for i in instances], float).reshape(ni)
        c.i_dsp = np.array([i.disk_spindles or 0 for i in instances], float).reshape(ni)
        c.i_util = np.array([i.util for i in instances], float).reshape(ni, 4).T.copy()
        c.i_forth = np.array([i.forthcoming for i in instances], bool).reshape(ni)
        c.i_uses_mem = np.array(
            [i.status in MEMORY_USING_STATES and not i.forthcoming for i in instances], bool
        ).reshape(ni)
        c.i_not_offline = np.array([i.status != "ADMIN_offline" for i in instances], bool).reshape(
            ni
        )
        c.i_running = np.array([i.status in ("running", "ERROR_up") for i in instances], bool)
        c.i_running = c.i_running.reshape(ni)
        c.i_auto_balance = np.array([i.auto_balance for i in instances], bool).reshape(ni)
        c.i_local = np.array([i.template in LOCAL_STORAGE_TEMPLATES for i in instances], bool)
        c.i_local = c.i_local.reshape(ni)
        c.i_template = [i.template for i in instances]
        c.i_status = [i.status for i in instances]
        c.i_mirror = [MIRROR_OF[i.template] for i in instances]
        c.movable = np.array([i.template in MOVABLE_TEMPLATES for i in instances], bool)
        c.movable = c.movable.reshape(ni)
        split = [
            k
            for k, i in enumerate(instances)
            if i.snode >= 0 and nodes[i.snode].group != nodes[i.pnode].group
        ]
        c.split_instances = split
        if split:
            c.movable[split] = False

        # tag matrices
        excl_all = sorted({t for ts in c.inst_excl_tags for t in ts})
        c.excl_tag_ids = {t: k for k, t in enumerate(excl_all)}
        c.i_excl_mat = np.zeros((ni, len(excl_all)))
        for k, ts in enumerate(c.inst_excl_tags):
            for t in ts:
                c.i_excl_mat[k, c.excl_tag_ids[t]] += 1.0
        loc_all = sorted({t for ts in c.node_loc_tags for t in ts})
        c.loc_tag_ids = {t: k for k, t in enumerate(loc_all)}
        c.node_loc_mat = np.zeros((nn, len(loc_all)))
        for k, lts in enumerate(c.node_loc_tags):
            for t in lts:
                c.node_loc_mat[k, c.loc_tag_ids[t]] = 1.0
        if c.has_location:
            c.loc_pair = c.node_loc_mat @ c.node_loc_mat.T
        else:
            c.loc_pair = np.zeros((0, 0))
        c._desired_cache = {}

        # memory bookkeeping that is frozen at load time
        i_mem_tot = np.zeros(nn)
        for k, i in enumerate(instances):
            if c.i_uses_mem[k]:
                i_mem_tot[i.pnode] += i.mem
        rec_free = np.array([math.trunc(n.t_mem) - n.n_mem for n in nodes], float) - i_mem_tot
        c.node_x_mem = (rec_free - c.node_f_mem).astype(np.int64)
        c._recompute_dynamic()
        return c

    def desired_unsat(self, i: int) -> FArray:
        """Per node: desired-location tags of instance i the node lacks."""
        got = self._desired_cache.get(i)
        if got is None:
            want = self.inst_desired[i]
            got = np.array(
                [float(len([w for w in want if w not in lt])) for lt in self.node_loc_tags]
            )
            self._desired_cache[i] = got
        return got

    def inst_loc_contrib(self, i: int, pri: int, sec: int) -> float:
        """Location score an instance adds to its primary node for pair (pri, sec)."""
        val = 0.0
        if self.has_location and sec >= 0:
            val += float(self.loc_pair[pri, sec])
        if self.has_desired and self.inst_desired[i]:
            val += float(self.desired_unsat(i)[pri])
        return val

    def _recompute_dynamic(self) -> None:
        """Compute every D_* row, peers and tag counters from the placement."""
        nn = self.n_nodes
        dyn = np.zeros((NUM_DYN, nn))
        peers = np.zeros((nn, nn))
        excl = self.stat[S_EXCL] > 0
        self.p_tags = [collections.Counter() for _ in range(nn)]
        self.excl_count = np.zeros((nn, len(self.excl_tag_ids)))
        i_mem_tot = np.zeros(nn)
        # Reported free memory/disk/spindles are frozen at load time; the
        # state is "reported free + what the load-time placement used - what
        # the current placement uses" so this works after moves too.
        all_pri_mem = np.zeros(nn)
        used_dsk = np.zeros(nn)
        used_sp = np.zeros(nn)
        forth_dsk = np.zeros(nn)
        forth_sp = np.zeros(nn)
        u_cpu = self.node_n_cpu.astype(float).copy()
        u_cpu_forth = u_cpu.copy()
        for i in range(self.n_instances):
            p = int(self.pnode[i])
            s = int(self.snode[i])
            forth = bool(self.i_forth[i])
            mem = float(self.i_mem[i])
            local = bool(self.i_local[i])
            all_pri_mem[p] += mem
            if self.i_uses_mem[i]:
                i_mem_tot[p] += mem
            if self.i_not_offline[i]:
                u_cpu_forth[p] += self.i_vcpus[i]
                if not forth:
                    u_cpu[p] += self.i_vcpus[i]
            for t in self.inst_excl_tags[i]:
                self.p_tags[p][t] += 1
                self.excl_count[p, self.excl_tag_ids[t]] += 1
            nodes_of = [p] if s < 0 else [p, s]
            for n in nodes_of:
                if local and not excl[n]:
                    dyn[D_INST_SP_FORTH, n] += self.i_su[i]
                    if not forth:
                        dyn[D_INST_SP, n] += self.i_su[i]
                if local:
                    tgt_dsk, tgt_sp = (forth_dsk, forth_sp) if forth else (used_dsk, used_sp)
                    tgt_dsk[n] += self.i_dsk[i]
                    if excl[n]:
                        tgt_sp[n] += self.i_dsp[i]
            if forth:
                continue
            dyn[D_N_PRI, p] += 1
            dyn[D_L_CPU : D_L_NET + 1, p] += self.i_util[:, i]
            dyn[D_LOC_SCORE, p] += self.inst_loc_contrib(i, p, s)
            if s >= 0:
                dyn[D_N_SEC, s] += 1
                dyn[D_L_DSK, s] += self.i_util[2, i]
                peers[s, p] += self.sec_needed_mem(i)
        rec_free = (
            np.trunc(self.stat[S_T_MEM]) - self.stat[S_N_MEM] - i_mem_tot
        )  # recorded free memory
        dyn[D_I_MEM] = i_mem_tot
        dyn[D_U_MEM] = rec_free - np.maximum(0, self.node_x_mem)
        dyn[D_R_MEM] = peers.max(axis=1) if nn else np.zeros(0)
        if not hasattr(self, "_load_usage"):
            self._load_usage = (i_mem_tot.copy(), used_dsk.copy(), used_sp.copy())
        imem0, dsk0, sp0 = self._load_usage
        f_dsk = np.array([n.f_dsk for n in self.node_specs], float).reshape(nn) + dsk0 - used_dsk
        f_sp = np.array([n.f_spindles for n in self.node_specs], float).reshape(nn) + sp0 - used_sp
        f_mem_forth = self.node_f_mem.astype(float) + imem0 - all_pri_mem
        f_dsk_forth = f_dsk - forth_dsk
        f_sp_forth = f_sp - forth_sp
        dyn[D_F_DSK] = f_dsk
        dyn[D_F_SP] = f_sp
        dyn[D_U_CPU] = u_cpu
        dyn[D_F_MEM_FORTH] = f_mem_forth
        dyn[D_F_DSK_FORTH] = f_dsk_forth
        dyn[D_F_SP_FORTH] = f_sp_forth
        dyn[D_U_CPU_FORTH] = u_cpu_forth
        for n in range(nn):
            ex = sum(v - 1 for v in self.p_tags[n].values() if v > 1)
            dyn[D_CONFLICTS, n] = ex
        if self.n1_rule == "3.0.2":
            dyn[D_FAIL_N1] = (self.node_f_mem < dyn[D_R_MEM]).astype(float)
        else:
            dyn[D_FAIL_N1] = (dyn[D_U_MEM] <= dyn[D_R_MEM]).astype(float)
        self.dyn = dyn
        self.peers = peers
        self._recompute_global_map()

    def _recompute_global_map(self) -> None:
        nl, ne = len(self.loc_tag_ids), len(self.excl_tag_ids)
        gm = np.zeros((nl, ne))
        if nl and ne:
            online = self.online_mask
            for i in range(self.n_instances):
                p = int(self.pnode[i])
                if self.i_forth[i] or not online[p]:
                    continue
                gm += np.outer(self.node_loc_mat[p], self.i_excl_mat[i])
        self.global_map = gm

    def copy(self) -> Cluster:
        new = Cluster.__new__(Cluster)
        new.__dict__.update(self.__dict__)
        new.dyn = self.dyn.copy()
        new.peers = self.peers.copy()
        new.pnode = self.pnode.copy()
        new.snode = self.snode.copy()
        new.p_tags = [collections.Counter(c) for c in self.p_tags]
        new.excl_count = self.excl_count.copy()
        new.global_map = self.global_map.copy()
        new.movable = self.movable.copy()
        new.stat = self.stat.copy()
        return new

    def rebuilt(self) -> Cluster:
        """A copy whose dynamic state is recomputed from scratch (failN1 by uMem)."""
        new = self.copy()
        flags = self.dyn[D_FAIL_N1].copy()
        new._recompute_dynamic()
        new.dyn[D_FAIL_N1] = flags
        return new

    def set_offline(self, nodes: Iterable[int]) -> None:
        for n in nodes:
            self.stat[S_OFFLINE, n] = 1.0
        self._recompute_global_map()

    def inst_nodes_str(self, i: int) -> tuple[str, str]:
        p = self.node_alias[int(self.pnode[i])]
        s = int(self.snode[i])
        return p, (self.node_alias[s] if s >= 0 else "")


def lookup_instances(cluster: Cluster, names: Iterable[str]) -> list[int]:
    """Resolve names exactly or by a unique prefix ending at a '.' boundary."""
    found: list[int] = []
    unknown: list[str] = []
    for name in names:
        if name in cluster._inst_idx:
            found.append(cluster._inst_idx[name])
            continue
        matches = [k for k, full in enumerate(cluster.inst_names) if full.startswith(name + ".")]
        if len(matches) == 1:
            found.append(matches[0])
        else:
            unknown.append(name)
    if unknown:
        raise HToolsError("Unknown instance(s): " + ", ".join(unknown))
    return found
