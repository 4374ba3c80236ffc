"""hspace: cluster capacity estimation (same options and output as Ganeti's)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import TextIO

import numpy as np

from ganeti.htools import hspace as hs
from ganeti.htools import score as sc
from ganeti.htools.alloc import FAIL_NAMES
from ganeti.htools.backend.text import ClusterData, serialize_cluster
from ganeti.htools.cli import common
from ganeti.htools.model import Cluster
from ganeti.htools.output import node_table, parse_node_fields
from ganeti.htools.types import DISK_TEMPLATES, HToolsError

USAGE = """Usage: hspace [OPTION...]
  -t FILE   --text-data=FILE        the cluster data FILE
  --simulate=SPEC                   simulate an empty cluster
  --machine-readable[=CHOICE]       print HTS_* key=value pairs
  --tiered-alloc=DISK,RAM,CPU[,SPN] tiered allocation start spec
  --standard-alloc=DISK,RAM,CPU[,SPN] standard allocation spec
  --disk-template=TEMPLATE          disk template of the new instances
  --spindle-use=N                   spindle use of the new instances
  -l N      --max-length=N          allocate at most N instances per mode
  --no-capacity-checks              skip the global N+1 check
  --independent-groups              ignore groups that are not N+1 happy
  --accept-existing-errors          accept existing N+1 violations
  -O NODE, -p[FIELDS], -S FILE, --max-cpu, --min-disk, -v, -q
"""


def make_parser() -> argparse.ArgumentParser:
    p = common.make_parser("hspace")
    p.add_argument("--simulate", "--simu", dest="simulate", action="append", default=[])
    p.add_argument(
        "--machine-readable", dest="machine_readable", nargs="?", const="yes", default="no"
    )
    p.add_argument("--tiered-alloc", dest="tiered_alloc")
    p.add_argument("--standard-alloc", dest="standard_alloc")
    p.add_argument("--disk-template", dest="disk_template")
    p.add_argument("--spindle-use", dest="spindle_use", type=int)
    p.add_argument("-l", "--max-length", dest="max_length", type=int, default=-1)
    p.add_argument("--no-capacity-checks", action="store_true")
    p.add_argument("--independent-groups", action="store_true")
    p.add_argument(
        "--accept-existing-errors", "--accept-existing", dest="accept_existing", action="store_true"
    )
    return p


def parse_rspec(text: str, what: str) -> hs.RSpec:
    from ganeti.htools.backend.simu import parse_unit

    parts = text.split(",")
    if len(parts) not in (3, 4):
        raise HToolsError(f"Invalid {what} specification: '{text}'")
    try:
        dsk = parse_unit(parts[0])
        mem = parse_unit(parts[1])
        cpu = int(parts[2])
        spn = int(parts[3]) if len(parts) == 4 else 1
    except (ValueError, HToolsError):
        raise HToolsError(f"Invalid {what} specification: '{text}'") from None
    if min(dsk, mem, cpu, spn) <= 0:
        raise HToolsError(f"Invalid {what} specification: '{text}'")
    return hs.RSpec(mem, dsk, cpu, spn)


def _quote(value: str) -> str:
    if all(ch.isalnum() or ch == "." for ch in value):
        return value
    return "'" + value + "'"


def haskell_show(value: float) -> str:
    """Haskell's ``show`` of a Double (fixed notation for 0.1 <= x < 1e7)."""
    if value == 0:
        return "0.0"
    if 0.1 <= abs(value) < 1e7:
        text = repr(float(value))
        return text if "." in text else text + ".0"
    mant, _, exp = f"{value:e}".partition("e")
    digits = repr(float(value) / 10 ** int(exp))
    del mant
    return f"{digits}e{int(exp)}"


def _stats_keys(prefix: str, cs: hs.CStats) -> list[tuple[str, str]]:
    def ratio(a: float, b: float) -> str:
        return f"{a / b:.8f}" if b else "NaN"

    return [
        (f"{prefix}_SCORE", f"{cs.score:.8f}"),
        (f"{prefix}_INST_CNT", str(cs.n_inst)),
        (f"{prefix}_MEM_FREE", str(cs.f_mem)),
        (f"{prefix}_MEM_AVAIL", str(cs.a_mem)),
        (f"{prefix}_MEM_RESVD", str(cs.f_mem - cs.a_mem)),
        (f"{prefix}_MEM_INST", str(cs.i_mem)),
        (f"{prefix}_MEM_OVERHEAD", str(cs.x_mem + cs.n_mem)),
        (f"{prefix}_MEM_EFF", ratio(cs.i_mem, cs.t_mem)),
        (f"{prefix}_DSK_FREE", str(cs.f_dsk)),
        (f"{prefix}_DSK_AVAIL", str(cs.a_dsk)),
        (f"{prefix}_DSK_RESVD", str(cs.f_dsk - cs.a_dsk)),
        (f"{prefix}_DSK_INST", str(cs.i_dsk)),
        (f"{prefix}_DSK_EFF", ratio(cs.i_dsk, cs.t_dsk)),
        (f"{prefix}_SPN_FREE", str(cs.f_spn)),
        (f"{prefix}_SPN_INST", str(cs.i_spn)),
        (f"{prefix}_SPN_EFF", ratio(cs.i_spn, cs.t_spn)),
        (f"{prefix}_CPU_INST", str(cs.i_cpu)),
        (f"{prefix}_CPU_EFF", ratio(cs.i_cpu, cs.vcpu)),
        (f"{prefix}_MNODE_MEM_AVAIL", str(cs.m_mem)),
        (f"{prefix}_MNODE_DSK_AVAIL", str(cs.m_dsk)),
    ]


def _spec_keys(prefix: str, rs: hs.RSpec, req: int, template: str) -> list[tuple[str, str]]:
    return [
        (f"{prefix}_MEM", str(rs.mem)),
        (f"{prefix}_DSK", str(rs.dsk)),
        (f"{prefix}_CPU", str(rs.cpu)),
        (f"{prefix}_SPN", str(rs.spn)),
        (f"{prefix}_RQN", str(req)),
        (f"{prefix}_DISK_TEMPLATE", template),
    ]


def _km_keys(ini: hs.CStats, fin: hs.CStats) -> list[tuple[str, str]]:
    used = (ini.i_cpu, ini.n_cpu, ini.i_mem, ini.i_dsk, ini.i_spn)
    pool = (
        fin.i_cpu - ini.i_cpu,
        fin.n_cpu - ini.n_cpu,
        fin.i_mem - ini.i_mem,
        fin.i_dsk - ini.i_dsk,
        fin.i_spn - ini.i_spn,
    )
    unav = (
        fin.vcpu - fin.i_cpu,
        fin.t_cpu - fin.n_cpu,
        int(fin.t_mem) - fin.i_mem,
        int(fin.t_dsk) - fin.i_dsk,
        int(fin.t_spn) - fin.i_spn,
    )
    out: list[tuple[str, str]] = []
    for name, vals in (("USED", used), ("POOL", pool), ("UNAV", unav)):
        cpu, npu, mem, dsk, spn = vals
        out += [
            (f"KM_{name}_CPU", str(int(cpu))),
            (f"KM_{name}_NPU", haskell_show(float(npu))),
            (f"KM_{name}_MEM", str(int(mem))),
            (f"KM_{name}_DSK", str(int(dsk))),
            (f"KM_{name}_SPN", str(int(spn))),
        ]
    return out


def _eff_lines(cs: hs.CStats, excl: bool) -> list[str]:
    def pct(a: float, b: float) -> float:
        return 100.0 * a / b if b else float("nan")  # printed as NaN below

    rows = [
        ("memory", pct(cs.i_mem, cs.t_mem)),
        ("disk", pct(cs.i_dsk, cs.t_dsk)),
        ("vcpu", pct(cs.i_cpu, cs.vcpu)),
    ]
    if excl:
        rows.append(("spindles", pct(cs.i_spn, cs.t_spn)))
    width = max(len(r[0]) for r in rows)
    return [
        f"  - {name:>{width}} usage efficiency: " + ("  NaN" if val != val else f"{val:5.2f}") + "%"
        for name, val in rows
    ]


def _reason_name(reasons: list[tuple[int, int]]) -> str:
    return FAIL_NAMES[reasons[0][0]]


def format_machine(res: hs.HspaceResult) -> list[str]:
    ini = hs.total_resources(res.initial)
    trl = hs.total_resources(res.tiered.cluster, res.tiered.touched)
    fin = hs.total_resources(res.standard.cluster, res.standard.touched)
    c = res.initial
    keys: list[tuple[str, str]] = [
        ("CLUSTER_MEM", f"{ini.t_mem:.0f}"),
        ("CLUSTER_DSK", f"{ini.t_dsk:.0f}"),
        ("CLUSTER_CPU", f"{ini.t_cpu:.0f}"),
        ("CLUSTER_VCPU", str(ini.vcpu)),
        ("CLUSTER_SPN", f"{ini.t_spn:.0f}"),
        ("CLUSTER_NODES", str(c.n_nodes)),
    ]
    keys += _stats_keys("INI", ini)
    keys += _spec_keys("TSPEC_INI", res.tiered_spec, res.req_nodes, res.disk_template)
    keys += _stats_keys("TRL", trl)
    tspec = " ".join(f"{s.mem},{s.dsk},{s.cpu},{s.spn}={n}" for s, n in res.tiered.spec_map())
    keys.append(("TSPEC", tspec))
    keys += _km_keys(ini, trl)
    keys += _spec_keys("SPEC", res.std_spec, res.req_nodes, res.disk_template)
    keys += _stats_keys("FIN", fin)
    n_ini = c.n_instances
    allocs = len(res.standard.specs)
    total = n_ini + allocs
    keys += [
        ("ALLOC_USAGE", f"{n_ini / total:.8f}" if total else "NaN"),
        ("ALLOC_INSTANCES", str(allocs)),
        ("ALLOC_FAIL_REASON", _reason_name(res.standard.reasons).upper()),
    ]
    keys += [(f"ALLOC_{FAIL_NAMES[k].upper()}_CNT", str(v)) for k, v in res.standard.reasons]
    keys.append(("OK", "1"))
    return [f"HTS_{k}={_quote(v)}" for k, v in keys]


def format_human(res: hs.HspaceResult) -> list[str]:
    c = res.initial
    ini = hs.total_resources(c)
    excl_any = hs.have_excl_storage(c)
    res_line = f"MEM {ini.t_mem:.0f}, DSK {ini.t_dsk:.0f}, CPU {ini.t_cpu:.0f}, VCPU {ini.vcpu}"
    if excl_any:
        res_line += f", SPN {ini.t_spn:.0f}"
    out = [f"The cluster has {c.n_nodes} nodes and the following resources:", f"  {res_line}."]
    if c.n_instances == 0:
        out.append("There are no initial instances on the cluster.")
    else:
        out.append(f"There are {c.n_instances} initial instances on the cluster.")
    ini_score = f"{ini.score:.8f}"
    # tiered
    out.append("Tiered (initial size) instance spec is:")
    out.append(f"  {res.tiered_spec.short(excl_any)}, using disk template '{res.disk_template}'.")
    out.append("Tiered allocation results:")
    smap = res.tiered.spec_map()
    if not smap:
        out.append("  - no instances allocated")
    for s, n in smap:
        out.append(f"  - {n:3d} instances of spec {s.short(excl_any)}")
    trl = hs.total_resources(res.tiered.cluster, res.tiered.touched)
    out.append(f"  - most likely failure reason: {_reason_name(res.tiered.reasons)}")
    out.append(f"  - initial cluster score: {ini_score}")
    out.append(f"  -   final cluster score: {trl.score:.8f}")
    out += _eff_lines(trl, excl_any)
    # standard
    out.append("Standard (fixed-size) instance spec is:")
    out.append(f"  {res.std_spec.short(excl_any)}, using disk template '{res.disk_template}'.")
    fin = hs.total_resources(res.standard.cluster, res.standard.touched)
    out.append("Normal (fixed-size) allocation results:")
    out.append(f"  - {len(res.standard.specs):3d} instances allocated")
    out.append(f"  - most likely failure reason: {_reason_name(res.standard.reasons)}")
    out.append(f"  - initial cluster score: {ini_score}")
    out.append(f"  -   final cluster score: {fin.score:.8f}")
    out += _eff_lines(fin, excl_any)
    return out


def _load(opts: argparse.Namespace) -> ClusterData:
    if opts.simulate:
        if opts.text_data is not None:
            raise HToolsError("Only one of the rapi, luxi, and data files options should be given.")
        from ganeti.htools.backend.simu import load_simulation

        return load_simulation(opts.simulate)
    return common.load_data(opts)


def _nodes_block(c: Cluster, title: str, fields: list[str]) -> str:
    lines = node_table(c, np.arange(c.n_nodes), fields)
    return "\n" + title + " status:\n" + "".join(x + "\n" for x in lines) + "\n"


def run(argv: Sequence[str], out: TextIO, err: TextIO) -> int:
    parser = make_parser()
    try:
        opts = common.parse_common(parser, argv)
    except common.UsageError as exc:
        err.write(f"Error while parsing command line arguments:\n{exc}\n{USAGE}")
        return 2
    if opts.help:
        out.write(USAGE)
        return 0
    if opts.version:
        out.write("hspace (ganeti-py) version 3.0.2-compatible\n")
        return 0
    if opts.help_completion:
        return 0
    if opts.args:
        raise HToolsError("This program doesn't take any arguments.")
    if opts.machine_readable not in ("yes", "no"):
        raise HToolsError(f"Invalid --machine-readable value '{opts.machine_readable}'")
    machine = opts.machine_readable == "yes"
    if opts.disk_template is not None and opts.disk_template not in DISK_TEMPLATES:
        raise HToolsError(f"Invalid disk template '{opts.disk_template}'")
    hopts = hs.HspaceOptions(
        disk_template=opts.disk_template,
        tiered_spec=parse_rspec(opts.tiered_alloc, "tiered") if opts.tiered_alloc else None,
        std_spec=parse_rspec(opts.standard_alloc, "standard") if opts.standard_alloc else None,
        limit=None if opts.max_length < 0 else opts.max_length,
        capacity_checks=not opts.no_capacity_checks,
        independent_groups=opts.independent_groups,
        accept_existing=opts.accept_existing,
        spindle_use=opts.spindle_use,
        ignore_soft_errors=opts.ignore_soft_errors,
    )
    verbose = 1 + opts.verbose - opts.quiet
    data = _load(opts)
    c = common.build_cluster(data, opts, err)
    fields: list[str] | None = None
    if opts.print_nodes is not None:
        fields = parse_node_fields(opts.print_nodes)
        try:
            node_table(c, [], fields)
        except KeyError as exc:
            raise HToolsError(f"Unknown field '{exc.args[0]}'") from None
        err.write(_nodes_block(c, "Initial cluster", fields))
    if verbose > 2:
        err.write(
            f"Initial coefficients: overall {sc.cluster_score(c, np.arange(c.n_nodes)):.8f}\n"
        )
        vals = sc.detailed_score(c, np.arange(c.n_nodes))
        err.write("".join(" " + x + "\n" for x in sc.format_metrics(vals)))
    res = hs.run_hspace(c, hopts)
    if verbose > 2:
        names = ",".join(f'"{c.groups[g].name}"' for g in res.bad_groups)
        err.write(f"Bad groups: [{names}]\n")
        kind = "Left" if res.req_nodes == 1 else "Right"
        err.write(f"Allocatable nodes: {kind} [{','.join(str(n) for n in res.alloc_nodes)}]\n")
    for title, run_ in (("Tiered allocation", res.tiered), ("Standard allocation", res.standard)):
        if fields is not None:
            err.write(_nodes_block(run_.cluster, title, fields))
        if opts.save:
            suffix = "tiered" if run_ is res.tiered else "standard"
            path = f"{opts.save}.{suffix}"
            try:
                with open(path, "w", encoding="utf-8") as fh:
                    fh.write(serialize_cluster(run_.cluster))
            except OSError as exc:
                raise HToolsError(f"cannot write {path}: {exc}") from None
            if verbose > 0 and not machine:
                pass
    lines = format_machine(res) if machine else format_human(res)
    out.write("".join(x + "\n" for x in lines))
    return 0


def main() -> None:
    out, err = sys.stdout, sys.stderr
    try:
        code = run(sys.argv[1:], out, err)
    except common.RawError as exc:
        err.write(f"{exc}\n")
        code = 1
    except HToolsError as exc:
        err.write(f"Error: {exc}\n")
        code = 1
    sys.exit(code)
