"""The RAPI backend (``-m CLUSTER``): load a cluster from a Ganeti remote API.

Reads ``/2/groups?bulk=1``, ``/2/nodes?bulk=1``, ``/2/instances?bulk=1`` and
``/2/info`` (cluster tags, ipolicy, master; ``/2/tags`` if ``/2/info`` has no
tags), exactly the resources Ganeti's htools read, so it works against
Ganeti's RAPI daemon and ours (both return the default bulk field lists).

Address forms, like Ganeti's ``-m``:

* ``HOST`` -> ``https://HOST:5080``; ``HOST:PORT`` -> ``https://HOST:PORT``
  (``[v6addr]`` and ``[v6addr]:PORT`` too);
* a URL ``http(s)://[USER:PASSWORD@]HOST[:PORT][/prefix]``; credentials in
  the URL are sent with HTTP Basic authentication (libcurl's convention,
  which Ganeti's htools use); read access is anonymous on Ganeti's RAPI;
* ``file://DIR``: read ``DIR/{groups,nodes,instances,info}.json`` (Ganeti's
  test convention, used by its shelltests).

HTTPS certificates are not verified by default (as Ganeti's htools do);
``ca_file`` (``--rapi-ca-file``) enables verification against that CA.

The record-to-model conversion (:func:`build_data`) is shared with the LUXI
backend, which maps its query rows onto the same dictionaries.
"""

from __future__ import annotations

import base64
import json
import ssl
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from ganeti.htools.backend.iallocator import parse_ipolicy
from ganeti.htools.backend.text import ClusterData
from ganeti.htools.model import Group, InstanceSpec, NodeSpec
from ganeti.htools.types import (
    DISK_TEMPLATES,
    INSTANCE_STATES,
    AllocPolicy,
    HToolsError,
    IPolicy,
)

DEFAULT_PORT = 5080
TIMEOUT = 60.0

# Resource paths, as Ganeti's htools request them.
GROUPS_PATH = "/2/groups?bulk=1"
NODES_PATH = "/2/nodes?bulk=1"
INSTANCES_PATH = "/2/instances?bulk=1"
INFO_PATH = "/2/info"
TAGS_PATH = "/2/tags"

# A fetcher takes a resource path (e.g. ``/2/nodes?bulk=1``) and returns the body.
Fetcher = Callable[[str], str]

Record = Mapping[str, Any]


# --- model building (shared with the LUXI backend) ----------------------------------


def _field(rec: Record, key: str, owner: str) -> Any:
    if key not in rec:
        raise HToolsError(f"{owner}, error while parsing data: key '{key}' not found")
    return rec[key]


def _num(value: Any, key: str, owner: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise HToolsError(f"{owner}, error while parsing data: key '{key}': not a number")
    return value


def _live(rec: Record, key: str, owner: str, live: bool, default: float) -> float:
    """A live value: the default when the node is not live (offline, not vm_capable)."""
    if not live:
        return default
    return _num(_field(rec, key, owner), key, owner)


def parse_group(rec: Record) -> Group:
    name = _field(rec, "name", "Parsing new group")
    owner = f"Group '{name}'"
    return Group(
        name=str(name),
        uuid=str(_field(rec, "uuid", owner)),
        alloc_policy=AllocPolicy.parse(str(_field(rec, "alloc_policy", owner))),
        tags=[str(t) for t in (rec.get("tags") or [])],
        networks=[str(n) for n in (rec.get("networks") or [])],
        ipolicy=parse_ipolicy(rec.get("ipolicy")),
    )


def parse_node(rec: Record, group_idx: Mapping[str, int], hypervisor: str | None) -> NodeSpec:
    name = str(_field(rec, "name", "Parsing new node"))
    owner = f"Node '{name}'"
    offline = bool(_field(rec, "offline", owner))
    drained = bool(_field(rec, "drained", owner))
    vm_capable = rec.get("vm_capable")
    vm_cap = True if vm_capable is None else bool(vm_capable)
    ndparams = rec.get("ndparams") or {}
    excl = bool(ndparams.get("exclusive_storage", False))
    guuid = rec.get("group.uuid")
    if guuid is None:
        if len(group_idx) != 1:
            raise HToolsError(f"{owner}: no group.uuid and not exactly one group")
        gidx = next(iter(group_idx.values()))
    elif guuid not in group_idx:
        raise HToolsError(f"Unknown group '{guuid}' for node {name}")
    else:
        gidx = group_idx[guuid]
    live = not offline and vm_cap
    if excl:
        t_sp = int(_live(rec, "sptotal", owner, live, 0))
    else:
        t_sp = int(ndparams.get("spindle_count", 1))
    f_sp_raw = rec.get("spfree") if live else 0
    f_sp = int(f_sp_raw) if isinstance(f_sp_raw, (int, float)) else 0
    speed = ndparams.get("cpu_speed")
    return NodeSpec(
        name=name,
        t_mem=float(_live(rec, "mtotal", owner, live, 0.0)),
        n_mem=int(_live(rec, "mnode", owner, live, 0)),
        f_mem=int(_live(rec, "mfree", owner, live, 0)),
        t_dsk=float(_live(rec, "dtotal", owner, live, 0.0)),
        f_dsk=int(_live(rec, "dfree", owner, live, 0)),
        t_cpu=float(_live(rec, "ctotal", owner, live, 0.0)),
        offline=(not live) or drained,
        group=gidx,
        t_spindles=t_sp,
        tags=[str(t) for t in (rec.get("tags") or [])],
        excl_storage=excl,
        f_spindles=f_sp,
        n_cpu=int(_live(rec, "cnos", owner, live, 0)),
        cpu_speed=float(speed) if isinstance(speed, (int, float)) else 1.0,
        drained=drained,
        master_capable=bool(rec.get("master_capable", True)),
        vm_capable=vm_cap,
        hypervisor=hypervisor,
    )


def parse_instance(rec: Record, node_idx: Mapping[str, int]) -> InstanceSpec:
    name = str(_field(rec, "name", "Parsing new instance"))
    owner = f"Instance '{name}'"
    beparams = _field(rec, "beparams", owner) or {}
    oper_ram = rec.get("oper_ram")
    if isinstance(oper_ram, (int, float)) and not isinstance(oper_ram, bool):
        mem = int(oper_ram)
    elif "memory" in beparams:
        mem = int(beparams["memory"])
    else:
        mem = int(_field(beparams, "maxmem", owner))
    pname = _field(rec, "pnode", owner)
    if pname not in node_idx:
        raise HToolsError(f"Unknown node '{pname}' for instance {name}")
    snodes = _field(rec, "snodes", owner) or []
    snode = -1
    if snodes:
        if snodes[0] not in node_idx:
            raise HToolsError(f"Unknown node '{snodes[0]}' for instance {name}")
        snode = node_idx[snodes[0]]
    status = str(_field(rec, "status", owner))
    if status not in INSTANCE_STATES:
        raise HToolsError(f"Invalid instance status '{status}' for instance {name}")
    template = str(_field(rec, "disk_template", owner))
    if template not in DISK_TEMPLATES:
        raise HToolsError(f"Invalid disk template '{template}' for instance {name}")
    sizes = [int(s) for s in (rec.get("disk.sizes") or [])]
    spindles = list(rec.get("disk.spindles") or [None] * len(sizes))
    usage = rec.get("disk_usage")
    dsk = int(usage) if isinstance(usage, (int, float)) else sum(sizes)
    return InstanceSpec(
        name=name,
        mem=mem,
        dsk=dsk,
        vcpus=int(_field(beparams, "vcpus", owner)),
        status=status,
        auto_balance=bool(beparams.get("auto_balance", True)),
        pnode=node_idx[pname],
        snode=snode,
        template=template,
        tags=[str(t) for t in (rec.get("tags") or [])],
        spindle_use=int(beparams.get("spindle_use", 1)),
        disk_spindles=(
            sum(int(x) for x in spindles) if spindles and None not in spindles else None
        ),
        forthcoming=bool(rec.get("forthcoming", False)),
        disks=sizes,
        nic_networks=[str(n) for n in (rec.get("nic.networks") or []) if n],
    )


def build_data(
    groups: Sequence[Record],
    nodes: Sequence[Record],
    instances: Sequence[Record],
    info: Record,
    tags: Sequence[str] | None = None,
) -> ClusterData:
    """Cluster data from RAPI-style records (list order is kept, like Ganeti)."""
    gspecs = [parse_group(g) for g in groups]
    group_idx = {g.uuid: k for k, g in enumerate(gspecs)}
    hypervisor = info.get("default_hypervisor")
    nspecs: list[NodeSpec] = []
    node_idx: dict[str, int] = {}
    for rec in nodes:
        spec = parse_node(rec, group_idx, hypervisor if isinstance(hypervisor, str) else None)
        node_idx[spec.name] = len(nspecs)
        nspecs.append(spec)
    ispecs = [parse_instance(rec, node_idx) for rec in instances]
    master = info.get("master")
    if master is not None:
        if master not in node_idx:
            raise HToolsError(f"Node {master} not found in the node list (master)")
        nspecs[node_idx[master]].master = True
    ctags = tags if tags is not None else info.get("tags")
    if ctags is None:
        raise HToolsError("Parsing cluster data: key 'tags' not found")
    return ClusterData(
        gspecs,
        nspecs,
        ispecs,
        [str(t) for t in ctags],
        parse_ipolicy(info.get("ipolicy")) or IPolicy(),
    )


# --- transport --------------------------------------------------------------------


def normalize_address(address: str) -> tuple[str, str | None, str | None]:
    """``(base_url, user, password)`` for ``-m``'s argument (see the module doc)."""
    if "://" not in address:
        host = address
        if host.startswith("["):
            end = host.find("]")
            if end < 0:
                raise HToolsError(f"invalid RAPI address '{address}'")
            has_port = host[end + 1 :].startswith(":")
        else:
            has_port = host.count(":") == 1
            if host.count(":") > 1:  # a bare IPv6 address
                host = f"[{host}]"
        if not has_port:
            host = f"{host}:{DEFAULT_PORT}"
        return f"https://{host}", None, None
    parts = urllib.parse.urlsplit(address)
    if parts.scheme not in ("http", "https"):
        raise HToolsError(f"unsupported RAPI URL scheme '{parts.scheme}' in '{address}'")
    user = urllib.parse.unquote(parts.username) if parts.username else None
    password = urllib.parse.unquote(parts.password) if parts.password else None
    netloc = parts.hostname or ""
    if ":" in netloc:
        netloc = f"[{netloc}]"
    port = parts.port
    netloc = f"{netloc}:{port}" if port else f"{netloc}:{DEFAULT_PORT}"
    base = urllib.parse.urlunsplit((parts.scheme, netloc, parts.path.rstrip("/"), "", ""))
    return base, user, password


def ssl_context(ca_file: str | None) -> ssl.SSLContext:
    if ca_file:
        ctx = ssl.create_default_context(cafile=ca_file)
        ctx.check_hostname = False  # cluster certificates name the cluster, not the node
        return ctx
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def http_fetcher(address: str, ca_file: str | None = None, timeout: float = TIMEOUT) -> Fetcher:
    base, user, password = normalize_address(address)
    ctx = ssl_context(ca_file) if base.startswith("https:") else None
    headers = {"Accept": "application/json", "User-Agent": "ganeti-py htools"}
    if user is not None:
        token = base64.b64encode(f"{user}:{password or ''}".encode()).decode()
        headers["Authorization"] = f"Basic {token}"

    def fetch(path: str) -> str:
        url = base + path
        req = urllib.request.Request(url, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=timeout, context=ctx) as resp:
                body: bytes = resp.read()
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode("utf-8", "replace").strip()
            try:
                doc = json.loads(detail)
                if isinstance(doc, dict) and "message" in doc:
                    detail = str(doc["message"])
            except ValueError:
                pass
            raise HToolsError(f"RAPI request {url} failed: HTTP {exc.code}: {detail}") from None
        except (urllib.error.URLError, OSError, ssl.SSLError) as exc:
            reason = getattr(exc, "reason", exc)
            raise HToolsError(f"cannot reach RAPI at {url}: {reason}") from None
        return body.decode("utf-8")

    return fetch


_FILE_NAMES = {
    GROUPS_PATH: "groups.json",
    NODES_PATH: "nodes.json",
    INSTANCES_PATH: "instances.json",
    INFO_PATH: "info.json",
    TAGS_PATH: "tags.json",
}


def file_fetcher(directory: str) -> Fetcher:
    """Ganeti's ``file://DIR`` convention: one JSON file per resource."""
    root = Path(directory)

    def fetch(path: str) -> str:
        target = root / _FILE_NAMES[path]
        try:
            return target.read_text(encoding="utf-8")
        except OSError as exc:
            raise HToolsError(f"cannot read {target}: {exc.strerror}") from None

    return fetch


def _json(fetch: Fetcher, path: str) -> Any:
    text = fetch(path)
    try:
        return json.loads(text)
    except ValueError:
        raise HToolsError(f"invalid JSON in the answer to {path}") from None


def _list(fetch: Fetcher, path: str) -> list[Record]:
    doc = _json(fetch, path)
    if not isinstance(doc, list) or not all(isinstance(x, dict) for x in doc):
        raise HToolsError(f"{path}: expected a list of objects (bulk=1)")
    return doc


def load_with(fetch: Fetcher) -> ClusterData:
    groups = _list(fetch, GROUPS_PATH)
    nodes = _list(fetch, NODES_PATH)
    instances = _list(fetch, INSTANCES_PATH)
    info = _json(fetch, INFO_PATH)
    if not isinstance(info, dict):
        raise HToolsError(f"{INFO_PATH}: expected an object")
    tags = None
    if "tags" not in info:
        doc = _json(fetch, TAGS_PATH)
        if not isinstance(doc, list):
            raise HToolsError(f"{TAGS_PATH}: expected a list")
        tags = [str(t) for t in doc]
    return build_data(groups, nodes, instances, info, tags)


def load_rapi(
    address: str, ca_file: str | None = None, fetcher: Fetcher | None = None
) -> ClusterData:
    """Load a cluster over RAPI (or from a ``file://`` directory)."""
    try:
        if fetcher is None:
            if address.startswith("file://"):
                fetcher = file_fetcher(address[len("file://") :])
            else:
                fetcher = http_fetcher(address, ca_file)
        return load_with(fetcher)
    except HToolsError as err:
        raise HToolsError(f"failed to load data, aborting: {err}") from None
