"""Cover images are served from instance/uploads, only under names the app generated."""
from __future__ import annotations

import os

import pytest

NAME = "0123456789abcdef0123456789abcdef.png"
PNG = (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89"
       b"\x00\x00\x00\rIDATx\x9cc\xf8\xff\xff?\x00\x05\xfe\x02\xfe\xa7\x35\x81\x84\x00\x00\x00\x00IEND\xaeB`\x82")


@pytest.fixture
def stored(app):
    folder = os.path.join(app.instance_path, "uploads")
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, NAME)
    with open(path, "wb") as fh:
        fh.write(PNG)
    yield path
    os.remove(path)


@pytest.fixture
def secret(app):
    """A file beside uploads/ that must never be served (the dev secret key lives there)."""
    path = os.path.join(app.instance_path, "secret_key")
    if not os.path.exists(path):
        with open(path, "w") as fh:
            fh.write("do-not-serve-this-secret")
    with open(path) as fh:
        return fh.read().strip()


def test_serves_a_stored_image_with_long_cache(client, stored):
    response = client.get(f"/uploads/{NAME}")
    assert response.status_code == 200
    assert response.data == PNG
    assert response.mimetype == "image/png"
    cache = response.cache_control
    assert cache.public and cache.max_age >= 30 * 24 * 3600 and cache.immutable
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in response.headers["Content-Security-Policy"]


@pytest.mark.parametrize("path", [
    "/uploads/../secret_key",
    "/uploads/..%2Fsecret_key",
    "/uploads/%2e%2e/secret_key",
    "/uploads/sub/../../secret_key",
    "/uploads/secret_key",
    "/uploads/" + "f" * 32 + ".png",  # the right shape, but no such file
    "/uploads/" + NAME.replace(".png", ".html"),
])
def test_no_path_traversal_or_unknown_names(client, stored, secret, path):
    response = client.get(path)
    assert response.status_code == 404
    assert secret.encode() not in response.data
    assert b"Page not found" in response.data
