"""QR codes for tickets: inline SVG for the ticket page, PNG for emails and the QR URL.

The payload is the ticket's secret and nothing else: 26 characters of the look-alike-free alphabet
(upper-case letters and digits) fit QR's alphanumeric mode, which gives a version 2 code (25x25
modules) at error correction level M: small, quick to scan off a cracked phone screen or a printout.
A scanner reads the secret; the door looks it up. No URL, no event id, nothing to tamper with.
"""
from __future__ import annotations

import io
import re
from functools import lru_cache

import qrcode
from markupsafe import Markup, escape
from qrcode.constants import ERROR_CORRECT_M

SECRET_RE = re.compile(r"^[A-Z0-9]{8,64}$")  # what a ticket secret can look like (alphanumeric mode)
BORDER = 4  # the quiet zone the QR standard asks for, in modules


def _matrix(secret: str) -> tuple[tuple[bool, ...], ...]:
    if not isinstance(secret, str) or not SECRET_RE.match(secret):
        raise ValueError("a ticket secret is 8 to 64 upper-case letters and digits")
    return _encode(secret)


@lru_cache(maxsize=2048)  # the ticket page and the QR URL ask for the same few codes again and again
def _encode(secret: str) -> tuple[tuple[bool, ...], ...]:
    code = qrcode.QRCode(error_correction=ERROR_CORRECT_M, border=BORDER)
    code.add_data(secret, optimize=0)  # one alphanumeric segment
    code.make(fit=True)
    return tuple(tuple(row) for row in code.get_matrix())  # with the quiet zone


def qr_svg(secret: str, *, label: str = "QR code of the ticket") -> Markup:
    """The code as an inline `<svg>` (safe to embed: only numbers and the escaped label go into it).

    One `<path>` of horizontal runs on a white background, scaled by CSS (viewBox, no fixed size),
    crisp edges. `role="img"` with `aria-label` for screen readers.
    """
    matrix = _matrix(secret)
    size = len(matrix)
    runs: list[str] = []
    for y, row in enumerate(matrix):
        x = 0
        while x < size:
            if row[x]:
                start = x
                while x < size and row[x]:
                    x += 1
                runs.append(f"M{start} {y}h{x - start}v1h-{x - start}z")
            else:
                x += 1
    return Markup(
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {size} {size}" class="qr" role="img" '
        f'aria-label="{escape(label)}" shape-rendering="crispEdges">'
        f'<rect width="{size}" height="{size}" fill="#fff"/>'
        f'<path fill="#000" d="{"".join(runs)}"/></svg>'
    )


def qr_png(secret: str, *, box_size: int = 8) -> bytes:
    """The code as a PNG, `box_size` pixels per module (8 gives 264x264 for a ticket secret)."""
    from PIL import Image

    matrix = _matrix(secret)
    size = len(matrix)
    image = Image.new("1", (size, size), 1)
    image.putdata([0 if dark else 1 for row in matrix for dark in row])
    image = image.resize((size * box_size, size * box_size), Image.NEAREST)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()
