"""Routed NICs: the host side of a guest NIC in ``routed`` mode.

libvirt creates the tap device (``<interface type='ethernet'>``) and runs the
``<script>`` we name with the device as its only argument.  The script must know the
NIC's IP and routing table, which libvirt does not pass, so each routed NIC gets its own
small script, written before the domain starts, with those values baked in: it brings
the tap up, routes the instance's IP to it (in the table named by the NIC's ``link``,
the main table when empty) and enables proxy ARP, as Ganeti's routed mode does.
"""

from __future__ import annotations

import hashlib
import ipaddress
import shlex
from pathlib import Path

from ganeti import errors
from ganeti.fileutils import write_file_atomic
from ganeti.hypervisor.interface import InstanceSpec, NicSpec

# Linux interface names have at most 15 characters.
_PREFIX = "gnt"


def tap_name(instance: str, idx: int) -> str:
    digest = hashlib.sha1(instance.encode()).hexdigest()[:8]
    return f"{_PREFIX}{digest}n{idx}"


def ifup_script_text(nic: NicSpec) -> str:
    if not nic.ip:
        raise errors.HypervisorError(f"routed NIC {nic.mac} needs an IP address")
    try:
        addr = ipaddress.ip_address(nic.ip)
    except ValueError:
        raise errors.HypervisorError(f"routed NIC {nic.mac}: bad IP {nic.ip!r}") from None
    prefix = 32 if addr.version == 4 else 128
    table = f" table {shlex.quote(nic.link)}" if nic.link else ""
    family = "-4" if addr.version == 4 else "-6"
    proxy = (
        'echo 1 > "/proc/sys/net/ipv4/conf/$dev/proxy_arp"\n'
        if addr.version == 4
        else 'echo 1 > "/proc/sys/net/ipv6/conf/$dev/proxy_ndp"\n'
    )
    return (
        "#!/bin/sh\n"
        "# Written by the node daemon for one routed NIC; libvirt runs it with the tap name.\n"
        "set -e\n"
        'dev="$1"\n'
        'ip link set dev "$dev" up\n'
        f'ip {family} route replace {addr}/{prefix} dev "$dev"{table}\n' + proxy
    )


def write_ifup_scripts(directory: Path, spec: InstanceSpec) -> dict[int, str]:
    """One script per routed NIC of ``spec``: NIC index -> script path."""
    out: dict[int, str] = {}
    for idx, nic in enumerate(spec.nics):
        if nic.mode != "routed":
            continue
        path = directory / f"{tap_name(spec.name, idx)}.ifup"
        write_file_atomic(path, ifup_script_text(nic).encode(), mode=0o755)
        out[idx] = str(path)
    return out
