"""Text output shared by the htools programs: node/instance tables, numbers.

`node_table(cluster, nodes, fields)` and `instance_table(cluster, insts)`
return the table lines exactly as Ganeti prints them (one leading space,
columns separated by one space, numbers right-aligned).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np

from ganeti.htools import model as m
from ganeti.htools.model import Cluster, IArray

DEFAULT_NODE_FIELDS = (
    "status name tmem nmem imem xmem fmem umem rmem tdsk fdsk tcpu ucpu pcnt scnt "
    "pfmem pfdsk rcpu cload mload dload nload"
).split()

NODE_HEADERS: dict[str, tuple[str, bool]] = {
    "idx": ("Index", True),
    "name": ("Name", False),
    "fqdn": ("Name", False),
    "status": ("F", False),
    "tmem": ("t_mem", True),
    "nmem": ("n_mem", True),
    "xmem": ("x_mem", True),
    "fmem": ("f_mem", True),
    "imem": ("i_mem", True),
    "umem": ("u_mem", True),
    "rmem": ("r_mem", True),
    "amem": ("a_mem", True),
    "tdsk": ("t_dsk", True),
    "fdsk": ("f_dsk", True),
    "tcpu": ("pcpu", True),
    "ucpu": ("vcpu", True),
    "pcnt": ("pcnt", True),
    "scnt": ("scnt", True),
    "plist": ("primaries", True),
    "slist": ("secondaries", True),
    "pfmem": ("p_fmem", True),
    "pfdsk": ("p_fdsk", True),
    "rcpu": ("r_cpu", True),
    "cload": ("lCpu", True),
    "mload": ("lMem", True),
    "dload": ("lDsk", True),
    "nload": ("lNet", True),
    "ptags": ("PrimaryTags", False),
    "peermap": ("PeerMap", False),
    "spindle_count": ("NodeSpindles", True),
    "hi_spindles": ("MaxSpindles", True),
    "inst_spindles": ("InstSpindles", True),
}


def haskell_g(value: float, prec: int = 6) -> str:
    """Haskell printf ``%.<prec>g``: fixed notation iff 0.1 <= |x| < 10^7."""
    if value == 0 or math.isnan(value) or math.isinf(value):
        return f"{value:.{prec}f}" if value == 0 else str(value)
    exp10 = math.floor(math.log10(abs(value))) + 1
    if exp10 < 0 or exp10 > 7:
        mant, _, exp = f"{value:.{prec}e}".partition("e")
        return f"{mant}e{int(exp)}"
    return f"{value:.{prec}f}"


def format_table(
    header: Sequence[str], rows: Sequence[Sequence[str]], numeric: Sequence[bool]
) -> list[str]:
    cols = list(zip(header, *rows)) if rows else [(h,) for h in header]
    widths = [max(len(v) for v in col) for col in cols]
    lines = []
    for row in [list(header), *[list(r) for r in rows]]:
        parts = [v.rjust(w) if num else v.ljust(w) for v, w, num in zip(row, widths, numeric)]
        lines.append(" " + " ".join(parts))
    return lines


def _node_field(c: Cluster, n: int, field: str) -> str:
    d = c.dyn[:, n]
    st = c.stat[:, n]
    t_mem = st[m.S_T_MEM]
    getters: dict[str, Callable[[], str]] = {
        "idx": lambda: str(n),
        "name": lambda: c.node_alias[n],
        "fqdn": lambda: c.node_names[n],
        "status": lambda: "-" if st[m.S_OFFLINE] else ("*" if d[m.D_FAIL_N1] else " "),
        "tmem": lambda: f"{t_mem:.0f}",
        "nmem": lambda: f"{st[m.S_N_MEM]:.0f}",
        "xmem": lambda: str(int(c.node_x_mem[n])),
        "fmem": lambda: str(int(c.node_f_mem[n])),
        "imem": lambda: f"{d[m.D_I_MEM]:.0f}",
        "umem": lambda: f"{d[m.D_U_MEM]:.0f}",
        "rmem": lambda: f"{d[m.D_R_MEM]:.0f}",
        "amem": lambda: f"{max(0.0, d[m.D_U_MEM] - d[m.D_R_MEM]):.0f}",
        "tdsk": lambda: f"{st[m.S_T_DSK] / 1024:.0f}",
        "fdsk": lambda: str(int(d[m.D_F_DSK]) // 1024),
        "tcpu": lambda: f"{st[m.S_T_CPU]:.0f}",
        "ucpu": lambda: f"{d[m.D_U_CPU]:.0f}",
        "pcnt": lambda: f"{d[m.D_N_PRI]:.0f}",
        "scnt": lambda: f"{d[m.D_N_SEC]:.0f}",
        "plist": lambda: ",".join(c.inst_alias[i] for i in c.primaries(n)),
        "slist": lambda: ",".join(c.inst_alias[i] for i in c.secondaries(n)),
        "pfmem": lambda: f"{_div(d[m.D_U_MEM], t_mem):.4f}",
        "pfdsk": lambda: f"{_pdsk(c, n):.4f}",
        "rcpu": lambda: f"{_div(d[m.D_U_CPU], st[m.S_T_CPU]):.2f}",
        "cload": lambda: f"{d[m.D_L_CPU]:.3f}",
        "mload": lambda: f"{d[m.D_L_MEM]:.3f}",
        "dload": lambda: f"{d[m.D_L_DSK]:.3f}",
        "nload": lambda: f"{d[m.D_L_NET]:.3f}",
        "ptags": lambda: ",".join(f"{k}={v}" for k, v in sorted(c.p_tags[n].items())),
        "peermap": lambda: ",".join(
            f"{c.node_alias[int(k)]}={c.peers[n, k]:.0f}" for k in np.flatnonzero(c.peers[n])
        ),
        "spindle_count": lambda: f"{st[m.S_T_SP]:.0f}",
        "hi_spindles": lambda: f"{st[m.S_HI_SP]:.2f}",
        "inst_spindles": lambda: f"{d[m.D_INST_SP]:.2f}",
    }
    return getters[field]()


def _div(a: float, b: float) -> float:
    return float(a) / float(b) if b else 0.0


def _pdsk(c: Cluster, n: int) -> float:
    st = c.stat[:, n]
    if st[m.S_EXCL]:
        return _div(c.dyn[m.D_F_SP, n], st[m.S_T_SP]) if st[m.S_T_SP] else 1.0
    if st[m.S_T_DSK] == 0:
        return 1.0
    return float(c.dyn[m.D_F_DSK, n]) / float(st[m.S_T_DSK])


def parse_node_fields(spec: str | None) -> list[str]:
    """``-p`` argument: none = defaults, ``+a,b`` = defaults plus a, b."""
    if not spec:
        return list(DEFAULT_NODE_FIELDS)
    if spec.startswith("+"):
        extra = [f for f in spec[1:].split(",") if f]
        return list(DEFAULT_NODE_FIELDS) + extra
    return [f for f in spec.split(",") if f]


def node_table(c: Cluster, nodes: Sequence[int] | IArray, fields: Sequence[str]) -> list[str]:
    for f in fields:
        if f not in NODE_HEADERS:
            raise KeyError(f)
    header = [NODE_HEADERS[f][0] for f in fields]
    numeric = [NODE_HEADERS[f][1] for f in fields]
    rows = [[_node_field(c, int(n), f) for f in fields] for n in nodes]
    return format_table(header, rows, numeric)


def instance_table(c: Cluster, insts: Sequence[int] | IArray) -> list[str]:
    header = [
        "F",
        "Name",
        "Pri_node",
        "Sec_node",
        "Auto_bal",
        "vcpu",
        "mem",
        "dsk",
        "lCpu",
        "lMem",
        "lDsk",
        "lNet",
    ]
    numeric = [False, False, False, False, False, True, True, True, True, True, True, True]
    rows = []
    for i in insts:
        i = int(i)
        pn = c.node_names[int(c.pnode[i])]
        sn = c.node_names[int(c.snode[i])] if c.snode[i] >= 0 else ""
        util = c.i_util[:, i]
        rows.append(
            [
                "R" if c.i_status[i] == "running" else " ",
                c.inst_names[i],
                pn,
                sn,
                "Y" if c.i_auto_balance[i] else "N",
                f"{c.i_vcpus[i]:.0f}",
                f"{c.i_mem[i]:5.0f}",
                f"{int(c.i_dsk[i]) // 1024:5d}",
                *(f"{u:.3f}" for u in util),
            ]
        )
    return format_table(header, rows, numeric)
