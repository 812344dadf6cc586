"""Cover images: checked by content (Pillow, not the file name), re-encoded, stored under instance/uploads.

What the browser sends is never written to disk as is: the image is decoded, its pixel count bounded,
rotated upright from its EXIF orientation, scaled down when huge, and saved again in its own format
(JPEG, PNG or WebP) without metadata (no camera serial numbers or GPS positions), under a random
name. `STORED_NAME_RE` is the only shape of name the rest of the app accepts.
"""
from __future__ import annotations

import os
import re
import secrets
import warnings
from io import BytesIO
from pathlib import Path
from typing import IO

from flask import current_app
from PIL import Image, ImageOps, UnidentifiedImageError

from eventsite.core.errors import ValidationError

FORMATS = {"JPEG": "jpg", "PNG": "png", "WEBP": "webp"}
STORED_NAME_RE = re.compile(r"^[0-9a-f]{32}\.(?:jpg|png|webp)$")
MAX_PIXELS = 40_000_000  # about 7,300 x 5,500: more than any camera a cover photo comes from
MAX_SIDE = 2400  # stored covers are scaled down to fit this box


def upload_dir() -> Path:
    path = Path(current_app.instance_path) / "uploads"
    path.mkdir(parents=True, exist_ok=True)
    return path


def upload_path(name: str) -> Path | None:
    """The file of a stored upload, or None for a name that is not one of ours."""
    if not name or not STORED_NAME_RE.match(name):
        return None
    return upload_dir() / name


def max_size_label() -> str:
    """UPLOAD_MAX_BYTES for people: '5 MB'."""
    return f"{int(current_app.config['UPLOAD_MAX_BYTES']) / (1024 * 1024):.3g} MB"


def store_image(stream: IO[bytes], *, field: str = "cover_image") -> str:
    """Check, re-encode and store an uploaded image; return its new file name.

    Raises ValidationError({field: message}) for an empty, oversized, unreadable or unsupported file.
    """
    limit = int(current_app.config["UPLOAD_MAX_BYTES"])
    data = stream.read(limit + 1)
    if not data:
        raise ValidationError({field: "The file is empty. Choose a JPEG, PNG or WebP image."})
    if len(data) > limit:
        raise ValidationError({field: f"The image is larger than {max_size_label()}. Choose a smaller one."})
    try:
        image_bytes, extension = _reencode(data)
    except _Refused as e:
        raise ValidationError({field: str(e)}) from None
    name = f"{secrets.token_hex(16)}.{extension}"
    target = upload_dir() / name
    temporary = target.with_suffix(".part")
    with open(temporary, "wb") as fh:
        fh.write(image_bytes)
    os.replace(temporary, target)
    return name


def delete_upload(name: str | None) -> None:
    """Remove a stored upload (after the change that dropped it was committed). Unknown names are ignored."""
    path = upload_path(name or "")
    if path is not None:
        try:
            path.unlink()
        except FileNotFoundError:
            pass


class _Refused(Exception):
    pass


def _reencode(data: bytes) -> tuple[bytes, str]:
    unsupported = "Use a JPEG, PNG or WebP image. This file is not one (its content was checked, not its name)."
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(BytesIO(data)) as probe:
                fmt = probe.format
                if fmt not in FORMATS:
                    raise _Refused(unsupported)
                if probe.width * probe.height > MAX_PIXELS:
                    raise _Refused("The image has too many pixels. Use one smaller than 7000 x 5000.")
                probe.verify()  # checks the file's structure (PNG checksums, truncation)
            with Image.open(BytesIO(data)) as image:
                image.load()
                image = ImageOps.exif_transpose(image)
                image.thumbnail((MAX_SIDE, MAX_SIDE))
                return _save(image, fmt), FORMATS[fmt]
    except _Refused:
        raise
    except (UnidentifiedImageError, Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise _Refused(unsupported) from None
    except (OSError, SyntaxError, ValueError, EOFError):
        raise _Refused("The image could not be read; it may be damaged. Try exporting it again.") from None


def _save(image: Image.Image, fmt: str) -> bytes:
    out = BytesIO()
    if fmt == "JPEG":
        if image.mode not in ("RGB", "L"):
            image = image.convert("RGB")
        image.save(out, "JPEG", quality=85, optimize=True, progressive=True)
    elif fmt == "PNG":
        if image.mode not in ("RGB", "RGBA", "L", "LA", "P"):
            image = image.convert("RGBA")
        image.save(out, "PNG", optimize=True)
    else:
        if image.mode not in ("RGB", "RGBA"):
            image = image.convert("RGBA" if "A" in image.mode or "transparency" in image.info else "RGB")
        image.save(out, "WEBP", quality=85)
    return out.getvalue()
