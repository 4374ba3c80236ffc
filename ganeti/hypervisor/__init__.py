"""Hypervisors: the :class:`IHypervisor` seam, the fake one and the libvirt-based ones.

:class:`HypervisorRegistry` builds each hypervisor of a node once, on first use; the node
daemon owns one registry.
"""

from __future__ import annotations

from pathlib import Path

from twisted.internet.interfaces import IReactorTime

from ganeti import constants as C
from ganeti import errors
from ganeti.hypervisor.fake import FakeHypervisor
from ganeti.hypervisor.interface import (
    DiskRef,
    IHypervisor,
    InstanceInfo,
    InstanceSpec,
    NicSpec,
    RunInThread,
    run_inline,
)
from ganeti.hypervisor.libvirt_hv import LibvirtHypervisor, libvirt_available
from ganeti.hypervisor.params import DEFAULT_URIS

__all__ = [
    "DiskRef",
    "FakeHypervisor",
    "HypervisorRegistry",
    "IHypervisor",
    "InstanceInfo",
    "InstanceSpec",
    "LibvirtHypervisor",
    "NicSpec",
    "libvirt_available",
    "run_inline",
]


class HypervisorRegistry:
    """The hypervisors of one node, created lazily.

    ``run_dir`` is the node's run directory: the fake hypervisor keeps its state files in
    ``<run_dir>/fake-hv``, libvirt console logs go to ``<run_dir>/libvirt/<hv>``.
    ``uris`` overrides the default connection URI per hypervisor (an instance's
    ``libvirt_uri`` hvparam overrides both).
    """

    def __init__(
        self,
        run_dir: Path,
        clock: IReactorTime,
        run_in_thread: RunInThread,
        uris: dict[str, str] | None = None,
        ifup_script: str | None = None,
    ) -> None:
        self.run_dir = run_dir
        self.clock = clock
        self.run_in_thread = run_in_thread
        self.uris = dict(uris or {})
        self.ifup_script = ifup_script
        self._made: dict[str, IHypervisor] = {}

    def get(self, name: str) -> IHypervisor:
        hv = self._made.get(name)
        if hv is not None:
            return hv
        if name == C.HT_FAKE:
            hv = FakeHypervisor(self.run_dir / "fake-hv", self.clock)
        elif name in DEFAULT_URIS:
            hv = LibvirtHypervisor(
                name,
                self.run_dir / "libvirt" / name,
                self.clock,
                self.run_in_thread,
                default_uri=self.uris.get(name),
                ifup_script=self.ifup_script,
            )
        elif name in C.HYPER_TYPES:
            raise errors.HypervisorError(f"hypervisor {name!r} is not supported by this node")
        else:
            raise errors.HypervisorError(f"unknown hypervisor {name!r}")
        self._made[name] = hv
        return hv

    def put(self, hv: IHypervisor) -> None:
        """Install a ready-made hypervisor (tests: a libvirt one on the test driver)."""
        self._made[hv.name] = hv
