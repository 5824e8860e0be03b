"""Work around a zipfile bug of Python 3.12.0-3.12.8 and 3.13.0-3.13.1 (CPython issue 127847).

Seeking forward in an uncompressed ("stored") member of a zip file moves relative to where the
*shared* file handle last was, not where this member's reader was. With two members of one zip
open at once and read in turn, a read lands in the wrong place or past the end (``EOFError``).
A quantum graph (``.qg``) is such a zip: ``pipetask run-qbb`` with a cluster of quanta and
``butler aggregate-graph`` (BPS's final job) read it that way and fail.

``make stack`` installs it into the stack's environment with a ``.pth`` file, so every Python of
the stack (bps, the Parsl workers' pipetask, the final job's butler) imports it at start-up; the
stack helper imports it too, before reading provenance. Importing it changes nothing when the
running Python does not have the bug: it checks with a two-member zip in memory. Standard library
only.
"""

from __future__ import annotations

import io
import os
import zipfile


def _has_bug() -> bool:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as archive:
        archive.writestr("a", b"0123456789" * 10)
        archive.writestr("b", b"abcdefghij" * 10)
    with zipfile.ZipFile(buffer) as archive, archive.open("a") as first, archive.open("b") as second:
        first.read(1)
        second.seek(50)
        return second.read(5) != b"abcde"


def _seek(self, offset, whence=os.SEEK_SET, _original=zipfile.ZipExtFile.seek):
    """``ZipExtFile.seek``: a stored, unencrypted member is positioned absolutely; the rest as before."""
    if self.closed or not self._seekable or self._compress_type != zipfile.ZIP_STORED or self._decrypter is not None:
        return _original(self, offset, whence)
    if whence == os.SEEK_SET:
        target = offset
    elif whence == os.SEEK_CUR:
        target = self.tell() + offset
    elif whence == os.SEEK_END:
        target = self._orig_file_size + offset
    else:
        raise ValueError("whence must be os.SEEK_SET (0), os.SEEK_CUR (1), or os.SEEK_END (2)")
    target = min(max(target, 0), self._orig_file_size)
    self._fileobj.seek(self._orig_compress_start + target)
    self._left = self._orig_file_size - target
    self._compress_left = self._orig_compress_size - target
    self._readbuffer, self._offset = b"", 0
    self._eof = self._left <= 0
    self._expected_crc = None  # a CRC cannot be checked once the member was not read from its start
    return self.tell()


try:
    if _has_bug():
        zipfile.ZipExtFile.seek = _seek
except Exception:  # never stop an interpreter from starting
    pass
