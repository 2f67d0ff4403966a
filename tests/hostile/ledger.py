"""What the hostile suite measured, written to ``test-artifacts/hostile-summary.json``.

Every figure in docs/hostile.md comes from here: nothing is typed in
by hand. Tests record each hostile input they send (``case``), and the accounting in
``conftest.Accounting`` adds what it found after each wire test (lost messages, crashes, leaked
tokens). A figure that is not zero also fails the test that found it.
"""

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

ARTIFACT = Path(__file__).resolve().parents[2] / "test-artifacts" / "hostile-summary.json"


@dataclass
class Ledger:
    cases: Counter = field(default_factory=Counter)
    crashes: int = 0
    messages_broadcast: int = 0
    messages_lost: int = 0
    messages_duplicated: int = 0
    refused_stored: int = 0
    tokens_checked: int = 0
    tokens_leaked: int = 0
    servers_checked: int = 0
    figures: dict = field(default_factory=dict)

    def case(self, group: str, count: int = 1) -> None:
        """One hostile input of ``group`` was sent (a handshake, a frame, a token...)."""
        self.cases[group] += count

    def as_dict(self) -> dict:
        return {
            "cases_tried": sum(self.cases.values()),
            "cases_by_group": dict(sorted(self.cases.items())),
            "crashes": self.crashes,
            "messages_broadcast_checked": self.messages_broadcast,
            "messages_lost": self.messages_lost,
            "messages_duplicated": self.messages_duplicated,
            "refused_messages_stored": self.refused_stored,
            "tokens_checked_in_logs": self.tokens_checked,
            "tokens_leaked": self.tokens_leaked,
            "server_logs_checked": self.servers_checked,
            "figures": self.figures,
        }

    def add(self, share: dict) -> None:
        """Add another process's ``as_dict()``: a parallel run (pytest-xdist) counts in each
        worker, and the controller adds the workers' shares before writing."""
        self.cases.update(share["cases_by_group"])
        self.crashes += share["crashes"]
        self.messages_broadcast += share["messages_broadcast_checked"]
        self.messages_lost += share["messages_lost"]
        self.messages_duplicated += share["messages_duplicated"]
        self.refused_stored += share["refused_messages_stored"]
        self.tokens_checked += share["tokens_checked_in_logs"]
        self.tokens_leaked += share["tokens_leaked"]
        self.servers_checked += share["server_logs_checked"]
        self.figures.update(share["figures"])

    def write(self) -> Path | None:
        if not self.cases:
            return None
        ARTIFACT.parent.mkdir(exist_ok=True)
        ARTIFACT.write_text(json.dumps(self.as_dict(), indent=2, sort_keys=True) + "\n")
        return ARTIFACT


LEDGER = Ledger()
