"""The type of an uploaded file, found from its bytes, and images stripped of their metadata.

The sender chooses the content type a browser sends and the file name's extension, so neither
is trusted: the type stored and served is the one found here.

Images are decoded and encoded again with Pillow, which keeps the pixels and drops EXIF (camera,
time, GPS position), XMP and comments: a child's photo must not reveal where it was taken.

NOTE: audio tags (ID3) and document metadata (PDF author, Office properties) are kept as sent;
stripping them needs a parser per format.
"""

import io
import warnings
import zipfile
from dataclasses import dataclass

from PIL import Image, ImageOps, UnidentifiedImageError

JPEG = "image/jpeg"
PNG = "image/png"
WEBP = "image/webp"
PDF = "application/pdf"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
ODT = "application/vnd.oasis.opendocument.text"
ODS = "application/vnd.oasis.opendocument.spreadsheet"

IMAGE_TYPES = frozenset({JPEG, PNG, WEBP})
AUDIO_TYPES = frozenset(
    {"audio/mpeg", "audio/ogg", "audio/wav", "audio/mp4", "audio/3gpp", "audio/webm", "audio/amr"}
    | {"audio/flac"}
)
DOCUMENT_TYPES = frozenset({PDF, DOCX, XLSX, ODT, ODS}) | IMAGE_TYPES

# The content types each attachment field type accepts.
ACCEPTED = {
    "photo": IMAGE_TYPES,
    "signature": IMAGE_TYPES,
    "audio": AUDIO_TYPES,
    "document": DOCUMENT_TYPES,
}
# File name extensions for each stored type, used only to name downloads.
EXTENSIONS = {
    JPEG: "jpg",
    PNG: "png",
    WEBP: "webp",
    PDF: "pdf",
    DOCX: "docx",
    XLSX: "xlsx",
    ODT: "odt",
    ODS: "ods",
    "audio/mpeg": "mp3",
    "audio/ogg": "ogg",
    "audio/wav": "wav",
    "audio/mp4": "m4a",
    "audio/3gpp": "3gp",
    "audio/webm": "webm",
    "audio/amr": "amr",
    "audio/flac": "flac",
}
PILLOW_FORMATS = {"JPEG": JPEG, "PNG": PNG, "WEBP": WEBP}
# Decoding a larger image could take more memory than a small server has (4 bytes a pixel).
MAX_PIXELS = 50_000_000
THUMBNAIL_SIZE = (320, 320)


class ContentRejected(Exception):
    """The bytes are not a file of an accepted kind, or cannot be decoded."""


def sniff(data: bytes) -> str | None:
    """Return the content type that the first bytes of `data` announce, or None if unknown."""
    head = data[:16]
    if head.startswith(b"\xff\xd8\xff"):
        return JPEG
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return PNG
    if head.startswith(b"RIFF") and head[8:12] == b"WEBP":
        return WEBP
    if head.startswith(b"%PDF-"):
        return PDF
    if head.startswith(b"PK\x03\x04"):
        return office_type(data)
    return audio_type(head)


def audio_type(head: bytes) -> str | None:
    if head.startswith(b"ID3") or (len(head) > 1 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0):
        return "audio/mpeg"
    if head.startswith(b"OggS"):
        return "audio/ogg"
    if head.startswith(b"RIFF") and head[8:12] == b"WAVE":
        return "audio/wav"
    if head.startswith(b"fLaC"):
        return "audio/flac"
    if head.startswith(b"#!AMR"):
        return "audio/amr"
    if head.startswith(b"\x1aE\xdf\xa3"):
        # Matroska: what browsers record with MediaRecorder.
        return "audio/webm"
    if head[4:8] == b"ftyp":
        return "audio/3gpp" if head[8:11] == b"3gp" else "audio/mp4"
    return None


def office_type(data: bytes) -> str | None:
    """Tell the Office Open XML and OpenDocument formats apart by the parts their ZIP holds."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = set(archive.namelist())
            if "mimetype" in names:
                declared = archive.read("mimetype").decode("ascii", "replace").strip()
                return declared if declared in (ODT, ODS) else None
    except (zipfile.BadZipFile, OSError, KeyError):
        return None
    if "word/document.xml" in names:
        return DOCX
    if "xl/workbook.xml" in names:
        return XLSX
    return None


@dataclass
class CleanImage:
    data: bytes
    content_type: str
    thumbnail: bytes


def clean_image(data: bytes) -> CleanImage:
    """Decode an image and encode its pixels again, without metadata; make a JPEG thumbnail.

    The orientation that EXIF gave is applied to the pixels first, so that the photo still
    stands the right way up once its EXIF is gone.
    """
    image = decode(data)
    try:
        return encode(image)
    except (OSError, ValueError):
        # A mode the encoder cannot write (rare in photos and scans).
        raise ContentRejected("image could not be encoded again") from None


def encode(image: Image.Image) -> CleanImage:
    """Return the image's pixels, upright, encoded again in its own format, with a thumbnail."""
    content_type = PILLOW_FORMATS[str(image.format)]
    upright = ImageOps.exif_transpose(image)
    if upright.mode in ("P", "PA"):
        # A palette is stored apart from the pixels, so bare palette pixels would lose colours.
        upright = upright.convert("RGBA")
    # A new image from the bare pixels: nothing of the source's `info` (EXIF, XMP, ICC, text
    # chunks, comments) can reach the encoder.
    pixels = Image.frombytes(upright.mode, upright.size, upright.tobytes())
    if content_type == JPEG and pixels.mode not in ("RGB", "L", "CMYK"):
        pixels = pixels.convert("RGB")

    out = io.BytesIO()
    if content_type == JPEG:
        pixels.save(out, "JPEG", quality=90, optimize=True)
    elif content_type == PNG:
        pixels.save(out, "PNG", optimize=True)
    else:
        pixels.save(out, "WEBP", quality=90)
    return CleanImage(out.getvalue(), content_type, thumbnail(pixels))


def decode(data: bytes) -> Image.Image:
    try:
        with warnings.catch_warnings():
            # Pillow only warns between its limit and twice that; refuse those images too.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            if image.format not in PILLOW_FORMATS:
                raise ContentRejected(f"unsupported image format {image.format}")
            width, height = image.size
            if width * height > MAX_PIXELS:
                raise ContentRejected(f"image of {width}x{height} pixels is too large")
            image.load()
    except (UnidentifiedImageError, Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ContentRejected("not a readable image") from None
    except (OSError, SyntaxError, ValueError):
        # Pillow reports truncated and corrupt files as OSError or SyntaxError.
        raise ContentRejected("not a readable image") from None
    return image


def thumbnail(image: Image.Image) -> bytes:
    small = image.convert("RGB") if image.mode != "RGB" else image.copy()
    small.thumbnail(THUMBNAIL_SIZE)
    out = io.BytesIO()
    small.save(out, "JPEG", quality=75, optimize=True)
    return out.getvalue()
