"""The node's ``lv_list`` procedure: the ``lvs`` command line and how its output becomes
``{"vg/lv": [size, inactive, open]}``, with and without LVM activation."""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from ganeti import errors
from ganeti.noded.blockdev import BlockdevBackend
from ganeti.rpc.server import HandlerError
from ganeti.storage import NO_ACTIVATION, CommandResult, StorageRegistry
from tests.unit.test_storage import ScriptedRunner, node_root, run

FIELDS = [
    "--noheadings",
    "--nosuffix",
    "--units=m",
    "--separator=|",
    "-o",
    "vg_name,lv_name,lv_size,lv_attr",
]
OUTPUT = (
    "  xenvg|a.disk0|1024.00|-wi-ao----\n"
    "  xenvg|b.disk0_data|2048.00|-wi-a-----\n"
    "  xenvg|c.disk0|512.00|-wi-------\n"
    "  othervg|d|4.00|-wi-ao----\n"
    "garbage line\n"
)


class LvListTests(SynchronousTestCase):
    def backend(self, lvm_args: tuple[str, ...] = (), stdout: str = OUTPUT, rc: int = 0):  # type: ignore[no-untyped-def]
        self.runner = ScriptedRunner([(("lvs",), CommandResult(("lvs",), rc, stdout, "boom"))])
        paths = node_root(self)
        return BlockdevBackend(paths, StorageRegistry(paths, self.runner, lvm_args))

    def test_states_with_activation(self) -> None:
        backend = self.backend()
        result = self.successResultOf(run(backend.lv_list("xenvg")))
        self.assertEqual(self.runner.calls, [["lvs", *FIELDS, "xenvg"]])
        self.assertEqual(
            result,
            {
                "xenvg/a.disk0": [1024.0, False, True],  # active, open (a running guest)
                "xenvg/b.disk0_data": [2048.0, False, False],  # active, not open
                "xenvg/c.disk0": [512.0, True, False],  # not activated
                "othervg/d": [4.0, False, True],
            },
        )

    def test_volume_group_list_or_all(self) -> None:
        backend = self.backend()
        self.successResultOf(run(backend.lv_list(["xenvg", "othervg"])))
        self.successResultOf(run(backend.lv_list([])))
        self.successResultOf(run(backend.lv_list(None)))
        self.assertEqual(
            self.runner.calls,
            [["lvs", *FIELDS, "xenvg", "othervg"], ["lvs", *FIELDS], ["lvs", *FIELDS]],
        )

    def test_without_activation_nothing_is_inactive(self) -> None:
        backend = self.backend(NO_ACTIVATION)
        result = self.successResultOf(run(backend.lv_list("xenvg")))
        self.assertEqual(self.runner.calls, [["lvs", *NO_ACTIVATION, *FIELDS, "xenvg"]])
        self.assertEqual(result["xenvg/c.disk0"], [512.0, False, False])

    def test_bad_arguments_and_failures(self) -> None:
        backend = self.backend()
        self.failureResultOf(run(backend.lv_list(5)), HandlerError)
        self.failureResultOf(run(backend.lv_list(["xenvg", 3])), HandlerError)
        self.failureResultOf(run(backend.lv_list("../etc")), errors.BlockDeviceError)
        self.assertEqual(self.runner.calls, [])
        failing = self.backend(rc=5, stdout="")
        f = self.failureResultOf(run(failing.lv_list("missingvg")))
        self.assertIn("boom", str(f.value))
