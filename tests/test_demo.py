"""``gaussmix demo`` answers the question on built-in data."""

import io
import re
import subprocess
import sys

from gaussmix.cli import main
from gaussmix.demo import run_demo


def _rows(text, label):
    return [line for line in text.splitlines() if line.strip().startswith(label)]


def test_demo_shows_gmm_beating_kmeans_on_elongated_clusters():
    out = io.StringIO()
    run_demo(out, seed=0)
    text = out.getvalue()
    ari = [list(map(float, re.findall(r"-?\d+\.\d+", r))) for r in _rows(text, "ARI vs known")]
    # synthetic set first: k-means cuts across the long clusters, the GMM does not
    km_ari, gmm_ari = ari[0]
    assert km_ari < 0.6 and gmm_ari > 0.95
    bic = [list(map(float, re.findall(r"-?\d+\.\d+", r))) for r in _rows(text, "BIC")]
    assert len(bic) == 3
    assert all(g < k for k, g in bic)  # the GMM wins on BIC on all three sets


def test_demo_console_command_runs(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "gaussmix.cli", "demo", "--output-dir", str(tmp_path)],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert "Old Faithful" in proc.stdout and "k-means" in proc.stdout


def test_main_returns_zero(capsys, tmp_path):
    assert main(["demo", "--seed", "1", "--output-dir", str(tmp_path)]) == 0
    assert "iris" in capsys.readouterr().out
    # the reports go where asked (tests leave nothing in the system's temp folder)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "gaussmix-demo-faithful.html", "gaussmix-demo-synthetic.html"]
