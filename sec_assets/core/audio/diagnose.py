"""Why a file does not decode, in the project's words (libsndfile's own text is kept as detail).

libsndfile says "File does not exist or is not a regular file (possibly a pipe?)" for a text file
named ``*.mp3`` and "Format not recognised" for most damage; neither tells a user what is wrong
with the file. So the first bytes are sniffed against the containers we read. Written by hand:
the few magic numbers needed are simpler than a dependency (python-magic needs libmagic).
"""

from __future__ import annotations

import struct
from pathlib import Path

SNIFF_BYTES = 4096
WAV_HEADER_BYTES = 44  # RIFF + fmt + data chunk headers of the smallest PCM WAV
# WAV format tags libsndfile decodes: PCM, MS ADPCM, float, A-law, µ-law, IMA ADPCM, GSM 6.10,
# G.721, MPEG layer III, WAVE_FORMAT_EXTENSIBLE
WAV_TAGS_READ = {0x0001, 0x0002, 0x0003, 0x0006, 0x0007, 0x0011, 0x0031, 0x0040, 0x0055, 0xFFFE}


def container(head: bytes) -> str | None:
    """The audio container the first bytes announce, or None."""
    if head[:4] in (b"RIFF", b"RIFX") and head[8:12] == b"WAVE":
        return "WAV"
    if head[:4] in (b"RF64", b"BW64"):
        return "WAV"
    if head[:4] == b"fLaC":
        return "FLAC"
    if head[:4] == b"OggS":
        return "Ogg"
    if head[:3] == b"ID3" or (len(head) > 1 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0):
        return "MP3"
    if head[:4] == b"FORM" and head[8:12] in (b"AIFF", b"AIFC"):
        return "AIFF"
    if head[:4] == b"RIFF":
        return "RIFF (not WAVE)"
    return None


def wav_fmt(head: bytes) -> tuple[int, int, int] | None:
    """(format tag, channels, sample rate) of a RIFF/WAVE header's ``fmt `` chunk, if present."""
    pos = 12
    while pos + 8 <= len(head):
        chunk, size = head[pos : pos + 4], struct.unpack("<I", head[pos + 4 : pos + 8])[0]
        if chunk == b"fmt ":
            if not 14 <= size <= 1024 or pos + 16 > len(head):  # a damaged chunk, not an encoding
                return None
            tag, channels, rate = struct.unpack("<HHI", head[pos + 8 : pos + 16])
            return tag, channels, rate
        pos += 8 + size + (size & 1)
    return None


def looks_like_text(head: bytes) -> bool:
    """UTF-8 text with no control characters other than whitespace."""
    if not head:
        return False
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 4:  # not just a character cut at the sniff boundary
            return False
        text = head[: exc.start].decode("utf-8")
    return all(c.isprintable() or c in "\t\r\n\f" for c in text)


def undecodable_reason(path: Path, fmt: str, error: BaseException) -> str:
    """A one-line reason for a file libsndfile refused, ending with libsndfile's text."""
    detail = f"(libsndfile: {str(error).replace(str(path), path.name)})"
    with open(path, "rb") as fh:
        head = fh.read(SNIFF_BYTES)
        size = fh.seek(0, 2)
    kind = container(head)
    expected = fmt.upper()
    if kind is None:
        if looks_like_text(head):
            what = f"not audio: the file holds text, not {expected} audio"
        else:
            what = f"not audio: no {expected} or other audio header (starts with {head[:8].hex(' ')})"
    elif kind == "WAV" and size < WAV_HEADER_BYTES:
        what = f"truncated header: {size} bytes, a WAV header alone takes {WAV_HEADER_BYTES}"
    elif (
        kind == "WAV"
        and (fmt_chunk := wav_fmt(head)) is not None
        and (fmt_chunk[0] not in WAV_TAGS_READ or not fmt_chunk[1] or not fmt_chunk[2])
    ):
        tag, channels, rate = fmt_chunk
        if tag not in WAV_TAGS_READ:
            what = f"unsupported encoding: WAV format tag 0x{tag:04x}"
        else:
            what = f"invalid header: {channels} channels at {rate} Hz"
    elif size < 64:
        what = f"truncated header: a {kind} file of {size} bytes"
    elif any(w in str(error).lower() for w in ("unsupported", "not supported")):
        what = f"unsupported encoding in a {kind} file"
    else:
        what = f"damaged {kind} file: the header does not decode"
    return f"{what} {detail}"
