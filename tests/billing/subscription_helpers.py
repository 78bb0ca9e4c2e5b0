"""Cards on file and clocks for the subscription tests."""

from __future__ import annotations

import contextlib
import re
import zlib
from datetime import UTC, datetime

from trunkline.billing.models import PaymentMethod
from trunkline.billing.payments import SimulatedProcessor
from trunkline.core.actors import Actor

GOOD_CARD = "4242424242424242"
DECLINING_CARD = "4000000000000341"  # attaches, then every charge is declined
CONFIRM_CARD = "4000002500003155"  # the bank asks for 3-D Secure on every charge


def at(year, month, day, hour=12, minute=0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def add_card(partner, number: str = GOOD_CARD) -> PaymentMethod:
    """A card on file at the simulated processor, made the default."""
    card = SimulatedProcessor().card_attach(customer_id=f"cus_{partner.id}", token=number)
    PaymentMethod.objects.filter(partner=partner, is_default=True).update(is_default=False)
    return PaymentMethod.objects.create(
        partner=partner,
        processor="simulated",
        processor_id=card.id,
        brand=card.brand,
        last4=card.last4,
        exp_month=card.exp_month,
        exp_year=card.exp_year,
        is_default=True,
    )


def partner_actor(admin) -> Actor:
    return Actor(kind="user", partner=admin.partner, user=admin, can_write=True)


def pdf_text(document: bytes) -> str:
    """The text drawing operators of every content stream, inflated where compressed."""
    chunks = []
    # Up to `endstream` without trimming: compressed data may itself end in a \r or \n
    # byte, and a decompressor leaves the line break after the data unused.
    for match in re.finditer(rb"stream\r?\n(.*?)endstream", document, re.S):
        raw = match.group(1)
        with contextlib.suppress(zlib.error):
            raw = zlib.decompressobj().decompress(raw)
        chunks.append(raw.decode("latin-1"))
    return "\n".join(chunks)
