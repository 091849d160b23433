"""The HTML report: self-contained, every image a decodable PNG, and it loads in Chromium."""

from __future__ import annotations

import base64
import io
import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")

from gaussmix import (  # noqa: E402
    compare,
    load_faithful,
    load_iris,
    select,  # noqa: E402
)
from gaussmix.report import build_report, write_report  # noqa: E402

IMG = re.compile(r'<img alt="([^"]*)" src="data:image/png;base64,([A-Za-z0-9+/=]+)">')


@pytest.fixture(scope="module")
def faithful_report(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, object]:
    X, cols = load_faithful()
    sel = select(X, range(1, 5), ["EII", "VVV", "EEE"], random_state=0)
    cmp = compare(X, sel.best_.n_components, covariance_types=["EII", "VVV", "EEE"])
    path = tmp_path_factory.mktemp("report") / "report.html"
    write_report(path, X, sel, columns=cols, comparison=cmp, notes=["Data: faithful"])
    return path, path.read_text(encoding="utf-8"), sel


def test_report_content(faithful_report: tuple) -> None:
    _, page, sel = faithful_report
    import matplotlib.image as mpimg

    images = IMG.findall(page)
    assert len(images) == 5  # BIC curves, clusters, uncertainty, density, comparison
    for alt, data in images:
        raw = base64.b64decode(data, validate=True)
        assert raw[:8] == b"\x89PNG\r\n\x1a\n", alt
        img = mpimg.imread(io.BytesIO(raw))
        assert img.shape[0] > 200 and img.shape[1] > 200 and img.std() > 0.05, alt
    # No network: nothing is fetched from anywhere.
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page)
    assert "<script" not in page and "<link" not in page
    # The selection grid holds every BIC, the chosen one highlighted.
    best = sel.best_
    for rec in sel.table_:
        assert f"{rec['bic']:.1f}" in page
    chosen = min(r["bic"] for r in sel.table_)
    assert f'font-weight:bold">{chosen:.1f}</td>' in page
    assert f"Chosen by BIC: <b>{best.covariance_model_}</b> with <b>{best.n_components}</b>" in page
    # The chosen model's parameters appear.
    for w in best.weights_:
        assert f"{w:.4f}".rstrip("0") in page
    assert "Data: faithful" in page and "eruptions" in page
    assert "Prefer a GMM" in page


def test_report_one_feature_and_many(tmp_path: Path) -> None:
    X = load_iris()[0]
    for Xd in (X[:, :1], X):
        sel = select(Xd, [1, 2, 3], ["VVV", "EII"], random_state=0)
        page = build_report(Xd, sel)
        assert len(IMG.findall(page)) == 4  # no comparison given
        if Xd.shape[1] > 2:
            assert "principal axes" in page


def test_report_with_other_criterion_adds_its_curve() -> None:
    X, _ = load_faithful()
    sel = select(X, [1, 2], ["VVV"], criterion="icl", random_state=0)
    page = build_report(X, sel)
    assert len(IMG.findall(page)) == 5 and "Chosen by ICL" in page


def test_write_is_atomic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    X, _ = load_faithful()
    sel = select(X, [1, 2], ["VVV"], random_state=0)
    target = tmp_path / "r.html"
    target.write_text("old")
    import gaussmix.report as rep

    def boom(*a: object, **k: object) -> str:
        raise RuntimeError("drawing failed")

    monkeypatch.setattr(rep, "build_report", boom)
    with pytest.raises(RuntimeError):
        rep.write_report(target, X, sel)
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["r.html"]


# ------------------------------------------------------------------ Chromium
_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
          "--disable-background-networking", "--disable-component-update", "--disable-sync",
          "--disable-dev-shm-usage", "--hide-scrollbars"]

# Injected into a copy of the page: records resource and script errors, then, on
# load, how many images there are and which did not decode.
_PROBE = """<script>
window.__errors = [];
window.addEventListener('error', function (e) {
  var t = e.target;
  window.__errors.push(t && t.tagName ? 'failed ' + t.tagName : String(e.message));
}, true);
var _ce = console.error;
console.error = function () { window.__errors.push([].join.call(arguments, ' '));
                              _ce.apply(console, arguments); };
window.addEventListener('load', function () {
  var imgs = Array.prototype.slice.call(document.images);
  var bad = imgs.filter(function (i) { return !(i.complete && i.naturalWidth > 0); });
  document.documentElement.setAttribute('data-probe', JSON.stringify({
    images: imgs.length, bad: bad.map(function (i) { return i.alt; }),
    sizes: imgs.map(function (i) { return [i.naturalWidth, i.naturalHeight]; }),
    errors: window.__errors}));
});
</script>"""


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def _run_chromium(exe: str, profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([exe, *_FLAGS, f"--user-data-dir={profile}", *args],
                          capture_output=True, text=True, timeout=120, check=False)


def _probe(exe: str, tmp_path: Path, page: str, name: str) -> dict:
    probed = tmp_path / name
    probed.write_text(page.replace("<head>", "<head>" + _PROBE, 1), encoding="utf-8")
    r = _run_chromium(exe, tmp_path / f"profile-{name}", "--virtual-time-budget=10000",
                      "--dump-dom", probed.as_uri())
    m = re.search(r"data-probe=\"([^\"]*)\"", r.stdout)
    assert m, f"probe did not run: {r.stderr[-500:]}"
    import html

    return json.loads(html.unescape(m.group(1)))


@pytest.mark.skipif(_chromium() is None,
                    reason="Chromium is not installed (Debian: apt-get install chromium; "
                           ".ci/run installs it)")
def test_report_in_headless_chromium(faithful_report: tuple, tmp_path: Path) -> None:
    exe = _chromium()
    assert exe is not None
    path, page, _ = faithful_report

    # 1. Screenshot of the report as written, console logged to stderr.
    shot = tmp_path / "shot.png"
    r = _run_chromium(exe, tmp_path / "profile-shot", "--enable-logging=stderr", "--v=0",
                      "--window-size=1200,3000", "--virtual-time-budget=10000",
                      f"--screenshot={shot}", path.as_uri())
    assert shot.exists(), r.stderr[-2000:]
    console = [ln for ln in r.stderr.splitlines() if "CONSOLE" in ln]
    assert console == [], console  # the page has no script: any console line is an error
    import matplotlib.image as mpimg

    img = mpimg.imread(shot)
    assert img.shape[:2] == (3000, 1200)
    assert len(np.unique((img[..., :3].reshape(-1, 3) * 255).astype(np.uint8), axis=0)) > 100

    # 2. Every embedded image decoded, and no error events.
    result = _probe(exe, tmp_path, page, "probed.html")
    assert result["images"] == len(IMG.findall(page)) == 5
    assert result["bad"] == [] and result["errors"] == []
    assert all(w > 200 and h > 200 for w, h in result["sizes"])

    # 3. The probe can fail: a broken image and a console error are caught.
    broken = page.replace("base64,", "base64,AAAA", 1).replace(
        "</body>", "<script>console.error('deliberate')</script></body>")
    bad = _probe(exe, tmp_path, broken, "broken.html")
    assert len(bad["bad"]) == 1 and "deliberate" in bad["errors"]


def test_report_without_matplotlib(monkeypatch: pytest.MonkeyPatch) -> None:
    """A bare install (no plot extra) still gets the tables, and is told how to get plots."""
    import sys

    X, _ = load_faithful()
    sel = select(X, [1, 2], ["VVV"], random_state=0)
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    page = build_report(X, sel)
    assert IMG.findall(page) == []
    assert 'pip install "gaussmix[plot]"' in page and "Chosen model" in page


def test_plots_subsample_large_data() -> None:
    rng = np.random.default_rng(0)
    X = np.vstack([rng.normal(0, 1, (300, 2)), rng.normal(5, 1, (300, 2))])
    sel = select(X, [2], ["VVV"], random_state=0)
    page = build_report(X, sel, max_plot_points=100)
    assert "Plots show a random 100 of the 600 rows." in page
    assert len(IMG.findall(page)) == 4


def test_single_component_and_wide_data() -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(120, 12)) * np.arange(1, 13)
    sel = select(X, [1], ["VVI"], random_state=0)
    page = build_report(X, sel)
    assert "<b>1</b> component." in page and len(IMG.findall(page)) == 4
    assert "standard deviations shown instead" in page
    sd = np.sqrt(sel.best_.covariances_[0])
    assert f"{sd[-1]:.4f}".rstrip("0") in page
