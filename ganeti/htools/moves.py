"""Instance moves: simulate them vectorised, check them, apply them.

The node-level primitives (`add_pri`, `remove_pri`, `add_sec`,
`remove_sec`) transform a *block* of node columns (``cluster.dyn[:, idx]``)
for K candidates at once and return a feasibility mask.  `simulate` chains
them like Ganeti's ``applyMove`` for one move type and K (instance, target)
pairs and returns the new columns of every node the move touches; the same
code applies a chosen move (`apply_move`), so evaluating and applying can
never disagree.

Public API: `MoveType`, `Move`, `MoveOptions`, `InstBlock`, `simulate`,
`apply_move`, `plan_string`, `move_commands`, `possible_move_types`.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence

import attrs
import numpy as np

from ganeti.htools import model as m
from ganeti.htools.model import BArray, Cluster, FArray, IArray
from ganeti.htools.types import Mirror


class MoveType(enum.IntEnum):
    FAILOVER = 0
    REPLACE_SECONDARY = 1
    REPLACE_AND_FAILOVER = 2
    REPLACE_PRIMARY = 3
    FAILOVER_AND_REPLACE = 4
    FAILOVER_TO_ANY = 5


@attrs.frozen
class Move:
    inst: int
    kind: MoveType
    target: int = -1  # -1 for Failover


@attrs.frozen
class MoveOptions:
    """Options that shape which moves exist and how strictly they are checked."""

    ignore_soft_errors: bool = False
    no_disk_moves: bool = False
    no_instance_moves: bool = False
    restricted_migration: bool = False


@attrs.define
class InstBlock:
    """Instance attributes gathered for K candidates."""

    idx: IArray
    mem: FArray
    dsk: FArray
    vcpus: FArray
    su: FArray
    dsp: FArray
    util: FArray  # (4, K)
    uses_mem: BArray
    not_off: BArray
    forth: BArray
    local: BArray
    need_sec: FArray
    excl: FArray  # (K, n_excl)

    @classmethod
    def gather(cls, c: Cluster, idx: IArray) -> InstBlock:
        forth = c.i_forth[idx]
        not_off = c.i_not_offline[idx]
        need = np.where(c.i_auto_balance[idx] & not_off & ~forth, c.i_mem[idx], 0.0)
        return cls(
            idx=idx,
            mem=c.i_mem[idx],
            dsk=c.i_dsk[idx],
            vcpus=c.i_vcpus[idx],
            su=c.i_su[idx],
            dsp=c.i_dsp[idx],
            util=c.i_util[:, idx],
            uses_mem=c.i_uses_mem[idx],
            not_off=not_off,
            forth=forth,
            local=c.i_local[idx],
            need_sec=need,
            excl=c.i_excl_mat[idx],
        )


def _tag_add_delta(ib: InstBlock, counts: FArray) -> FArray:
    if ib.excl.shape[1] == 0:
        return np.zeros(len(ib.idx))
    return np.asarray((ib.excl * (counts >= 1)).sum(axis=1))


def _tag_remove_delta(ib: InstBlock, counts: FArray) -> FArray:
    if ib.excl.shape[1] == 0:
        return np.zeros(len(ib.idx))
    return np.asarray((ib.excl * (counts >= 2)).sum(axis=1))


def remove_pri(blk: FArray, st: FArray, ib: InstBlock, loc_old: FArray, tag_rm: FArray) -> FArray:
    out = blk.copy()
    real = ~ib.forth
    excl = st[m.S_EXCL] > 0
    um = ib.uses_mem
    out[m.D_U_MEM] += np.where(um, ib.mem, 0.0)
    out[m.D_I_MEM] -= np.where(um, ib.mem, 0.0)
    loc_real = ib.local & real
    out[m.D_F_DSK] += np.where(loc_real, ib.dsk, 0.0)
    out[m.D_F_SP] += np.where(loc_real & excl, ib.dsp, 0.0)
    out[m.D_INST_SP] -= np.where(loc_real & ~excl, ib.su, 0.0)
    out[m.D_U_CPU] -= np.where(real & ib.not_off, ib.vcpus, 0.0)
    out[m.D_L_CPU : m.D_L_NET + 1] -= np.where(real, ib.util, 0.0)
    out[m.D_N_PRI] -= real
    out[m.D_CONFLICTS] -= tag_rm
    out[m.D_LOC_SCORE] -= np.where(real, loc_old, 0.0)
    out[m.D_F_MEM_FORTH] += ib.mem
    out[m.D_F_DSK_FORTH] += np.where(ib.local, ib.dsk, 0.0)
    out[m.D_F_SP_FORTH] += np.where(ib.local & excl, ib.dsp, 0.0)
    out[m.D_INST_SP_FORTH] -= np.where(ib.local & ~excl, ib.su, 0.0)
    out[m.D_U_CPU_FORTH] -= np.where(ib.not_off, ib.vcpus, 0.0)
    out[m.D_FAIL_N1] = out[m.D_U_MEM] <= out[m.D_R_MEM]
    return out


def add_pri(
    blk: FArray,
    st: FArray,
    ib: InstBlock,
    force: BArray,
    loc_new: FArray,
    tag_add: FArray,
) -> tuple[FArray, BArray]:
    out = blk.copy()
    real = ~ib.forth
    excl = st[m.S_EXCL] > 0
    strict = ~force
    loc_real = ib.local & real
    new_umem = blk[m.D_U_MEM] - np.where(ib.uses_mem, ib.mem, 0.0)
    new_dsk = blk[m.D_F_DSK] - np.where(loc_real, ib.dsk, 0.0)
    new_fsp = blk[m.D_F_SP] - np.where(loc_real & excl, ib.dsp, 0.0)
    new_isp = blk[m.D_INST_SP] + np.where(loc_real & ~excl, ib.su, 0.0)
    new_ucpu = blk[m.D_U_CPU] + np.where(real & ib.not_off, ib.vcpus, 0.0)
    new_fail = new_umem <= blk[m.D_R_MEM]
    with np.errstate(divide="ignore", invalid="ignore"):
        new_pcpu = new_ucpu / st[m.S_T_CPU]
    ratio = st[m.S_VCPU_RATIO]
    new_fmf = blk[m.D_F_MEM_FORTH] - ib.mem
    new_dskf = blk[m.D_F_DSK_FORTH] - np.where(ib.local, ib.dsk, 0.0)
    new_fspf = blk[m.D_F_SP_FORTH] - np.where(ib.local & excl, ib.dsp, 0.0)
    new_ispf = blk[m.D_INST_SP_FORTH] + np.where(ib.local & ~excl, ib.su, 0.0)
    new_ucpuf = blk[m.D_U_CPU_FORTH] + np.where(ib.not_off, ib.vcpus, 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        new_pcpuf = new_ucpuf / st[m.S_T_CPU]
    lo_dsk = st[m.S_LO_DSK]
    hi_sp = st[m.S_HI_SP]
    hard = real & (
        (new_umem <= 0) | (ib.local & (new_dsk <= 0)) | (ib.local & excl & (new_fsp < 0))
    )
    hard |= ib.forth & ((new_fmf <= 0) | (ib.local & (new_dskf <= 0)))
    soft = (
        (real & ib.local & (new_dsk < lo_dsk))
        | (real & ib.local & (new_isp > hi_sp))
        | (real & new_fail & (blk[m.D_FAIL_N1] == 0))
        | (real & (ratio >= 0) & (ratio < new_pcpu))
        | (tag_add > 0)
        | (ib.local & (new_dskf < lo_dsk))
        | (ib.local & (new_ispf > hi_sp))
        | ((ratio >= 0) & (ratio < new_pcpuf))
    )
    ok = ~hard & ~(strict & soft)
    out[m.D_U_MEM] = new_umem
    out[m.D_I_MEM] += np.where(ib.uses_mem, ib.mem, 0.0)
    out[m.D_F_DSK] = new_dsk
    out[m.D_F_SP] = new_fsp
    out[m.D_INST_SP] = new_isp
    out[m.D_U_CPU] = new_ucpu
    out[m.D_L_CPU : m.D_L_NET + 1] += np.where(real, ib.util, 0.0)
    out[m.D_N_PRI] += real
    out[m.D_CONFLICTS] += tag_add
    out[m.D_LOC_SCORE] += np.where(real, loc_new, 0.0)
    out[m.D_F_MEM_FORTH] = new_fmf
    out[m.D_F_DSK_FORTH] = new_dskf
    out[m.D_F_SP_FORTH] = new_fspf
    out[m.D_INST_SP_FORTH] = new_ispf
    out[m.D_U_CPU_FORTH] = new_ucpuf
    out[m.D_FAIL_N1] = new_fail
    return out, ok


def remove_sec(blk: FArray, st: FArray, ib: InstBlock, new_rmem: FArray) -> FArray:
    out = blk.copy()
    real = ~ib.forth
    excl = st[m.S_EXCL] > 0
    out[m.D_R_MEM] = new_rmem
    out[m.D_F_DSK] += np.where(real, ib.dsk, 0.0)
    out[m.D_F_SP] += np.where(real & excl, ib.dsp, 0.0)
    out[m.D_INST_SP] -= np.where(real & ~excl, ib.su, 0.0)
    out[m.D_L_DSK] -= np.where(real, ib.util[2], 0.0)
    out[m.D_N_SEC] -= real
    out[m.D_F_DSK_FORTH] += ib.dsk
    out[m.D_F_SP_FORTH] += np.where(excl, ib.dsp, 0.0)
    out[m.D_INST_SP_FORTH] -= np.where(~excl, ib.su, 0.0)
    out[m.D_FAIL_N1] = out[m.D_U_MEM] <= out[m.D_R_MEM]
    return out


def add_sec(
    blk: FArray,
    st: FArray,
    ib: InstBlock,
    peer_before: FArray,
    force: BArray,
    ignore_disks: BArray,
) -> tuple[FArray, BArray]:
    out = blk.copy()
    real = ~ib.forth
    excl = st[m.S_EXCL] > 0
    strict = ~force
    new_rmem = np.maximum(blk[m.D_R_MEM], peer_before + ib.need_sec)
    u_mem = blk[m.D_U_MEM]
    new_fail = u_mem <= new_rmem
    new_dsk = blk[m.D_F_DSK] - np.where(real, ib.dsk, 0.0)
    new_fsp = blk[m.D_F_SP] - np.where(real & excl, ib.dsp, 0.0)
    new_isp = blk[m.D_INST_SP] + np.where(real & ~excl, ib.su, 0.0)
    new_dskf = blk[m.D_F_DSK_FORTH] - ib.dsk
    new_fspf = blk[m.D_F_SP_FORTH] - np.where(excl, ib.dsp, 0.0)
    new_ispf = blk[m.D_INST_SP_FORTH] + np.where(~excl, ib.su, 0.0)
    lo_dsk = st[m.S_LO_DSK]
    hi_sp = st[m.S_HI_SP]
    chk_dsk = ~ignore_disks
    hard = real & ((chk_dsk & (new_dsk <= 0)) | (excl & (new_fsp < 0)))
    hard |= ib.forth & chk_dsk & (new_dskf <= 0)
    soft = (
        (real & chk_dsk & (new_dsk < lo_dsk))
        | (real & (new_isp > hi_sp))
        | (real & (ib.need_sec >= u_mem))
        | (real & new_fail & (blk[m.D_FAIL_N1] == 0))
        | (chk_dsk & (new_dskf < lo_dsk))
        | (new_ispf > hi_sp)
    )
    ok = ~hard & ~(strict & soft)
    out[m.D_R_MEM] = new_rmem
    out[m.D_F_DSK] = new_dsk
    out[m.D_F_SP] = new_fsp
    out[m.D_INST_SP] = new_isp
    out[m.D_L_DSK] += np.where(real, ib.util[2], 0.0)
    out[m.D_N_SEC] += real
    out[m.D_F_DSK_FORTH] = new_dskf
    out[m.D_F_SP_FORTH] = new_fspf
    out[m.D_INST_SP_FORTH] = new_ispf
    out[m.D_FAIL_N1] = new_fail
    return out, ok


def loc_contrib(c: Cluster, inst: IArray, pri: IArray, sec: IArray) -> FArray:
    """Location score each instance adds to its primary for pair (pri, sec)."""
    val = np.zeros(len(inst))
    if c.has_location:
        has = sec >= 0
        val = np.where(has, c.loc_pair[pri, np.where(has, sec, 0)], 0.0)
    if c.has_desired:
        val = val + np.array(
            [
                float(c.desired_unsat(int(i))[int(p)]) if c.inst_desired[int(i)] else 0.0
                for i, p in zip(inst, pri)
            ]
        )
    return np.asarray(val, dtype=float)


def rmem_after_sec_removal(c: Cluster, inst: IArray) -> FArray:
    """rMem of each instance's secondary once that instance is removed from it."""
    s = c.snode[inst]
    p = c.pnode[inst]
    has = s >= 0
    s0 = np.where(has, s, 0)
    rows = c.peers[s0].copy()
    need = np.where(
        c.i_auto_balance[inst] & c.i_not_offline[inst] & ~c.i_forth[inst], c.i_mem[inst], 0.0
    )
    rows[np.arange(len(inst)), p] -= need
    return np.where(has, rows.max(axis=1) if rows.shape[1] else 0.0, 0.0)


@attrs.define
class SimResult:
    """New node columns for each touched node role, per candidate."""

    ok: BArray
    nodes: list[IArray]  # node index per role
    blocks: list[FArray]  # (NUM_DYN, K) per role
    new_pri: IArray
    new_sec: IArray


def simulate(
    c: Cluster,
    kind: MoveType,
    inst: IArray,
    target: IArray,
    opts: MoveOptions,
    rmem_s: FArray | None = None,
) -> SimResult:
    """Simulate `kind` for K (instance, target) pairs on the current state."""
    ib = InstBlock.gather(c, inst)
    p = c.pnode[inst]
    s = c.snode[inst]
    k = len(inst)
    off = c.offline
    ign = np.full(k, opts.ignore_soft_errors)
    off_p = off[p] | ign
    dyn, stat = c.dyn, c.stat
    ok = np.ones(k, bool)
    has_tags = c.i_excl_mat.shape[1] > 0

    def counts(nodes: IArray) -> FArray:
        if has_tags:
            return np.asarray(c.excl_count[nodes])
        return np.zeros((k, 0))

    def mig(a: IArray, b: IArray) -> BArray:
        if c.has_migration:
            return np.asarray(c.mig_ok[a, b])
        return np.ones(k, bool)

    s0 = np.where(s >= 0, s, 0)
    if kind in (
        MoveType.FAILOVER,
        MoveType.REPLACE_SECONDARY,
        MoveType.REPLACE_AND_FAILOVER,
        MoveType.REPLACE_PRIMARY,
        MoveType.FAILOVER_AND_REPLACE,
    ):
        if rmem_s is None:
            rmem_s = rmem_after_sec_removal(c, inst)
        loc_old = loc_contrib(c, inst, p, s)
        sp, ss = stat[:, p], stat[:, s0]
        int_s = remove_sec(dyn[:, s0], ss, ib, rmem_s)
    else:
        loc_old = loc_contrib(c, inst, p, s)
        sp = stat[:, p]
        int_s = None
    zeros_k = np.zeros(k)

    if kind == MoveType.FAILOVER:
        ok &= mig(p, s0)
        int_p = remove_pri(dyn[:, p], sp, ib, loc_old, _tag_remove_delta(ib, counts(p)))
        loc_new = loc_contrib(c, inst, s0, p)
        assert int_s is not None
        new_p, ok1 = add_pri(int_s, ss, ib, off_p, loc_new, _tag_add_delta(ib, counts(s0)))
        new_s, ok2 = add_sec(int_p, sp, ib, c.peers[p, s0], off_p, off[p])
        return SimResult(ok & ok1 & ok2, [p, s0], [new_s, new_p], s0, p)

    if kind == MoveType.FAILOVER_TO_ANY:
        t = target
        st_t = stat[:, t]
        ok &= mig(p, t)
        loc_new = loc_contrib(c, inst, t, s)
        new_t, ok1 = add_pri(dyn[:, t], st_t, ib, off_p, loc_new, _tag_add_delta(ib, counts(t)))
        new_p = remove_pri(dyn[:, p], sp, ib, loc_old, _tag_remove_delta(ib, counts(p)))
        return SimResult(ok & ok1, [p, t], [new_p, new_t], t, s)

    t = target
    st_t = stat[:, t]
    assert int_s is not None
    off_s = off[s0] | ign
    no_ign = np.zeros(k, bool)
    if kind == MoveType.REPLACE_SECONDARY:
        # The primary is removed and re-added (forced) to refresh its
        # location score; its hard checks still apply.
        int_p = remove_pri(dyn[:, p], sp, ib, loc_old, zeros_k)
        loc_new = loc_contrib(c, inst, p, t)
        new_p, ok0 = add_pri(int_p, sp, ib, np.ones(k, bool), loc_new, zeros_k)
        new_t, ok1 = add_sec(dyn[:, t], st_t, ib, c.peers[t, p], off_s, no_ign)
        return SimResult(ok & ok0 & ok1, [p, s0, t], [new_p, int_s, new_t], p, t)

    int_p = remove_pri(dyn[:, p], sp, ib, loc_old, _tag_remove_delta(ib, counts(p)))
    if kind == MoveType.REPLACE_AND_FAILOVER:
        ok &= mig(p, t)
        loc_new = loc_contrib(c, inst, t, p)
        new_t, ok1 = add_pri(dyn[:, t], st_t, ib, ign, loc_new, _tag_add_delta(ib, counts(t)))
        new_p, ok2 = add_sec(int_p, sp, ib, c.peers[p, t], off_s, no_ign)
        return SimResult(ok & ok1 & ok2, [p, s0, t], [new_p, int_s, new_t], t, p)

    if kind == MoveType.REPLACE_PRIMARY:
        ok &= mig(p, s0) & mig(s0, t)
        _, ok0 = add_pri(int_s, ss, ib, off_p, loc_old, _tag_add_delta(ib, counts(s0)))
        loc_new = loc_contrib(c, inst, t, s0)
        new_t, ok1 = add_pri(dyn[:, t], st_t, ib, off_p, loc_new, _tag_add_delta(ib, counts(t)))
        new_s, ok2 = add_sec(int_s, ss, ib, c.peers[s0, t], off_p, no_ign)
        return SimResult(ok & ok0 & ok1 & ok2, [p, s0, t], [int_p, new_s, new_t], t, s0)

    if kind == MoveType.FAILOVER_AND_REPLACE:
        ok &= mig(p, s0)
        loc_new = loc_contrib(c, inst, s0, t)
        new_s, ok1 = add_pri(int_s, ss, ib, off_p, loc_new, _tag_add_delta(ib, counts(s0)))
        new_t, ok2 = add_sec(dyn[:, t], st_t, ib, c.peers[t, s0], off_p, no_ign)
        return SimResult(ok & ok1 & ok2, [p, s0, t], [int_p, new_s, new_t], s0, t)

    raise ValueError(kind)


def apply_move(c: Cluster, mv: Move, opts: MoveOptions) -> bool:
    """Apply one move in place; returns False (and changes nothing) if infeasible."""
    inst = np.array([mv.inst], np.int64)
    tgt = np.array([max(mv.target, 0)], np.int64)
    res = simulate(c, mv.kind, inst, tgt, opts)
    if not res.ok[0]:
        return False
    i = mv.inst
    old_p, old_s = int(c.pnode[i]), int(c.snode[i])
    for nodes, blk in zip(res.nodes, res.blocks):
        c.dyn[:, int(nodes[0])] = blk[:, 0]
    new_p, new_s = int(res.new_pri[0]), int(res.new_sec[0])
    need = c.sec_needed_mem(i)
    if old_s >= 0:
        c.peers[old_s, old_p] -= need
    if new_s >= 0:
        c.peers[new_s, new_p] += need
    if old_p != new_p:
        for tag in c.inst_excl_tags[i]:
            c.p_tags[old_p][tag] -= 1
            if c.p_tags[old_p][tag] == 0:
                del c.p_tags[old_p][tag]
            c.p_tags[new_p][tag] += 1
        if c.excl_count.shape[1]:
            c.excl_count[old_p] -= c.i_excl_mat[i]
            c.excl_count[new_p] += c.i_excl_mat[i]
    c.pnode[i] = new_p
    c.snode[i] = new_s
    if old_p != new_p and c.global_map.size:
        online = c.online_mask
        if online[old_p] and not c.i_forth[i]:
            c.global_map -= np.outer(c.node_loc_mat[old_p], c.i_excl_mat[i])
        if online[new_p] and not c.i_forth[i]:
            c.global_map += np.outer(c.node_loc_mat[new_p], c.i_excl_mat[i])
    return True


def possible_move_types(c: Cluster, i: int, opts: MoveOptions) -> tuple[bool, list[MoveType]]:
    """(try Failover first?, move types per target) for instance i."""
    mirror = c.i_mirror[i]
    if mirror == Mirror.EXTERNAL:
        if opts.no_instance_moves:
            return False, []
        return False, [MoveType.FAILOVER_TO_ANY]
    if mirror != Mirror.INTERNAL:
        return False, []
    off = c.offline
    s = int(c.snode[i])
    p = int(c.pnode[i])
    sec_online = s >= 0 and not off[s]
    use_sec = sec_online and not opts.no_instance_moves
    if opts.no_disk_moves:
        return use_sec, []
    if opts.no_instance_moves:
        return False, [MoveType.REPLACE_SECONDARY]
    if opts.restricted_migration and not off[p]:
        return use_sec, [MoveType.REPLACE_SECONDARY]
    if not sec_online:
        return False, [MoveType.REPLACE_SECONDARY, MoveType.REPLACE_AND_FAILOVER]
    if opts.restricted_migration:
        return use_sec, [
            MoveType.REPLACE_SECONDARY,
            MoveType.REPLACE_AND_FAILOVER,
            MoveType.FAILOVER_AND_REPLACE,
        ]
    return use_sec, [
        MoveType.REPLACE_SECONDARY,
        MoveType.REPLACE_AND_FAILOVER,
        MoveType.REPLACE_PRIMARY,
        MoveType.FAILOVER_AND_REPLACE,
    ]


def plan_string(c: Cluster, mv: Move) -> str:
    t = c.node_alias[mv.target] if mv.target >= 0 else ""
    return {
        MoveType.FAILOVER: "f",
        MoveType.REPLACE_SECONDARY: f"r:{t}",
        MoveType.REPLACE_AND_FAILOVER: f"r:{t} f",
        MoveType.REPLACE_PRIMARY: f"f r:{t} f",
        MoveType.FAILOVER_AND_REPLACE: f"f r:{t}",
        MoveType.FAILOVER_TO_ANY: f"fa:{t}",
    }[mv.kind]


def move_commands(c: Cluster, mv: Move) -> list[str]:
    """gnt-instance command lines (without the ``gnt-instance`` prefix)."""
    name = c.inst_alias[mv.inst]
    mig = "migrate" if c.i_running[mv.inst] else "failover"
    t = c.node_alias[mv.target] if mv.target >= 0 else ""
    f = f"{mig} -f {name}"
    r = f"replace-disks -n {t} {name}"
    return {
        MoveType.FAILOVER: [f],
        MoveType.REPLACE_SECONDARY: [r],
        MoveType.REPLACE_AND_FAILOVER: [r, f],
        MoveType.REPLACE_PRIMARY: [f, r, f],
        MoveType.FAILOVER_AND_REPLACE: [f, r],
        MoveType.FAILOVER_TO_ANY: [f"{mig} -f -n {t} {name}"],
    }[mv.kind]


def involved_nodes(old_p: int, old_s: int, new_p: int, new_s: int) -> set[int]:
    return {n for n in (old_p, old_s, new_p, new_s) if n >= 0}


def moves_order(types: Sequence[MoveType]) -> dict[MoveType, int]:
    return {t: k for k, t in enumerate(types)}
