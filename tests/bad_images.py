"""Crafted images the tests send to the decoders."""

import io
import struct

from PIL import Image

MAKE_AS_RATIONAL = (0x010F, 5, 1, (38).to_bytes(4, "little"))  # EXIF Make (text) stored as a number
XRESOLUTION_AS_TEXT = (0x011A, 2, 4, b"abc\0")  # EXIF XResolution (a number) stored as text


def damaged_exif_jpeg(entry: tuple[int, int, int, bytes]) -> bytes:
    """A JPEG whose EXIF holds Orientation=6 and one tag of the wrong type: Pillow fails re-writing it after the
    rotation (AttributeError / TypeError, not the OSError family a decoder usually raises)."""
    buf = io.BytesIO()
    Image.new("RGB", (64, 48)).save(buf, "JPEG")
    entries = [(0x0112, 3, 1, struct.pack("<HH", 6, 0)), entry]
    ifd = struct.pack("<H", 2) + b"".join(struct.pack("<HHI", *e[:3]) + e[3] for e in entries) + b"\0\0\0\0"
    app1 = b"Exif\0\0II\x2a\x00\x08\x00\x00\x00" + ifd + struct.pack("<II", 1, 3)  # a rational at offset 38
    jpeg = buf.getvalue()
    return jpeg[:2] + b"\xff\xe1" + struct.pack(">H", len(app1) + 2) + app1 + jpeg[2:]
