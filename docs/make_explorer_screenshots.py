"""Regenerate the trace explorer screenshots in docs/img/ from the demo.

    .venv/bin/python docs/make_explorer_screenshots.py

Runs ``midwatch demo`` (seed 7) into a temporary directory, serves its store with the API
listener, and photographs a failed and an EDI-rejected trace page in headless Chromium
(Debian's chromium + chromium-driver) at 1280px wide, light mode.
"""

from __future__ import annotations

import tempfile
import urllib.parse
from pathlib import Path

from selenium import webdriver
from selenium.webdriver.chrome.service import Service

from collector.api import Api
from collector.config import Api as ApiConfig
from collector.config import load_config
from collector.metrics import Registry
from collector.store.base import TraceQuery
from midwatch.demo.run import run_demo

OUT = Path(__file__).resolve().parent / "img"
MAX_HEIGHT = 1600


def main() -> None:
    result = run_demo(Path(tempfile.mkdtemp(prefix="explorer-shots-")), seed=7)
    store = load_config(result.config).open_store()
    failed = result.failed or store.search_traces(TraceQuery(status="failed", limit=1))[0]
    rejected = store.search_traces(TraceQuery(status="rejected", limit=1))[0]
    api = Api(ApiConfig(listen=("127.0.0.1", 0)), store, Registry())
    api.server.serve_in_thread("screenshots")
    opts = webdriver.ChromeOptions()
    opts.binary_location = "/usr/bin/chromium"
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                "--window-size=1280,900", "--force-prefers-color-scheme=light"):
        opts.add_argument(arg)
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=opts)
    try:
        for name, trace in (("explorer-failed", failed), ("explorer-edi-rejected", rejected)):
            key = urllib.parse.quote(trace.trace_key, safe="")
            driver.get(f"http://127.0.0.1:{api.port}/traces/{key}")
            height = driver.execute_script("return document.documentElement.scrollHeight")
            driver.set_window_size(1280, min(MAX_HEIGHT, height))
            path = OUT / f"{name}.png"
            driver.save_screenshot(str(path))
            print(f"{path}  ({trace.trace_key}, {trace.status})")
            driver.set_window_size(1280, 900)
    finally:
        driver.quit()
        api.close()
        store.close()


if __name__ == "__main__":
    main()
