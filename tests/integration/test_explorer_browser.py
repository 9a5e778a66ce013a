"""The trace explorer in a real headless Chromium (Debian's chromium + chromium-driver, driven
by Selenium), against ``midwatch serve`` on a store filled by ``midwatch demo``.

Searches by each kind of ID the demo produces, checks the waterfall against
``midwatch trace --json``, follows the permalink, and fails on any browser console error.
Screenshots go to tests/artifacts/explorer/ (gitignored) for a person to look at.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import pytest

# Selenium is a dev dependency (make venv): missing, the module fails to import, never skips.
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

from midwatch.demo.run import run_demo

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts" / "explorer"
CHROMIUM = os.environ.get("MIDWATCH_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("MIDWATCH_CHROMEDRIVER", "/usr/bin/chromedriver")


def _midwatch(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "midwatch", *args], capture_output=True,
                          text=True, timeout=60, check=False)


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Path:
    workdir = tmp_path_factory.mktemp("explorer-demo")
    run_demo(workdir, seed=7, messages=80)
    return workdir / "midwatch.yaml"


@pytest.fixture(scope="module")
def server(demo: Path) -> Iterator[str]:
    """``midwatch serve`` on a free port; its address from the line it prints."""
    proc = subprocess.Popen([sys.executable, "-m", "midwatch", "serve", "-c", str(demo),
                             "--listen", "127.0.0.1:0"], stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        url = None
        while url is None and time.monotonic() < deadline:
            line = proc.stderr.readline()
            if not line and proc.poll() is not None:
                break
            found = re.search(r"midwatch API on (http://\S+)", line)
            url = found[1] if found else None
        assert url, f"midwatch serve did not start (exit {proc.poll()})"
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture(scope="module")
def browser() -> Iterator[webdriver.Chrome]:
    for path in (CHROMIUM, CHROMEDRIVER):
        if not shutil.which(path):
            pytest.fail(f"{path} is missing: `bash deploy/local/services.sh up` installs "
                        "Debian's chromium and chromium-driver", pytrace=False)
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1280,900"):
        opts.add_argument(arg)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
    driver.set_page_load_timeout(30)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    yield driver
    driver.quit()


def _console_errors(driver) -> list[str]:
    return [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"]


def _trace_json(demo: Path, any_id: str) -> dict:
    done = _midwatch("trace", any_id, "--json", "-c", str(demo))
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def _search(driver, base: str, text: str) -> None:
    driver.get(base + "/")
    box = driver.find_element(By.ID, "q")
    box.clear()
    box.send_keys(text, Keys.ENTER)
    _wait(lambda: driver.find_elements(By.CSS_SELECTOR, "main h1"))


def _wait(condition, timeout: float = 10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = condition()
        if got:
            return got
        time.sleep(0.05)
    raise AssertionError("the page did not get there in time")


def _ids_by_kind(demo: Path) -> dict[str, str]:
    """One ID of each kind the demo's journeys carry, from the CLI's own answers."""
    done = _midwatch("traces", "--limit", "1000", "--json", "-c", str(demo))
    assert done.returncode == 0, done.stderr
    traces = json.loads(done.stdout)
    kinds: dict[str, str] = {}
    for t in traces:
        kinds.setdefault("trace key", t["trace_key"])
        for i in t["ids"]:
            kind = i.split(":", 1)[0]
            kinds.setdefault(kind, i)
    order = kinds["order"]
    kinds["bare order number"] = order.split(":", 1)[1]
    return kinds


def test_search_by_each_kind_of_id_opens_its_trace(server, browser, demo):
    kinds = _ids_by_kind(demo)
    # The demo's journeys: gateway requests, order numbers, Boomi executions, X12 envelopes,
    # OTel traces from the web shop.
    for needed in ("order", "http.request", "boomi.exec", "x12.st", "x12.isa", "otel.trace"):
        assert needed in kinds, sorted(kinds)
    for kind, any_id in sorted(kinds.items()):
        _search(browser, server, any_id)
        answer = _trace_json(demo, any_id)
        expected = ([m["trace_key"] for m in answer["matches"]] if "matches" in answer
                    else [answer["trace_key"]])
        article = browser.find_elements(By.CSS_SELECTOR, "article.trace")
        if len(expected) == 1:
            assert article and article[0].get_attribute("data-trace-key") == expected[0], kind
        else:  # an ID several journeys share: the list names every trace the CLI lists
            keys = [a.text for a in browser.find_elements(By.CSS_SELECTOR, "a.key")]
            assert not article and sorted(keys) == sorted(expected), (kind, keys, expected)
        assert _console_errors(browser) == [], kind


@pytest.mark.parametrize("status", ["failed", "rejected", "stuck"])
def test_waterfall_matches_the_cli_and_the_permalink_holds(server, browser, demo, status):
    browser.get(f"{server}/traces?status={status}")
    first = _wait(lambda: browser.find_elements(By.CSS_SELECTOR, "a.key"))[0]
    key = first.text
    first.click()
    _wait(lambda: browser.find_elements(By.CSS_SELECTOR, "ol.waterfall"))
    cli = _trace_json(demo, key)
    rows = browser.find_elements(By.CSS_SELECTOR, "ol.waterfall li.wrow")
    assert len(rows) == len(cli["hops"])
    assert [(r.get_attribute("data-stage"), r.get_attribute("data-outcome")) for r in rows] == \
        [(h["stage"] or "", h["outcome"]) for h in cli["hops"]]
    lefts = [float(re.search(r"left:\s*([\d.]+)%", b.get_attribute("style"))[1])
             for b in browser.find_elements(By.CSS_SELECTOR, "ol.waterfall .bar")]
    assert lefts == sorted(lefts)  # one time axis: each hop starts where the last one ended
    assert browser.find_element(By.ID, "cmd").text == f"midwatch trace {shlex.quote(key)}"
    browser.save_screenshot(str(ARTIFACTS / f"trace-{status}-1280.png"))

    browser.find_element(By.CSS_SELECTOR, "a.permalink").click()
    _wait(lambda: browser.current_url.endswith("/traces/" + urllib.parse.quote(key, safe="")))
    assert browser.find_element(By.CSS_SELECTOR, "article.trace").get_attribute(
        "data-trace-key") == key
    assert _console_errors(browser) == []


def test_keyboard_phone_width_dark_mode_and_flow_view(server, browser):
    browser.get(f"{server}/traces?status=failed")
    _wait(lambda: browser.find_elements(By.CSS_SELECTOR, "tr.row"))
    body = browser.find_element(By.TAG_NAME, "body")
    body.send_keys("/")
    assert browser.switch_to.active_element.get_attribute("id") == "q"
    browser.switch_to.active_element.send_keys(Keys.ESCAPE)
    body.click()
    body.send_keys("j")
    active = browser.switch_to.active_element
    assert "key" in (active.get_attribute("class") or "")
    key = active.text
    active.send_keys(Keys.ENTER)
    _wait(lambda: browser.find_elements(By.CSS_SELECTOR, "article.trace"))
    assert browser.find_element(By.CSS_SELECTOR, "article.trace").get_attribute(
        "data-trace-key") == key

    # A phone: headless Chromium's window is at least 500px wide, so emulate the device.
    browser.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
        "width": 390, "height": 844, "deviceScaleFactor": 1, "mobile": True})
    trace_page = browser.current_url
    for url in (trace_page, f"{server}/traces?status=rejected",
                f"{server}/flows/order-to-cash?since=1d"):
        browser.get(url)
        widths = browser.execute_script(
            "const e = document.documentElement; return [e.scrollWidth, e.clientWidth]")
        assert widths == [390, 390], f"{url} scrolls sideways at phone width: {widths}"
    browser.get(trace_page)
    browser.save_screenshot(str(ARTIFACTS / "trace-failed-phone.png"))
    browser.execute_cdp_cmd("Emulation.setEmulatedMedia", {
        "features": [{"name": "prefers-color-scheme", "value": "dark"}]})
    background = browser.execute_script(
        "return getComputedStyle(document.body).backgroundColor")
    assert background == "rgb(13, 17, 23)"
    browser.save_screenshot(str(ARTIFACTS / "trace-failed-phone-dark.png"))
    browser.execute_cdp_cmd("Emulation.setEmulatedMedia", {"features": []})
    browser.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})

    browser.get(f"{server}/flows/order-to-cash?since=1d")
    cells = _wait(lambda: browser.find_elements(By.CSS_SELECTOR, "table.funnel td.num"))
    counts = [int(c.text) for c in cells]
    assert counts and counts[0] == max(counts)
    link = browser.find_element(By.PARTIAL_LINK_TEXT, "but not")
    link.click()
    _wait(lambda: browser.find_elements(By.ID, "recon"))
    browser.save_screenshot(str(ARTIFACTS / "flow-order-to-cash.png"))
    assert _console_errors(browser) == []


EVIL = '"><script>window.pwned=1</script><img src=x onerror="window.pwned=2">'


def test_hostile_log_values_render_as_text(server, browser, demo):
    """A journey whose service, IDs and messages carry markup: it shows as text and runs
    nothing (no script, no img element, no handler fired, console clean)."""
    from collector.config import load_config
    from collector.event import Event
    from collector.trace import Hop, Trace

    now = int(time.time() * 1000)
    store = load_config(demo).open_store()
    try:
        store.write_events([Event(timestamp_ms=now, dataset="evil.log", platform="mulesoft",
                                  id="evil-event", ids=[f"evil:{EVIL}"], service=EVIL,
                                  stage=EVIL, outcome="failure", message=f"failed: {EVIL}",
                                  error_message=EVIL, labels={"x12_ack_type": EVIL})])
        store.upsert_traces([Trace(trace_key=f"evil:{EVIL}", ids=[f"evil:{EVIL}"],
                                   started_ms=now, last_seen_ms=now, flow=EVIL, partner=EVIL,
                                   status="failed", hop_count=1, stages=(EVIL,), hops=[
                                       Hop(EVIL, EVIL, "mulesoft", now, "failure", "evil-event",
                                           error_message=EVIL)])])
    finally:
        store.close()
    for path in (f"/traces/{urllib.parse.quote('evil:' + EVIL, safe='')}",
                 f"/traces?partner={urllib.parse.quote(EVIL)}",
                 f"/traces?q={urllib.parse.quote(EVIL)}"):
        browser.get(server + path)
        _wait(lambda: browser.find_elements(By.CSS_SELECTOR, "main h1"))
        assert browser.execute_script("return window.pwned === undefined")
        assert browser.find_elements(By.CSS_SELECTOR, "main img, main script") == []
        assert EVIL in browser.find_element(By.TAG_NAME, "main").text
        assert _console_errors(browser) == []
    browser.save_screenshot(str(ARTIFACTS / "hostile-values.png"))
