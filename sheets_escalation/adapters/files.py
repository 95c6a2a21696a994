"""Publishing a file whole: written beside its place, flushed to disk, then put in place.

A crash while writing leaves either the old file or the new one, never half of one; what
it does leave is a temporary file beside the target, ``.<name>.<random>.tmp``, which
:func:`remove_stale_temporaries` clears once no other run can be writing one.
"""

from __future__ import annotations

import contextlib
import glob
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO


def publish(target: Path, write: Callable[[IO[bytes]], object], mode: int, *,
            overwrite: bool = True, before: Callable[[], None] | None = None) -> None:
    """Given a path, a function writing the new file's bytes into a stream and the file's
    permission bits, publish the new file at ``target``: written to a temporary file next
    to it, flushed and fsynced, given ``mode``, then ``before`` is called (a last check, with
    the new file complete on disk), then renamed over the target (with ``overwrite``) or
    linked to a path that must not exist yet (without), and the folder fsynced. Raise
    FileExistsError if ``overwrite`` is off and the path exists, OSError if writing fails;
    whatever ``write`` or ``before`` raises propagates. On any error the target is
    unchanged and the temporary file removed."""
    temporary: str | None = None
    try:
        handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.",
                                             suffix=".tmp")
        with os.fdopen(handle, "w+b") as stream:
            write(stream)
            stream.flush()
            os.fsync(stream.fileno())
        os.chmod(temporary, mode)
        if before is not None:
            before()
        if overwrite:
            os.replace(temporary, target)
            temporary = None
        else:
            _link_new(Path(temporary), target)
        fsync_directory(target.parent)
    finally:
        if temporary is not None:
            with contextlib.suppress(OSError):
                os.unlink(temporary)


def _link_new(temporary: Path, path: Path) -> None:
    # A hard link fails if the path appeared meanwhile, where a rename would replace it;
    # filesystems without hard links get a check-then-rename instead.
    try:
        os.link(temporary, path)
    except FileExistsError:
        raise
    except OSError:
        if path.exists():
            raise FileExistsError(str(path)) from None
        os.replace(temporary, path)


def remove_stale_temporaries(target: Path) -> None:
    """Given a path files are published to, remove the temporary files a run killed while
    publishing left beside it. Call only while no other run can be publishing there."""
    for stale in target.parent.glob(glob.escape(f".{target.name}.") + "*.tmp"):
        with contextlib.suppress(OSError):
            stale.unlink()


def fsync_directory(directory: Path) -> None:
    """Given a folder, flush its entries to disk, making a rename in it durable; where the
    platform cannot (nor needs to), do nothing."""
    with contextlib.suppress(OSError, AttributeError):
        descriptor = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)
