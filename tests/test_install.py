"""The package installs: a wheel built from this tree, installed into a fresh virtual environment
outside the checkout, simulates a 4x4 tile in the real ngspice with the device models it ships."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# Run in the fresh environment, from a folder outside the checkout.
SCRIPT = """
import sys
from pathlib import Path

import spicecim
from spicecim.devices import models_root

root = Path(sys.argv[1])
assert root not in Path(spicecim.__file__).resolve().parents, spicecim.__file__
assert root not in Path(str(models_root())).resolve().parents, models_root()
tile = spicecim.make_tile(spicecim.default_spec(4, 4), seed=0)
summary = spicecim.simulate(tile, "run.h5", workers=1)
assert not summary.failures, summary.failures
with spicecim.open_run(summary.path) as run:
    assert len(run.columns("tile0")["status"]) == 4
print("simulated", spicecim.__file__)
"""


@pytest.mark.slow
@pytest.mark.ngspice
def test_a_built_wheel_simulates_a_tile_outside_the_checkout(tmp_path: Path) -> None:
    # Built from a copy, so the build leaves nothing in the checkout; offline: the venv's own
    # setuptools and wheel, no build isolation.
    source = tmp_path / "source"
    shutil.copytree(ROOT / "spicecim", source / "spicecim",
                    ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    dist = tmp_path / "dist"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                    "--quiet", "--wheel-dir", str(dist), str(source)], check=True)
    wheel = next(dist.glob("spicecim-*.whl"))

    env_dir = tmp_path / "env"
    venv.create(env_dir, with_pip=False)
    python = env_dir / "bin" / "python"
    site = Path(subprocess.run([str(python), "-c", "import sysconfig; "
                                "print(sysconfig.get_paths()['purelib'])"],
                               check=True, capture_output=True, text=True).stdout.strip())
    # The dependencies come from this environment's site-packages, added as a plain path: its
    # .pth files (this checkout's editable install among them) are not processed there.
    (site / "dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install",
                    "--no-deps", "--no-index", "--quiet", str(wheel)], check=True)

    work = tmp_path / "work"
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "SPICECIM_DEVICE_MODELS")}
    done = subprocess.run([str(python), "-c", SCRIPT, str(ROOT)], cwd=work, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert str(site) in done.stdout
