"""User agents classified with the OPAWG lists: every example of the vendored tarball
classifies as its list says (the lists' own check, .github/workflows/patterns_test.ts of
opawg/user-agents-v2, run with Python's re), and the rules we add on top of the lists."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from streamer.analytics.agents import Agent, AgentClassifier, classify, default_classifier

EXAMPLES = Path(__file__).parent.parent / "data" / "opawg"

# Examples the lists themselves do not classify as they say, and why (upstream's own check
# skips the devices list, whose entries are matched in order: an earlier, broader pattern
# wins). Keep this short; a new entry here is a finding to report upstream.
DEVICE_EXCEPTIONS = {
    # "Apple iPhone" (earlier in devices.runtime.json) matches any "CFNetwork/".
    "Watch/1140 CFNetwork/3860.200.71 Darwin/25.1.0": "Apple iPhone",
}


def _examples(list_name: str) -> list[tuple[str, str]]:
    entries = json.loads((EXAMPLES / f"{list_name}.examples.json").read_text())["entries"]
    return [(entry["name"], example) for entry in entries for example in entry["examples"]]


# One test per list, not one per example: 1,458 parametrised cases cost pytest ~30 s; a
# loop costs a second and its assertion names every example that fails.
def test_every_bots_example_is_that_bot() -> None:
    wrong = [
        (name, user_agent, agent)
        for name, user_agent in _examples("bots")
        if (agent := classify(user_agent))
        != Agent(bot=True, bot_reason="bot", kind="bot", name=name)
    ]
    assert wrong == []


def test_every_apps_example_is_that_app() -> None:
    wrong = [
        (name, user_agent, agent)
        for name, user_agent in _examples("apps")
        if ((agent := classify(user_agent)).kind, agent.app, agent.bot) != ("app", name, False)
    ]
    assert wrong == []


def test_every_devices_example_is_that_device() -> None:
    wrong = [
        (name, user_agent, device)
        for name, user_agent in _examples("devices")
        if (device := classify(user_agent).device) != DEVICE_EXCEPTIONS.get(user_agent, name)
    ]
    assert wrong == []


def test_the_examples_are_all_there() -> None:
    # A truncated copy would pass the tests above with fewer cases.
    assert (len(_examples("bots")), len(_examples("apps")), len(_examples("devices"))) == (
        342,
        964,
        152,
    )


def test_a_browser_is_named_by_its_referrer() -> None:
    safari = (
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 "
        "(KHTML, like Gecko) Version/17.0 Safari/605.1.15"
    )
    agent = classify(safari, "https://podcasts.apple.com/us/podcast/x/id1")
    assert (agent.kind, agent.browser, agent.device, agent.os) == (
        "browser",
        "Safari",
        "Apple Computer",
        "macOS",
    )
    assert (agent.referrer_app, agent.referrer_category) == ("Apple Podcasts", "app")
    assert classify(safari, "https://example.org/").referrer_app is None
    assert classify(safari).referrer_app is None


def test_a_referrer_names_only_browsers() -> None:
    # Apps set their own User-Agent; the Referer names web players (OPAWG README).
    agent = classify("Overcast/3.0 (+http://overcast.fm/; iOS podcast app)", "https://castro.fm/")
    assert (agent.app, agent.referrer_app) == ("Overcast", None)


@pytest.mark.parametrize(
    ("user_agent", "reason", "name"),
    [
        ("curl/8.4.0", "bot", "curl"),
        ("python-requests/2.31.0", "bot", "python-requests"),
        ("axios/1.6.0", "bot-library", "Axios (Node)"),
        ("Mozilla/5.0 (compatible; SomeNewBot/0.1)", "unknown-bot", None),
        ("ACME Crawler 2", "unknown-bot", None),
        ("my-spider", "unknown-bot", None),
        ("", "no-user-agent", None),
        ("   ", "no-user-agent", None),
        (None, "no-user-agent", None),
    ],
)
def test_bots_are_named_with_a_reason(
    user_agent: str | None, reason: str, name: str | None
) -> None:
    agent = classify(user_agent)
    assert (agent.bot, agent.bot_reason, agent.name) == (True, reason, name)


@pytest.mark.parametrize(
    "user_agent",
    [
        "SEIRobotics;yes;756a522d9f1648b89e76e80be654456a;;tpapi;3.200.454",  # "bot" inside
        "Mozilla/5.0 (X11; Linux x86_64) Unknown/1.0",
        "AppleCoreMedia/1.0.0.21A329 (iPhone; U; CPU OS 17_0 like Mac OS X; en_us)",
    ],
)
def test_listeners_are_not_bots(user_agent: str) -> None:
    agent = classify(user_agent)
    assert (agent.bot, agent.bot_reason) == (False, None)


@pytest.mark.parametrize(
    ("user_agent", "os"),
    [
        ("AppleCoreMedia/1.0.0.20K71 (Apple TV; U; CPU OS 16_1 like Mac OS X; en_au)", "tvOS"),
        ("Podcasts/1.0 (null) watchOS/10.0", None),  # a bot (Apple Podcasts Watch)
        ("Overcast/3.0 (+http://overcast.fm/; iOS podcast app)", "iOS"),
        ("Spotify/8.6.0 Android/29 (SM-G973F)", "Android"),
        ("Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) Chrome/120.0 Safari/537.36", "ChromeOS"),
        ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/120.0 Safari/537.36", "Windows"),
        ("Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0", "Linux"),
        ("Mozilla/5.0 (X11; Linux x86_64) Unknown/1.0", "Linux"),
        ("Unknown/1.0", None),
    ],
)
def test_the_operating_system_comes_from_our_table(user_agent: str, os: str | None) -> None:
    assert classify(user_agent).os == os


def test_newlines_are_removed_before_matching() -> None:
    assert classify("curl/8.4.0\r\n").name == "curl"
    assert classify("Overcast/3.0 (+http://overcast.fm/;\n iOS podcast app)").app == "Overcast"


def test_results_are_cached_by_user_agent_in_a_bounded_cache() -> None:
    classifier = AgentClassifier(cache_size=2)
    for user_agent in ("curl/1", "curl/1", "curl/2", "curl/3", "curl/1"):
        classifier.classify(user_agent)
    info = classifier.cache_info()
    assert (info.hits, info.misses, info.currsize, info.maxsize) == (1, 4, 2, 2)


def test_one_classifier_per_process() -> None:
    assert default_classifier() is default_classifier()
