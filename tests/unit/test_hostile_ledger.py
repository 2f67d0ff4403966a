"""The hostile ledger adds up across parallel workers: each counts its own tests, and the run's
summary (docs/hostile.md's figures) is the sum."""

from ..hostile.ledger import Ledger


def test_shares_of_two_workers_add_up_to_one_ledger():
    first, second = Ledger(), Ledger()
    first.case("frames", 3)
    first.messages_broadcast, first.tokens_checked = 10, 2
    first.figures["crowd_sockets"] = 300
    second.case("frames")
    second.case("faults", 2)
    second.messages_broadcast, second.crashes = 5, 1
    second.figures["ping_flood_pongs"] = 40

    total = Ledger()
    total.add(first.as_dict())
    total.add(second.as_dict())

    summary = total.as_dict()
    assert summary["cases_tried"] == 6
    assert summary["cases_by_group"] == {"faults": 2, "frames": 4}
    assert summary["messages_broadcast_checked"] == 15
    assert summary["crashes"] == 1
    assert summary["tokens_checked_in_logs"] == 2
    assert summary["figures"] == {"crowd_sockets": 300, "ping_flood_pongs": 40}
