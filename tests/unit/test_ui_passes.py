"""Passes to a bot's Control UI: bound to one session and one bot, ended by a logout."""

from __future__ import annotations

from botmaker.services.gateway.passes import UiPasses


def _pass(passes: UiPasses, session: str, bot: str) -> str:
    redeemed = passes.redeem(passes.ticket(session, bot), bot)
    assert redeemed is not None
    return redeemed[0]


def test_a_ticket_opens_one_pass_for_its_bot_only() -> None:
    passes = UiPasses(3600)
    ticket = passes.ticket("s1", "bot-a")
    assert passes.redeem(ticket, "bot-b") is None  # another bot's origin
    ticket = passes.ticket("s1", "bot-a")
    redeemed = passes.redeem(ticket, "bot-a")
    assert redeemed is not None
    assert passes.redeem(ticket, "bot-a") is None  # single use
    token, granted = redeemed
    assert passes.check(token, "bot-a") == granted
    assert passes.check(token, "bot-b") is None


def test_ending_a_session_ends_its_passes_and_tickets_and_no_others() -> None:
    passes = UiPasses(3600)
    mine = [_pass(passes, "s1", "bot-a"), _pass(passes, "s1", "bot-b")]
    theirs = _pass(passes, "s2", "bot-a")
    waiting = passes.ticket("s1", "bot-c")
    passes.end_session("s1")
    assert passes.check(mine[0], "bot-a") is None
    assert passes.check(mine[1], "bot-b") is None
    assert passes.redeem(waiting, "bot-c") is None
    assert passes.check(theirs, "bot-a") is not None


def test_an_expired_pass_is_refused() -> None:
    passes = UiPasses(-1)
    token = _pass(passes, "s1", "bot-a")
    assert passes.check(token, "bot-a") is None
