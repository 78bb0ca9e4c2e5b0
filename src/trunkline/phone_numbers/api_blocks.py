"""`/v1/platform/number-blocks`: platform staff loading number blocks from CSV.

Only a platform key (`trunkline create-api-key --platform`) opens it; a partner's key
gets the 404 any unknown path gets, so partners cannot tell it exists.
"""

from __future__ import annotations

from ninja import File, Form, Router, Schema, Status
from ninja.files import UploadedFile
from pydantic import Field

from trunkline.accounts.api_auth import scope
from trunkline.phone_numbers import blocks

router = Router(tags=["Platform"])


class NumberBlockOut(Schema):
    loaded: int = Field(description="Numbers put on sale (or that would be, with dry_run)")
    local: int
    toll_free: int
    source: str = Field(description="`block:<file name>`, kept on each number")
    dry_run: bool


@router.post(
    "/platform/number-blocks",
    response={200: NumberBlockOut, 201: NumberBlockOut},
    auth=scope("phone_numbers:write"),
)
def load_number_block(request, file: File[UploadedFile], dry_run: Form[bool] = False):
    """Load a CSV block of numbers (columns `number`, `type`, and optionally `state`,
    `rate_center`, `city`) into the carrier's inventory, all or none. A refused file
    answers 422 `block_rejected`, its message listing the problems (`row N: …`; the first
    50 of them). `dry_run=true` checks the file and loads nothing (200)."""
    blocks.require_platform(request.actor)
    content = file.read(blocks.MAX_BYTES + 1)
    result = blocks.number_block_load(
        actor=request.actor, content=content, filename=file.name or "", dry_run=dry_run
    )
    return Status(200 if dry_run else 201, result.as_dict())
