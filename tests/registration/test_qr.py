"""QR codes decode back to the ticket secret: the PNG directly, the SVG rendered to PNG by cairosvg."""
from __future__ import annotations

import io
import xml.etree.ElementTree as ET

import cairosvg
import pytest
import zxingcpp
from PIL import Image

from eventsite.core.security import random_token
from eventsite.registration.qr import qr_png, qr_svg
from tests.registration.helpers import decode_qr_png

SVG = "{http://www.w3.org/2000/svg}"


def _decode_svg(svg: str) -> list[zxingcpp.Barcode]:
    png = cairosvg.svg2png(bytestring=svg.encode("utf-8"), output_width=330, output_height=330)
    return zxingcpp.read_barcodes(Image.open(io.BytesIO(png)))


def test_png_decodes_to_the_secret_and_is_small():
    for _ in range(20):
        secret = random_token(130)
        data = qr_png(secret)
        assert data.startswith(b"\x89PNG")
        assert decode_qr_png(data) == [secret]
        image = Image.open(io.BytesIO(data))
        assert image.size == (33 * 8, 33 * 8)  # version 2 (25 modules) + 2 x 4 quiet zone: alphanumeric mode


def test_svg_renders_and_decodes_to_the_secret():
    for _ in range(10):
        secret = random_token(130)
        results = _decode_svg(str(qr_svg(secret)))
        assert [r.text for r in results] == [secret]
        assert results[0].format == zxingcpp.BarcodeFormat.QRCode


def test_svg_is_plain_safe_markup():
    secret = random_token(130)
    svg = qr_svg(secret, label='Ticket for "Ada" <script>')
    root = ET.fromstring(str(svg))
    assert root.tag == f"{SVG}svg" and root.get("role") == "img"
    assert root.get("aria-label") == 'Ticket for "Ada" <script>'  # escaped in the markup, intact when parsed
    assert "<script" not in str(svg)
    assert [child.tag for child in root] == [f"{SVG}rect", f"{SVG}path"]
    assert set(root.find(f"{SVG}path").get("d")) <= set("0123456789Mhvz- ")
    assert root.get("viewBox") == "0 0 33 33" and root.get("width") is None  # sized by CSS
    assert secret not in str(svg)  # the secret is only in the pattern, not in the page's text
    assert hasattr(svg, "__html__")  # Markup: embeds without |safe


@pytest.mark.parametrize("bad", ["", "short", "lowercase-secret-abcdefgh", "ABC<script>DEFGHIJ", "A" * 65, None, 123])
def test_only_secrets_are_encoded(bad):
    with pytest.raises(ValueError):
        qr_png(bad)
    with pytest.raises(ValueError):
        qr_svg(bad)
