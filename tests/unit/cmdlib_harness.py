"""A master's LU machinery for cmdlib tests: real ConfigWriter, LockManager, processor."""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from twisted.internet.defer import Deferred, succeed
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase
from zope.interface import implementer

from ganeti import constants, errors, tls
from ganeti.cmdlib.base import MasterHooks
from ganeti.config import ConfigStore, ConfigWriter, bootstrap_config
from ganeti.locking import LockManager
from ganeti.mcpu import OpcodeProcessor, encode_error
from ganeti.objects import NIC, Disk, Instance, Node
from ganeti.opcodes import from_dict
from ganeti.paths import Paths
from ganeti.rpc.client import IRpcClient, RpcResult, RpcTarget
from tests.unit.test_mcpu import Callbacks

T0 = 1_700_000_000.0


@implementer(IRpcClient)
class ScriptedRpc:
    """Answers ``version`` and ``node_info`` at once; per-node failures or payloads."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.calls: list[tuple[list[str], str, list[Any]]] = []
        self.fail: dict[str, str] = {}
        self.version: dict[str, Any] = {}
        self.memory_free: dict[str, int] = {}

    def call(
        self,
        nodes: Sequence[RpcTarget | str],
        procedure: str,
        args: Sequence[Any],
        timeout: float | None = None,
    ) -> Deferred[dict[str, RpcResult]]:
        names = [n if isinstance(n, str) else n.name for n in nodes]
        self.calls.append((names, procedure, list(args)))
        out: dict[str, RpcResult] = {}
        for name in names:
            if name in self.fail:
                out[name] = RpcResult(name, fail_msg=self.fail[name])
            elif procedure == "version":
                out[name] = RpcResult(name, self.version.get(name, constants.PROTOCOL_VERSION))
            elif procedure == "node_info":
                mem = self.memory_free.get(name, 4096)
                out[name] = RpcResult(name, ["boot", [], [{"memory_free": mem}]])
            else:
                out[name] = RpcResult(name, True)
        return succeed(out)


class Master:
    """One-node cluster (node1.test in group 'default') plus helpers to grow it."""

    def __init__(self, case: SynchronousTestCase, *, real_now: bool = False) -> None:
        self.case = case
        self.paths = Paths(Path(case.mktemp()))
        self.paths.ensure_dirs()
        self.clock = Clock()
        self.clock.advance(datetime.datetime.now(datetime.UTC).timestamp() if real_now else T0)
        config = bootstrap_config(
            cluster_name="cluster.test",
            master_name="node1.test",
            master_ip="192.0.2.1",
            node_ip="192.0.2.11",
            now=self.clock.seconds(),
        )
        self.config = ConfigWriter(config, ConfigStore(self.paths.config_data), self.clock)
        self.locks = LockManager(self.clock)
        self.rpc = ScriptedRpc(self.clock)
        self.hooks = MasterHooks()
        self.processor = OpcodeProcessor(
            config=self.config,
            locks=self.locks,
            rpc=self.rpc,
            clock=self.clock,
            paths=self.paths,
            hooks=self.hooks,
        )
        self.callbacks = Callbacks()
        self.job_id = 0
        self.default_group = self.config.get_groups()[0]

    # -- config building --

    def add_node(self, name: str, ip: str, group: str | None = None, **kw: Any) -> Node:
        node = Node(
            name=name,
            primary_ip=ip,
            secondary_ip=ip,
            group=group or self.default_group.uuid,
            **kw,
        )
        self.config.add_node(node)
        return node

    def add_group(self, name: str) -> str:
        self.run({"OP_ID": "OP_GROUP_ADD", "group_name": name})
        return self.config.lookup_group(name).uuid

    def add_drbd_instance(self, name: str, pnode: Node, snode: Node, **kw: Any) -> Instance:
        port = self.config.allocate_drbd_port()
        data = Disk(dev_type=constants.DT_PLAIN, logical_id=["xenvg", f"{name}.data"], size=1024)
        meta = Disk(dev_type=constants.DT_PLAIN, logical_id=["xenvg", f"{name}.meta"], size=128)
        disk = Disk(
            dev_type=constants.DT_DRBD8,
            logical_id=[pnode.uuid, snode.uuid, port, 0, 0, "secret"],
            children=[data, meta],
            nodes=[pnode.uuid, snode.uuid],
            iv_name="disk/0",
            size=1024,
        )
        index = len(self.config.get_instances())
        inst = Instance(
            name=name,
            primary_node=pnode.uuid,
            os="debootstrap",
            hypervisor=constants.HT_KVM,
            nics=[NIC(mac=f"aa:00:00:00:00:{index:02x}")],
            **kw,
        )
        self.config.add_instance(inst, [disk])
        return inst

    def settle(self) -> None:
        self.clock.advance(0)
        self.clock.advance(0)

    def write_certs(self, days: int = 365, rapi_days: int | None = None) -> None:
        ca = tls.create_cluster_certificate("cluster.test", days=days)
        ca.save(self.paths.server_pem, 0o400)
        tls.create_node_certificate(
            ca, "node1.test", self.config.get_master_node().uuid, days=days
        ).save(self.paths.client_pem, 0o400)
        if rapi_days is not None:
            tls.create_server_certificate(["cluster.test"], days=rapi_days).save(
                self.paths.rapi_pem, 0o400
            )

    # -- running opcodes --

    def execute(self, data: dict[str, Any]) -> Deferred[Any]:
        self.job_id += 1
        self.callbacks = Callbacks()
        d = self.processor.execute(from_dict(data), self.job_id, self.callbacks)
        self.settle()
        return d

    def run(self, data: dict[str, Any]) -> Any:
        """Run to success and return the result (fails the test on an error)."""
        return self.case.successResultOf(self.execute(data))

    def fail(self, data: dict[str, Any], ecode: str | None = None) -> errors.GanetiError:
        failure = self.case.failureResultOf(self.execute(data), errors.GanetiError)
        exc = failure.value
        if ecode is not None:
            self.case.assertIsInstance(exc, errors.OpPrereqError)
            self.case.assertEqual(encode_error(exc)[1][1], ecode, str(exc))
        assert isinstance(exc, errors.GanetiError)
        return exc

    @property
    def log(self) -> list[str]:
        return [message for _type, message in self.callbacks.log]

    def on_disk(self) -> dict[str, Any]:
        import json

        data: dict[str, Any] = json.loads(self.paths.config_data.read_text())
        return data
