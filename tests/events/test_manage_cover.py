"""The cover image: checked by content with Pillow, size-limited, re-encoded, stored under a random name."""
from __future__ import annotations

import os
from io import BytesIO

import pytest
from PIL import Image
from sqlalchemy import select

from eventsite.events.models import Event
from eventsite.events.uploads import STORED_NAME_RE
from eventsite.extensions import db
from tests.conftest import post_form
from tests.events.manage_helpers import editor, event_form_data, field_error, png_bytes, text_of  # noqa: F401

EDIT = "/organizer/events/summer-leadership-evening/edit"


def _uploads(app) -> set[str]:
    path = os.path.join(app.instance_path, "uploads")
    return set(os.listdir(path)) if os.path.isdir(path) else set()


def _cover() -> str | None:
    return db.session.scalar(select(Event.cover_image).where(Event.slug == "summer-leadership-evening"))


def _post(client, url, filename, content, **fields):
    data = event_form_data(**fields)
    data["cover_image"] = (BytesIO(content), filename)
    return post_form(client, url, data, content_type="multipart/form-data")


@pytest.fixture
def event_url(app, editor):
    response = post_form(editor, "/organizer/events/new", event_form_data())
    assert response.status_code == 302
    return EDIT


def test_a_real_png_is_stored_reencoded_under_a_random_name(app, editor, event_url):
    before = _uploads(app)
    response = _post(editor, event_url, "my photo.png", png_bytes((800, 400)))
    assert response.status_code == 302
    with app.app_context():
        name = _cover()
    assert name and STORED_NAME_RE.match(name) and name.endswith(".png")
    assert _uploads(app) - before == {name}
    with Image.open(os.path.join(app.instance_path, "uploads", name)) as stored:
        assert stored.format == "PNG" and stored.size == (800, 400)
    served = editor.get(f"/uploads/{name}")
    assert served.status_code == 200 and served.data.startswith(b"\x89PNG")
    assert f'src="/uploads/{name}"' in editor.get(event_url).get_data(as_text=True)  # a preview in the editor


def test_jpeg_metadata_is_dropped_and_huge_images_scaled_down(app, editor, event_url):
    image = Image.new("RGB", (3000, 1500), (200, 80, 120))
    exif = Image.Exif()
    exif[0x010F] = "SecretCam"  # camera maker
    out = BytesIO()
    image.save(out, "JPEG", exif=exif.tobytes())
    assert b"SecretCam" in out.getvalue()
    assert _post(editor, event_url, "big.jpg", out.getvalue()).status_code == 302
    with app.app_context():
        name = _cover()
    assert name.endswith(".jpg")
    path = os.path.join(app.instance_path, "uploads", name)
    with open(path, "rb") as fh:
        assert b"SecretCam" not in fh.read()
    with Image.open(path) as stored:
        assert stored.format == "JPEG" and max(stored.size) == 2400


def test_a_text_file_named_png_is_refused(app, editor, event_url):
    before = _uploads(app)
    response = _post(editor, event_url, "cover.png", b"This is not an image, just text pretending.\n" * 20,
                     summary="Kept while the image is refused")
    assert response.status_code == 422
    assert "Use a JPEG, PNG or WebP image" in field_error(response.data, "cover_image")
    assert "Kept while the image is refused" in response.get_data(as_text=True)
    assert _uploads(app) == before
    with app.app_context():
        assert _cover() is None


def test_other_image_formats_are_refused_by_content(app, editor, event_url):
    gif = BytesIO()
    Image.new("RGB", (10, 10)).save(gif, "GIF")
    response = _post(editor, event_url, "cover.png", gif.getvalue())  # a GIF in disguise
    assert response.status_code == 422
    assert "Use a JPEG, PNG or WebP image" in field_error(response.data, "cover_image")


def test_a_damaged_png_is_refused(app, editor, event_url):
    data = png_bytes((200, 100))
    response = _post(editor, event_url, "cover.png", data[: len(data) // 2])
    assert response.status_code == 422
    assert field_error(response.data, "cover_image")


def test_an_oversized_file_is_refused(app, editor, event_url):
    limit = app.config["UPLOAD_MAX_BYTES"]
    big = png_bytes() + b"\0" * (limit + 1)
    before = _uploads(app)
    response = _post(editor, event_url, "huge.png", big)
    assert response.status_code == 422
    assert "larger than 5 MB" in field_error(response.data, "cover_image")
    assert _uploads(app) == before


def test_an_image_refused_by_another_field_is_not_kept(app, editor, event_url):
    before = _uploads(app)
    response = _post(editor, event_url, "ok.png", png_bytes(), slug="Bad Slug")
    assert response.status_code == 422
    assert field_error(response.data, "slug")
    assert "Choose the image again" in field_error(response.data, "cover_image")
    assert _uploads(app) == before


def test_replacing_and_removing_the_cover_deletes_the_old_file(app, editor, event_url):
    _post(editor, event_url, "one.png", png_bytes(color=(1, 2, 3)))
    with app.app_context():
        first = _cover()
    _post(editor, event_url, "two.png", png_bytes(color=(4, 5, 6)))
    with app.app_context():
        second = _cover()
    assert second != first and second in _uploads(app) and first not in _uploads(app)

    assert "Remove the current cover image" in text_of(editor.get(event_url).data)
    response = post_form(editor, event_url, {**event_form_data(), "remove_cover": "y"})
    assert response.status_code == 302
    with app.app_context():
        assert _cover() is None
    assert second not in _uploads(app)
