"""The exceptions tf_simcse raises for problems a user can fix: a bad file, directory or option.

The command-line tools (`tf_simcse._cli.user_errors`) print these as one `error: ...` line and exit non-zero;
any other exception is a bug and keeps its traceback. Library callers can catch them like the built-in
exceptions they extend (`UserInputError` is a `ValueError`, `DiskFullError` an `OSError`).
"""

import errno

# errno values of a write that failed because the device or the user's quota is full.
_DISK_FULL_ERRNOS = (errno.ENOSPC, errno.EDQUOT)


class UserInputError(ValueError):
    """A file, directory or option that cannot be used as given; the message names it and says what is wrong."""


class DiskFullError(OSError):
    """A write failed because the disk (or quota) is full; the message says what was kept and what was removed."""


def is_disk_full(error):
    """True for an `OSError` with ENOSPC/EDQUOT, or the `tf.errors.ResourceExhaustedError` of a gfile write.

    TensorFlow's file writers report a full disk as `ResourceExhaustedError` (with an empty message on local
    disks); an out-of-memory error of the same class names the allocation ("OOM when allocating ...").
    """
    if isinstance(error, DiskFullError):
        return True
    if isinstance(error, OSError):
        return error.errno in _DISK_FULL_ERRNOS
    if type(error).__name__ == "ResourceExhaustedError":
        message = str(getattr(error, "message", error)).lower()
        return "oom" not in message and "allocat" not in message
    return False
