import io

import pytest
from django.test.client import BOUNDARY, MULTIPART_CONTENT, encode_multipart


def image_bytes(fmt="PNG", size=(600, 400), mode="RGB", **save) -> bytes:
    from PIL import Image

    image = Image.new(mode, size, (200, 30, 30) if mode == "RGB" else None)
    out = io.BytesIO()
    image.save(out, format=fmt, **save)
    return out.getvalue()


def upload(api, data: bytes, name="logo.png", content_type="image/png"):
    """PUT /v1/branding/logo with `data` as the multipart field `file`."""
    from django.core.files.uploadedfile import SimpleUploadedFile

    body = encode_multipart(BOUNDARY, {"file": SimpleUploadedFile(name, data, content_type)})
    return api.client.put(
        "/v1/branding/logo", body, content_type=MULTIPART_CONTENT, **api._headers(None)
    )


@pytest.fixture
def png():
    return image_bytes("PNG")
