"""The cluster score: twenty weighted metrics, exact like the reference.

The score of a node list is ``sum(weight_i * value_i)`` over the metrics in
`METRICS` order.  Standard deviations are *population* standard deviations
computed two-pass with left folds in node-index order (``np.cumsum`` is a
strict left fold), so the results agree bit for bit with Ganeti's htools.

Public API:

* `METRICS` — (name, weight, kind) rows; kind is ``sd`` (over online
  nodes), ``sum`` (online), ``off`` (offline nodes only) or ``map``.
* `node_values(dyn, stat)` — per-node metric inputs (`NUM_NODE_VALUES`
  rows) for a block of node columns; used both for full and incremental
  scoring so the two cannot drift apart.
* `detailed_score(cluster, nodes)` — the twenty metric values.
* `total_score(values)`, `cluster_score(cluster, nodes)`.
* `optimal_score(cluster, nodes)` — lower bound due to N+1 reservations.
* `location_map(cluster, nodes)` — (location tag, exclusion tag) counts.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from ganeti.htools import model as m
from ganeti.htools.model import Cluster, FArray, IArray

# (name, weight, aggregation). Order matters: it is the summation order.
METRICS: tuple[tuple[str, float, str], ...] = (
    ("free_mem_cv", 0.5, "sd"),
    ("free_disk_cv", 0.5, "sd"),
    ("n1_cnt", 1.0, "sum"),
    ("reserved_mem_cv", 1.0, "sd"),
    ("offline_all_cnt", 4.0, "off"),
    ("offline_pri_cnt", 16.0, "off"),
    ("vcpu_ratio_cv", 0.5, "sd"),
    ("cpu_load_cv", 1.0, "sd"),
    ("mem_load_cv", 1.0, "sd"),
    ("disk_load_cv", 1.0, "sd"),
    ("net_load_cv", 1.0, "sd"),
    ("pri_tags_score", 2.0, "sum"),
    ("spindles_cv", 0.5, "sd"),
    ("free_mem_cv_forth", 0.5, "sd"),
    ("free_disk_cv_forth", 0.5, "sd"),
    ("vcpu_ratio_cv_forth", 0.5, "sd"),
    ("spindles_cv_forth", 0.5, "sd"),
    ("location_score", 1.0, "sum"),
    ("location_exclusion_score", 1.0, "map"),
    ("reserved_mem_rtotal", 0.25, "sum"),
)
WEIGHTS = np.array([w for _, w, _ in METRICS])
MAP_METRIC = 18
# node_values rows map to metrics 0..17; metric 19 reuses row 3 (pRem).
NUM_NODE_VALUES = 18
SD_ROWS = np.array([k for k, (_, _, kind) in enumerate(METRICS[:18]) if kind == "sd"])
SUM_ROWS = np.array([k for k, (_, _, kind) in enumerate(METRICS[:18]) if kind == "sum"])
OFF_ROWS = np.array([k for k, (_, _, kind) in enumerate(METRICS[:18]) if kind == "off"])
RTOTAL_ROW = 3


def _safe_div(a: FArray, b: FArray) -> FArray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.asarray(a / b)


def node_values(dyn: FArray, stat: FArray) -> FArray:
    """Per-node metric inputs for node columns; shape (18, K)."""
    t_mem = stat[m.S_T_MEM]
    t_dsk = stat[m.S_T_DSK]
    t_sp = stat[m.S_T_SP]
    excl = stat[m.S_EXCL] > 0
    t_cpu = stat[m.S_T_CPU]
    speed = stat[m.S_SPEED]
    hi_sp = stat[m.S_HI_SP]
    out = np.empty((NUM_NODE_VALUES, *dyn.shape[1:]))
    out[0] = _safe_div(dyn[m.D_U_MEM], t_mem)
    dsk = np.where(t_dsk == 0, 1.0, _safe_div(dyn[m.D_F_DSK], t_dsk))
    spf = np.where(t_sp == 0, 1.0, _safe_div(dyn[m.D_F_SP], t_sp))
    out[1] = np.where(excl, spf, dsk)
    cnt = dyn[m.D_N_PRI] + dyn[m.D_N_SEC]
    out[2] = np.where(dyn[m.D_FAIL_N1] > 0, cnt, 0.0)
    out[3] = _safe_div(dyn[m.D_R_MEM], t_mem)
    out[4] = cnt
    out[5] = dyn[m.D_N_PRI]
    out[6] = _safe_div(_safe_div(dyn[m.D_U_CPU], t_cpu), speed)
    out[7] = dyn[m.D_L_CPU]
    out[8] = dyn[m.D_L_MEM]
    out[9] = dyn[m.D_L_DSK]
    out[10] = dyn[m.D_L_NET]
    out[11] = dyn[m.D_CONFLICTS]
    out[12] = _safe_div(dyn[m.D_INST_SP], hi_sp)
    out[13] = _safe_div(dyn[m.D_F_MEM_FORTH], t_mem)
    dskf = np.where(t_dsk == 0, 1.0, _safe_div(dyn[m.D_F_DSK_FORTH], t_dsk))
    spff = np.where(t_sp == 0, 1.0, _safe_div(dyn[m.D_F_SP_FORTH], t_sp))
    out[14] = np.where(excl, spff, dskf)
    out[15] = _safe_div(_safe_div(dyn[m.D_U_CPU_FORTH], t_cpu), speed)
    out[16] = _safe_div(dyn[m.D_INST_SP_FORTH], hi_sp)
    out[17] = dyn[m.D_LOC_SCORE]
    return out


def location_map(c: Cluster, nodes: Sequence[int] | IArray) -> FArray:
    """(location tag, exclusion tag) counts over primaries on online `nodes`."""
    nl, ne = len(c.loc_tag_ids), len(c.excl_tag_ids)
    gm = np.zeros((nl, ne))
    if not (nl and ne):
        return gm
    sel = np.zeros(c.n_nodes, bool)
    sel[np.asarray(nodes, dtype=np.int64)] = True
    sel &= c.online_mask
    for i in range(c.n_instances):
        p = int(c.pnode[i])
        if sel[p] and not c.i_forth[i]:
            gm += np.outer(c.node_loc_mat[p], c.i_excl_mat[i])
    return gm


def map_value(gm: FArray) -> float:
    return float(gm.sum() - np.count_nonzero(gm))


def exact_sd_rows(x: FArray) -> FArray:
    """Two-pass population std-dev along the last axis, left-fold sums."""
    n = x.shape[-1]
    if n == 0:
        return np.zeros(x.shape[:-1])
    s = np.cumsum(x, axis=-1)[..., -1]
    mean = s / float(n)
    d = x - mean[..., None]
    var = np.cumsum(d * d, axis=-1)[..., -1] / float(n)
    return np.asarray(np.sqrt(var))


def exact_sum_rows(x: FArray) -> FArray:
    if x.shape[-1] == 0:
        return np.zeros(x.shape[:-1])
    return np.asarray(np.cumsum(x, axis=-1)[..., -1])


def metrics_from_values(vals_on: FArray, vals_off: FArray, map_val: FArray | float) -> FArray:
    """Twenty metric values from node values of online / offline nodes.

    ``vals_on`` has shape (..., 18, n_online), ``vals_off`` (..., 18, n_off).
    """
    lead = vals_on.shape[:-2]
    out = np.zeros((*lead, len(METRICS)))
    out[..., SD_ROWS] = exact_sd_rows(vals_on[..., SD_ROWS, :])
    out[..., SUM_ROWS] = exact_sum_rows(vals_on[..., SUM_ROWS, :])
    out[..., OFF_ROWS] = exact_sum_rows(vals_off[..., OFF_ROWS, :])
    out[..., MAP_METRIC] = map_val
    out[..., 19] = exact_sum_rows(vals_on[..., RTOTAL_ROW, :])
    return out


def total_score(values: FArray) -> FArray:
    """Weighted sum, accumulated left to right from 0 like the reference."""
    acc = np.zeros(values.shape[:-1])
    for k in range(len(METRICS)):
        acc = acc + WEIGHTS[k] * values[..., k]
    return acc


def detailed_score(c: Cluster, nodes: Sequence[int] | IArray) -> list[float]:
    idx = np.asarray(nodes, dtype=np.int64)
    vals = node_values(c.dyn[:, idx], c.stat[:, idx])
    off = c.offline[idx]
    met = metrics_from_values(vals[:, ~off], vals[:, off], map_value(location_map(c, idx)))
    return [float(v) for v in met]


def cluster_score(c: Cluster, nodes: Sequence[int] | IArray) -> float:
    return float(total_score(np.array(detailed_score(c, nodes))))


def optimal_score(c: Cluster, nodes: Sequence[int] | IArray) -> float:
    """Lower bound of the score: the reserved-memory total of a perfect cluster."""
    idx = [int(n) for n in nodes]
    if len(idx) <= 1:
        return 0.0
    t_mem = c.stat[m.S_T_MEM]
    total = 0.0
    for n in idx:
        total += float(t_mem[n])
    biggest = max(float(t_mem[n]) for n in idx)
    drbd = 0.0
    for n in idx:
        drbd += float(c.peers[n].sum())
    rest = total - biggest
    if rest <= 0:
        return 0.0
    return 0.25 * (drbd / rest - drbd / total)


def format_metrics(values: Sequence[float]) -> list[str]:
    """Rows of the ``-v -v -v`` coefficient table."""
    from ganeti.htools.output import format_table

    rows = [[name, _fmt8(val), f"x{weight:.2f}"] for (name, weight, _), val in zip(METRICS, values)]
    return [
        "  " + line
        for line in format_table(["Field", "Value", "Weight"], rows, [False, True, True])
    ]


def _fmt8(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    return f"{value:.8f}"
