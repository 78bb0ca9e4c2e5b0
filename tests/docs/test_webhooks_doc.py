"""docs/webhooks.md says what the code does: its event table and retry plan are checked."""

import re
from datetime import timedelta
from pathlib import Path

from trunkline.core.events import EVENT_TYPES
from trunkline.webhooks.delivery import RETRY_DELAYS

ROOT = Path(__file__).resolve().parents[2]
DOC = (ROOT / "docs" / "webhooks.md").read_text()


def catalogue_table() -> str:
    rows = ["| Category | Event | When |", "|---|---|---|"]
    rows += [
        f"| {event.category} | `{event.name}` | {event.description} |"
        for event in EVENT_TYPES.values()
    ]
    return "\n".join(rows)


def test_the_event_table_is_the_catalogue():
    documented = DOC.split("<!-- events:start -->\n", 1)[1].split("\n<!-- events:end -->", 1)[0]
    expected = catalogue_table()
    assert documented == expected, (
        "docs/webhooks.md's event table differs from trunkline/core/events.py; "
        "replace the table between the events markers with:\n" + expected
    )


def _delay(text: str) -> timedelta:
    if text == "at once":
        return timedelta(0)
    amount, unit = re.fullmatch(r"(\d+) (second|minute|hour)s? later", text).groups()
    return timedelta(**{unit + "s": int(amount)})


def test_the_retry_table_is_the_senders_plan():
    rows = re.findall(r"^\| (\d) \| (.+?) \|$", DOC, flags=re.MULTILINE)
    assert [int(number) for number, _ in rows] == list(range(1, len(RETRY_DELAYS) + 1))
    assert tuple(_delay(text) for _, text in rows) == RETRY_DELAYS


def test_the_receiver_example_it_links_to_exists():
    for target in re.findall(r"\]\((\.\./[^)#]+)\)", DOC):
        assert (ROOT / "docs" / target).resolve().is_file(), target
    assert "examples/webhook_receiver.py" in DOC
