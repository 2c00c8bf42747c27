"""A reader for AEDAT 4.0 event files (iniVation DV; CIFAR10-DVS as tonic stores it), numpy only.

File: ``#!AER-DAT4.0\\r\\n``, an int32 (little-endian) length and that many bytes of an ``IOHeader``
FlatBuffer (compression, dataTablePosition, infoNode: XML naming each stream's type), then packets:
int32 stream id, int32 size, and a body, compressed as the header says, that decompresses to a
size-prefixed FlatBuffer. Event packets (type ``EVTS``) hold a vector of 16-byte structs
(int64 t, int16 x, int16 y, bool on, 3 bytes of padding). The packet index at dataTablePosition is
not needed to read the events and is skipped. Compression: none here; LZ4 and Zstandard through
the optional ``lz4`` / ``zstandard`` packages.
"""

from __future__ import annotations

import struct
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np

MAGIC = b"#!AER-DAT4.0\r\n"
EVENT = np.dtype([("t", "<i8"), ("x", "<i2"), ("y", "<i2"), ("on", "u1"), ("pad", "V3")])
COMPRESSION = {0: "none", 1: "lz4", 2: "lz4", 3: "zstd", 4: "zstd"}


class AedatError(ValueError):
    pass


def _table(buf: bytes, pos: int) -> tuple[int, list[int]]:
    """A FlatBuffer table at ``pos``: (pos, field offsets from its vtable; 0 = absent)."""
    vtable = pos - struct.unpack_from("<i", buf, pos)[0]
    vsize = struct.unpack_from("<H", buf, vtable)[0]
    return pos, [struct.unpack_from("<H", buf, vtable + 4 + 2 * i)[0] for i in range((vsize - 4) // 2)]


def _field(fields: list[int], index: int) -> int:
    return fields[index] if index < len(fields) else 0


def _vector(buf: bytes, at: int) -> tuple[int, int]:
    """(start, length) of the vector a uoffset at ``at`` points to."""
    start = at + struct.unpack_from("<I", buf, at)[0]
    return start + 4, struct.unpack_from("<I", buf, start)[0]


def read_header(buf: bytes) -> tuple[int, int, str, int]:
    """(compression code, data table position, infoNode XML, offset of the first packet)."""
    if not buf.startswith(MAGIC):
        raise AedatError("not an AEDAT 4.0 file (missing #!AER-DAT4.0)")
    (length,) = struct.unpack_from("<i", buf, len(MAGIC))
    start = len(MAGIC) + 4
    hdr = buf[start:start + length]
    if len(hdr) != length:
        raise AedatError("truncated AEDAT 4.0 header")
    pos, fields = _table(hdr, struct.unpack_from("<I", hdr, 0)[0])
    compression = struct.unpack_from("<i", hdr, pos + _field(fields, 0))[0] if _field(fields, 0) else 0
    table = struct.unpack_from("<q", hdr, pos + _field(fields, 1))[0] if _field(fields, 1) else -1
    info = ""
    if _field(fields, 2):
        s, n = _vector(hdr, pos + _field(fields, 2))
        info = hdr[s:s + n].decode("utf-8")
    return compression, table, info, start + length


def event_streams(info: str) -> set[int]:
    """Stream ids whose typeIdentifier is EVTS, from the header's infoNode XML."""
    ids = set()
    for node in ET.fromstring(info).iter("node"):
        kinds = [a.text for a in node.findall("attr") if a.get("key") == "typeIdentifier"]
        if kinds and kinds[0] == "EVTS" and node.get("name", "").isdigit():
            ids.add(int(node.get("name")))
    return ids


def _decompress(body: bytes, code: int) -> bytes:
    kind = COMPRESSION.get(code)
    if kind == "none":
        return body
    try:
        if kind == "lz4":
            import lz4.frame
            return lz4.frame.decompress(body)
        if kind == "zstd":
            import zstandard
            return zstandard.ZstdDecompressor().decompress(body, max_output_size=1 << 30)
    except ImportError:
        raise AedatError(f"this file is {kind}-compressed: pip install {'lz4' if kind == 'lz4' else 'zstandard'}") from None
    raise AedatError(f"unknown AEDAT 4.0 compression code {code}")


def read_events(path: str | Path) -> np.ndarray:
    """All polarity events of an AEDAT 4.0 file: [N, 4] int64 columns x, y, p, t (microseconds)."""
    buf = Path(path).read_bytes()
    try:
        compression, table, info, offset = read_header(buf)
        streams = event_streams(info) if info else None
        chunks = []
        end = table if table > 0 else len(buf)
        while offset + 8 <= end:
            stream, size = struct.unpack_from("<ii", buf, offset)
            body = buf[offset + 8:offset + 8 + size]
            if len(body) != size:
                raise AedatError("truncated packet")
            offset += 8 + size
            if streams is not None and stream not in streams:
                continue
            fb = _decompress(body, compression)[4:]                       # size prefix
            pos, fields = _table(fb, struct.unpack_from("<I", fb, 0)[0])
            if not _field(fields, 0):
                continue
            start, n = _vector(fb, pos + _field(fields, 0))
            ev = np.frombuffer(fb, dtype=EVENT, count=n, offset=start)
            chunks.append(np.stack([ev["x"], ev["y"], ev["on"], ev["t"]], axis=1).astype(np.int64))
    except (struct.error, ET.ParseError, IndexError) as exc:
        raise AedatError(f"{path}: corrupt AEDAT 4.0 file ({exc})") from None
    except AedatError as exc:
        raise AedatError(f"{path}: {exc}") from None
    return np.concatenate(chunks) if chunks else np.zeros((0, 4), dtype=np.int64)
