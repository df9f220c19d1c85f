"""Compressed text files (gzip, bzip2), recognised from their magic bytes, not their names, and streamed."""
from __future__ import annotations

import bz2
import gzip
from typing import BinaryIO

GZIP_MAGIC = b"\x1f\x8b"
BZIP2_MAGIC = b"BZh"
UTF8_BOM = b"\xef\xbb\xbf"
NAMES = {"gzip": "gzip", "bz2": "bzip2", None: "none (plain text)"}


def compression_of(head: bytes) -> str | None:
    """'gzip', 'bz2' or None (not compressed) from a file's first bytes."""
    if head.startswith(GZIP_MAGIC):
        return "gzip"
    # "BZh" then the block size digit 1-9: three letters alone could start a plain text file.
    if head.startswith(BZIP2_MAGIC) and head[3:4].isdigit() and head[3:4] != b"0":
        return "bz2"
    return None


def decompressed(raw: BinaryIO, kind: str | None) -> BinaryIO:
    """A stream of the decompressed bytes of an open binary file (the file itself when not compressed)."""
    if kind == "gzip":
        return gzip.GzipFile(fileobj=raw, mode="rb")
    if kind == "bz2":
        return bz2.BZ2File(raw, mode="rb")
    return raw


def file_compression(path) -> str | None:
    """'gzip', 'bz2' or None for a file, from its first bytes."""
    with open(path, "rb") as raw:
        return compression_of(raw.read(4))


def open_decompressed(path) -> tuple[BinaryIO, str | None]:
    """(decompressed byte stream, compression) of a file."""
    kind = file_compression(path)
    opener = {"gzip": gzip.open, "bz2": bz2.open}.get(kind, open)
    return opener(path, "rb"), kind
