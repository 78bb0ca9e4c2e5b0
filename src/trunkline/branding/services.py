"""Changing a partner's logo: a Partner Admin's (or a partner-wide API key's) to do.

The upload is decoded with Pillow, so only a real PNG or JPEG is taken, whatever its name
or declared type says. It is re-encoded as PNG, scaled down to MAX_HEIGHT pixels tall and
stripped of its metadata (EXIF, comments, colour profiles): what is stored and served is
a file Trunkline wrote, never the uploaded bytes.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from trunkline.accounts.models import Partner
from trunkline.branding.models import PartnerLogo
from trunkline.core.actors import Actor
from trunkline.core.audit import audit_record
from trunkline.core.errors import PermissionDenied, ValidationFailed

MAX_LOGO_BYTES = 512 * 1024
MAX_SIDE = 2000  # pixels, either way, of the upload
MAX_HEIGHT = 256  # pixels of the stored logo
# Pillow names a camera's JPEG with extra preview images "MPO"; it is a JPEG all the same.
ACCEPTED_FORMATS = {"PNG", "JPEG", "MPO"}


@dataclass(frozen=True)
class CleanLogo:
    png: bytes
    width: int
    height: int


def require_branding_writer(actor: Actor) -> Partner:
    """The brand is the whole partner's: a Partner Admin changes it, or an API key that is
    not limited to some tenants; Partner Users are read-only."""
    if actor.partner is None:
        raise PermissionDenied("the logo belongs to a partner")
    if not actor.can_write:
        raise PermissionDenied("this account is read-only")
    if actor.api_key is not None:
        if actor.tenant_ids is not None:
            raise PermissionDenied("a key limited to some tenants cannot change the branding")
    elif actor.kind != "system" and (actor.user is None or not actor.user.is_partner_admin):
        raise PermissionDenied("only a Partner Admin can change the logo")
    return actor.partner


def _refuse(message: str) -> ValidationFailed:
    return ValidationFailed(message, field="file")


def logo_clean(data: bytes) -> CleanLogo:
    """The upload as the PNG to store, or ValidationFailed saying what is wrong with it."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    if not data:
        raise _refuse("choose a PNG or JPEG file")
    if len(data) > MAX_LOGO_BYTES:
        raise _refuse("the logo is larger than 512 KB")
    try:
        # Opening reads only the header: the format and size are checked before any
        # pixel is decoded, so a small file claiming a huge image costs nothing.
        with Image.open(io.BytesIO(data)) as upload:
            if upload.format not in ACCEPTED_FORMATS:
                raise _refuse(f"the logo must be a PNG or JPEG, not {upload.format or 'this'}")
            width, height = upload.size
            if width > MAX_SIDE or height > MAX_SIDE:
                raise _refuse(f"the logo is {width}x{height} pixels; at most {MAX_SIDE}x{MAX_SIDE}")
            upload.load()  # a truncated or corrupt file fails here
            image = ImageOps.exif_transpose(upload)
            has_alpha = image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info
            image = image.convert("RGBA" if has_alpha else "RGB")
    except ValidationFailed:
        raise
    except Image.DecompressionBombError:
        raise _refuse(f"the image is too large; at most {MAX_SIDE}x{MAX_SIDE} pixels") from None
    except UnidentifiedImageError:
        raise _refuse("the file is not a PNG or JPEG image") from None
    except (OSError, ValueError, SyntaxError):
        raise _refuse("the image file is damaged or incomplete") from None
    if image.height > MAX_HEIGHT:
        width = max(1, round(image.width * MAX_HEIGHT / image.height))
        image = image.resize((width, MAX_HEIGHT), Image.Resampling.LANCZOS)
    # A fresh image holds the pixels only: no EXIF, text chunks or colour profile.
    pixels = Image.frombytes(image.mode, image.size, image.tobytes())
    out = io.BytesIO()
    pixels.save(out, format="PNG", optimize=True)
    return CleanLogo(png=out.getvalue(), width=pixels.width, height=pixels.height)


def _summary(logo: PartnerLogo | None) -> dict | None:
    if logo is None:
        return None
    return {
        "content_type": logo.content_type,
        "width": logo.width,
        "height": logo.height,
        "size": logo.size,
        "sha256": logo.sha256,
    }


def partner_logo_set(*, actor: Actor, data: bytes, now: datetime | None = None) -> PartnerLogo:
    """Replace the partner's logo with this upload (PNG or JPEG, at most 512 KB and
    2000 pixels either way)."""
    partner = require_branding_writer(actor)
    clean = logo_clean(data)
    now = now or timezone.now()
    digest = hashlib.sha256(clean.png).hexdigest()
    with transaction.atomic():
        # The partner's row lock orders concurrent uploads, so each audit row's "before"
        # is the logo the upload really replaced.
        Partner.objects.select_for_update(no_key=True).filter(pk=partner.pk).first()
        before = PartnerLogo.objects.filter(partner=partner).defer("image").first()
        logo, _ = PartnerLogo.objects.update_or_create(
            partner=partner,
            defaults={
                "image": clean.png,
                "content_type": "image/png",
                "width": clean.width,
                "height": clean.height,
                "size": len(clean.png),
                "sha256": digest,
                "updated_at": now,
            },
        )
        audit_record(
            actor=actor,
            partner=partner,
            action="partner.logo_updated",
            object_type="partner",
            object_id=partner.pk,
            before=_summary(before),
            after=_summary(logo),
        )
    return logo


def partner_logo_remove(*, actor: Actor) -> bool:
    """Remove the partner's logo; False when there was none (nothing is audited then)."""
    partner = require_branding_writer(actor)
    with transaction.atomic():
        Partner.objects.select_for_update(no_key=True).filter(pk=partner.pk).first()
        logo = PartnerLogo.objects.filter(partner=partner).defer("image").first()
        if logo is None:
            return False
        before = _summary(logo)
        logo.delete()
        audit_record(
            actor=actor,
            partner=partner,
            action="partner.logo_removed",
            object_type="partner",
            object_id=partner.pk,
            before=before,
        )
    return True
