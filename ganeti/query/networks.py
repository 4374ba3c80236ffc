"""Fields of the ``network`` resource."""

from __future__ import annotations

import ipaddress
from typing import Any

from ganeti import constants as C
from ganeti.objects import Network
from ganeti.query.base import FieldDef, FieldTable, QueryData, names_of, timestamp_fields

DEFAULT_LIST_FIELDS = ("name", "network", "gateway", "mac_prefix", "group_list", "tags")


def _size(net: Network) -> int:
    try:
        return ipaddress.IPv4Network(net.network).num_addresses
    except ValueError:
        return 0


def _bits(value: str | None, size: int) -> str:
    # An unset map means nothing is reserved yet.
    return (value or "").ljust(size, "0")[:size]


def _reserved_map(net: Network) -> str:
    """One character per address: X reserved (by an instance or externally), . free."""
    size = _size(net)
    used = _bits(net.reservations, size)
    ext = _bits(net.ext_reservations, size)
    return "".join("X" if a == "1" or b == "1" else "." for a, b in zip(used, ext))


def _external(net: Network) -> str:
    size = _size(net)
    if not size:
        return ""
    base = ipaddress.IPv4Network(net.network).network_address
    ext = _bits(net.ext_reservations, size)
    return ", ".join(str(base + i) for i, bit in enumerate(ext) if bit == "1")


def _group_list(qd: QueryData, net: Network) -> list[list[Any]]:
    out = []
    for group in qd.network_groups.get(net.uuid, ()):
        params = qd.cluster.fill_nic(group.networks[net.uuid])
        out.append(
            [group.name, params.get(C.NIC_MODE), params.get(C.NIC_LINK), params.get(C.NIC_VLAN)]
        )
    return sorted(out, key=lambda row: str(row[0]))


def _fields() -> list[FieldDef]:
    t, n, o = C.QFT_TEXT, C.QFT_NUMBER, C.QFT_OTHER
    # fmt: off
    out = [
        FieldDef("name", "Network", t, "Network name", lambda _qd, net: net.name),
        FieldDef("network", "Subnet", t, "IPv4 subnet", lambda _qd, net: net.network),
        FieldDef("gateway", "Gateway", t, "IPv4 gateway", lambda _qd, net: net.gateway),
        FieldDef("network6", "IPv6Subnet", t, "IPv6 subnet", lambda _qd, net: net.network6),
        FieldDef("gateway6", "IPv6Gateway", t, "IPv6 gateway", lambda _qd, net: net.gateway6),
        FieldDef("mac_prefix", "MacPrefix", t, "MAC address prefix",
                 lambda _qd, net: net.mac_prefix),
        FieldDef("free_count", "FreeCount", n, "Number of free addresses",
                 lambda _qd, net: _reserved_map(net).count(".")),
        FieldDef("reserved_count", "ReservedCount", n, "Number of reserved addresses",
                 lambda _qd, net: _reserved_map(net).count("X")),
        FieldDef("map", "Map", t, "Address map: X reserved, . free",
                 lambda _qd, net: _reserved_map(net)),
        FieldDef("external_reservations", "ExternalReservations", t,
                 "Externally reserved addresses", lambda _qd, net: _external(net)),
        FieldDef("group_list", "GroupList", o,
                 "Connected groups as [name, mode, link, vlan]", _group_list),
        FieldDef("group_cnt", "NodeGroups", n, "Number of connected groups",
                 lambda qd, net: len(qd.network_groups.get(net.uuid, ()))),
        FieldDef("inst_list", "InstanceList", o, "Instances with a NIC here (sorted)",
                 lambda qd, net: names_of(qd.network_instances.get(net.uuid, ()))),
        FieldDef("inst_cnt", "Instances", n, "Number of instances with a NIC here",
                 lambda qd, net: len(qd.network_instances.get(net.uuid, ()))),
    ]
    # fmt: on
    out.extend(timestamp_fields())
    return out


FIELDS = FieldTable(_fields())
