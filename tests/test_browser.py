"""The report page in a real browser: headless Chromium, no network, the rendered page checked.

Chromium is an optional system package (Debian's ``chromium``; README). Without it
this test is skipped, except under CI (CI=true), where ``.ci/run`` installs it and a
missing browser is a failure.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

import parity.report.writer as report

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    # No network: every host name fails to resolve and any fetch goes to a closed proxy.
    "--host-resolver-rules=MAP * ~NOTFOUND",
    "--proxy-server=http://127.0.0.1:9",
    "--proxy-bypass-list=<-loopback>",
]


def chromium() -> str:
    path = shutil.which("chromium")
    if path is None:
        if os.environ.get("CI") == "true":
            pytest.fail(
                "chromium is not installed, and CI=true requires it (.ci/run installs Debian's chromium package)"
            )
        pytest.skip(
            "chromium is not installed (optional system package: apt-get install chromium); the browser test needs it"
        )
    return path


def browse(browser: str, page: Path, profile: Path, *args: str) -> subprocess.CompletedProcess:
    command = [browser, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args, page.resolve().as_uri()]
    return subprocess.run(command, capture_output=True, text=True, timeout=180)


# one pytest-xdist worker for this file (with --dist loadgroup): the page the browser opens is made once
pytestmark = pytest.mark.xdist_group("browser")


@pytest.fixture(scope="module")
def page(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("browser_report")
    report.write_report(str(out), ["scratch", "torch", "keras-jax"], 0, ["dense", "mlp"], divergences=True)
    return out / "index.html"


def test_rendered_page_shows_the_matrix_and_a_plot(page, tmp_path):
    browser = chromium()
    # --dump-dom serialises the DOM after the load event, so it carries what the page's
    # own script measured: the matrix and the plots laid out with a size and visible.
    result = browse(browser, page, tmp_path / "profile-dom", "--virtual-time-budget=10000", "--dump-dom")
    assert result.returncode == 0, result.stderr[-2000:]
    match = re.search(r'<body[^>]*data-rendered="([^"]*)"', result.stdout)
    assert match, "no <body data-rendered=...> in the rendered DOM:\n" + result.stdout[:500]
    rendered = dict(item.split(":", 1) for item in match.group(1).split())
    assert rendered.get("matrix") == "ok", match.group(1)
    assert rendered.get("plot") == "ok", match.group(1)
    assert int(rendered["cells"]) == 2 * 2 * 2  # cases x pairs x dtypes
    shown, total = (int(n) for n in rendered["plots"].split("/"))
    assert shown == total >= 1

    screenshot = page.with_name("index.png")  # next to the report
    result = browse(browser, page, tmp_path / "profile-shot", "--window-size=1400,2000", f"--screenshot={screenshot}")
    assert result.returncode == 0, result.stderr[-2000:]
    assert screenshot.stat().st_size > 10_000  # a page with colour and plots, not a blank image


def test_the_zoo_page_shows_its_table_and_rows(tmp_path):
    """zoo.html from rows made here (no zoo run): the table laid out, every architecture's row visible."""
    from parity.zoo import ZooRow, write

    rows = [
        ZooRow("VGG16", 32, "agree", 15_000_000, 23, ["conv2d", "dense"], {"float64": 1e-15}, 12.0, 900.0),
        ZooRow("MobileNetV2", 32, "disagree", 2_000_000, 154, ["batch_norm"], {"float64": 1e-3},
               detail="torch float64: first diverging layer expanded_conv_project_BN"),  # fmt: skip
        ZooRow("EfficientNetB0", 32, "unsupported", missing="Rescaling 'rescaling'"),
    ]
    write(rows, tmp_path, ("float64",))
    page = tmp_path / "zoo.html"
    result = browse(chromium(), page, tmp_path / "profile-dom", "--virtual-time-budget=10000", "--dump-dom")
    assert result.returncode == 0, result.stderr[-2000:]
    match = re.search(r'<body[^>]*data-rendered="([^"]*)"', result.stdout)
    assert match, "no <body data-rendered=...> in the rendered DOM:\n" + result.stdout[:500]
    assert match.group(1) == "table:ok rows:3/3 agree:1", match.group(1)
    for text in ("VGG16", "expanded_conv_project_BN", "missing kind: Rescaling 'rescaling'", "1.00e-03"):
        assert text in result.stdout, text
