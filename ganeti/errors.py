"""Exception hierarchy.

Every error a user can see carries a message that says what is wrong and, where it
helps, which object or file.  ``ecode`` follows Ganeti's error classes so that RAPI and
LUXI clients can tell input errors from state errors.
"""

from __future__ import annotations

ECODE_RESOLVER = "resolver_error"
ECODE_NORES = "insufficient_resources"
ECODE_TEMP_NORES = "temp_insufficient_resources"
ECODE_INVAL = "wrong_input"
ECODE_STATE = "wrong_state"
ECODE_NOENT = "unknown_entity"
ECODE_EXISTS = "already_exists"
ECODE_NOTUNIQUE = "resource_not_unique"
ECODE_FAULT = "internal_error"
ECODE_ENVIRON = "environment_error"


class GanetiError(Exception):
    """Base class of all errors raised on purpose by this package."""


class ProgrammerError(GanetiError):
    """A bug: an API was used in a way it does not allow."""


class ConfigurationError(GanetiError):
    """The configuration is invalid, or a file holding it cannot be read."""


class ConfigVersionMismatch(ConfigurationError):
    """The configuration file was written by an incompatible version."""


class ConfigVerifyError(ConfigurationError):
    """Validation found problems; ``errors`` lists each of them."""

    def __init__(self, message: str, errors: list[str]) -> None:
        super().__init__(message + ": " + "; ".join(errors))
        self.errors = errors


class ReservationError(GanetiError):
    """A resource (MAC, IP, minor, port) could not be reserved."""


class OpPrereqError(GanetiError):
    """A prerequisite of an operation is not met; ``args[1]`` is the error class."""

    def __init__(self, message: str, ecode: str = ECODE_INVAL) -> None:
        super().__init__(message, ecode)
        self.ecode = ecode

    def __str__(self) -> str:
        return str(self.args[0])


class OpExecError(GanetiError):
    """An operation failed while executing."""


class ParameterError(GanetiError):
    """A parameter has a wrong name, type or value."""


class RpcError(GanetiError):
    """A node RPC failed."""


class CertificateError(GanetiError):
    """A certificate or key is missing, malformed or does not verify."""


class FileStoragePathError(GanetiError):
    """A path is outside the allowed file storage directories."""


class UploadRefused(GanetiError):
    """A node refused to write a file (not whitelisted, outside the allowed tree)."""


class JobQueueError(GanetiError):
    """The job queue refused or failed an operation."""


class JobQueueDrainError(JobQueueError):
    """The job queue is drained: no new jobs are accepted."""


class JobLost(GanetiError):
    """A job the caller waits for is no longer known."""


class LockError(GanetiError):
    """A lock could not be acquired or was used wrongly."""


class LuxiError(GanetiError):
    """Talking to the master daemon over LUXI failed."""


class QueryFilterParseError(GanetiError):
    """A query filter is malformed."""


class HypervisorError(GanetiError):
    """A hypervisor operation failed."""


class BlockDeviceError(GanetiError):
    """A block device operation failed."""


class OpCodeUnknown(GanetiError):
    """An opcode with an unknown OP_ID was submitted."""


class NotMasterError(GanetiError):
    """This node is not the master, or lost the vote to become it."""


class SsconfError(ConfigurationError):
    """An ssconf key is unknown, a value too large, or a file missing or unreadable."""


class LockTimeout(LockError):
    """A lock acquisition did not succeed within its timeout; nothing is held."""
