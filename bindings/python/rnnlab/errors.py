"""Exceptions of the rnnlab binding.

Every failed C call raises a subclass of :class:`Error` that carries the pinned ``status`` value and
the C library's message (``rnnlab_last_error()``, which names the argument and the value that were
wrong). Each subclass is also the builtin exception a Python user already catches: a bad value is a
``ValueError``, a missing tensor a ``KeyError``, a file problem an ``OSError``, and so on. A failed
call leaves the model exactly as it was (the C library's contract).
"""
from . import capi as _c

__all__ = [
    "Error", "NullError", "InvalidArgumentError", "SizeMismatchError", "ConfigError", "VersionError",
    "UnsupportedError", "NoDeviceError", "StateError", "NonFiniteError", "NotFoundError",
    "NoMemoryError", "FileIOError", "CorruptFileError", "FileFormatError", "InternalError",
    "UnavailableError", "FrozenError", "error_for_status",
]


class Error(Exception):
    """A failed rnnlab C call.

    Attributes:
        status: the ``rnnlab_status`` value (a negative int, pinned in the C header).
        status_name: the C library's description of that status.
        message: the message of ``rnnlab_last_error()`` for the failed call.
    """

    def __init__(self, status, message):
        self.status = int(status)
        self.status_name = _c.rnnlab_status_string(self.status)
        self.message = message
        super().__init__(f"{message} [{self.status_name}]" if message else self.status_name)

    def __str__(self):  # KeyError would otherwise show the repr of its argument
        return Exception.__str__(self)


class NullError(Error, TypeError):
    """RNNLAB_E_NULL: a required argument was None / NULL."""


class InvalidArgumentError(Error, ValueError):
    """RNNLAB_E_INVALID_ARGUMENT: a value out of its range."""


class SizeMismatchError(Error, ValueError):
    """RNNLAB_E_SIZE_MISMATCH: an array's element count does not fit the call."""


class ConfigError(Error, ValueError):
    """RNNLAB_E_INVALID_CONFIG: a configuration contradicts itself."""


class VersionError(Error, RuntimeError):
    """RNNLAB_E_VERSION: a struct of a size this library does not know."""


class UnsupportedError(Error, RuntimeError):
    """RNNLAB_E_UNSUPPORTED: the backend declines this configuration or request."""


class NoDeviceError(Error, RuntimeError):
    """RNNLAB_E_NO_DEVICE: the backend is not built in or has no device here."""


class StateError(Error, RuntimeError):
    """RNNLAB_E_STATE: wrong call order (backward with nothing recorded, batch size changed, ...)."""


class NonFiniteError(Error, ValueError):
    """RNNLAB_E_NONFINITE: NaN or Inf in an input, a target or a tensor value."""


class NotFoundError(Error, KeyError):
    """RNNLAB_E_NOT_FOUND: an unknown tensor name, or a trace this cell does not have."""


class NoMemoryError(Error, MemoryError):
    """RNNLAB_E_NO_MEMORY: an allocation failed."""


class FileIOError(Error, OSError):
    """RNNLAB_E_IO: a file could not be opened, read, written or renamed."""


class CorruptFileError(Error, OSError):
    """RNNLAB_E_CORRUPT: a file is truncated, fails its checksum or has a bad magic."""


class FileFormatError(Error, OSError):
    """RNNLAB_E_FORMAT: a file of another format version, endianness or model shape."""


class InternalError(Error, RuntimeError):
    """RNNLAB_E_INTERNAL: a bug in rnnlab (the message says where)."""


class UnavailableError(Error, RuntimeError):
    """RNNLAB_E_UNAVAILABLE: the diagnostic was not computed at the current level."""


class FrozenError(Error, ValueError):
    """RNNLAB_E_FROZEN: a value for a frozen (held) entry differs from its frozen value."""


_BY_STATUS = {
    _c.RNNLAB_E_NULL: NullError,
    _c.RNNLAB_E_INVALID_ARGUMENT: InvalidArgumentError,
    _c.RNNLAB_E_SIZE_MISMATCH: SizeMismatchError,
    _c.RNNLAB_E_INVALID_CONFIG: ConfigError,
    _c.RNNLAB_E_VERSION: VersionError,
    _c.RNNLAB_E_UNSUPPORTED: UnsupportedError,
    _c.RNNLAB_E_NO_DEVICE: NoDeviceError,
    _c.RNNLAB_E_STATE: StateError,
    _c.RNNLAB_E_NONFINITE: NonFiniteError,
    _c.RNNLAB_E_NOT_FOUND: NotFoundError,
    _c.RNNLAB_E_NO_MEMORY: NoMemoryError,
    _c.RNNLAB_E_IO: FileIOError,
    _c.RNNLAB_E_CORRUPT: CorruptFileError,
    _c.RNNLAB_E_FORMAT: FileFormatError,
    _c.RNNLAB_E_INTERNAL: InternalError,
    _c.RNNLAB_E_UNAVAILABLE: UnavailableError,
    _c.RNNLAB_E_FROZEN: FrozenError,
}


def error_for_status(status, message):
    """The exception instance for a C status and message (what the extension raises)."""
    return _BY_STATUS.get(int(status), Error)(status, message)
