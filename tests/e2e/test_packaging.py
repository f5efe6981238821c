"""The built wheel installs into a fresh venv and works without the source tree."""

from __future__ import annotations

import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]

SMOKE = """
import operator, sys
import fastdstream, fastdstream._core
assert "site-packages" in fastdstream._core.__file__, fastdstream._core.__file__
from fastdstream import Context
with Context("local[2]") as sc:
    rdd = sc.parallelize(["a b", "b"], 2).flatMap(str.split)
    print(sorted(rdd.map(lambda w: (w, 1)).reduceByKey(operator.add).collect()))
"""


def test_wheel_installs_and_runs_in_a_fresh_venv(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(dist),
         str(ROOT)],
        check=True, timeout=600,
    )
    (wheel,) = dist.glob("fastdstream-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert any(n.startswith("fastdstream/_core.") and n.endswith(".so") for n in names)
    assert "fastdstream/_core.pyi" in names and "fastdstream/py.typed" in names
    assert not any(n.endswith((".pyx", ".pxi", ".c")) for n in names)

    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    python = env_dir / "bin" / "python"
    subprocess.run([str(python), "-m", "pip", "install", "--quiet", str(wheel)], check=True,
                   timeout=600)
    result = subprocess.run([str(python), "-c", SMOKE], cwd=tmp_path, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[('a', 1), ('b', 2)]"
