"""Find a python3.13 for ``sam build`` (the Lambda runtime's version), on PATH or through pyenv.

``python -m tools.python313 --bin-dir`` prints the directory to put first on PATH; it exits
non-zero with a clear message when there is none.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

WANTED = "3.13"


def _runs(python: Path) -> bool:
    """pyenv puts shims on PATH that exist but fail unless their version is selected."""
    try:
        result = subprocess.run([str(python), "-c", "import sys"], capture_output=True, timeout=30, check=False)
    except OSError:
        return False
    return result.returncode == 0


def find_bin_dir() -> Path | None:
    on_path = shutil.which(f"python{WANTED}")
    if on_path and "/shims/" not in on_path and _runs(Path(on_path)):
        return Path(on_path).resolve().parent
    pyenv = shutil.which("pyenv")
    if not pyenv:
        return None
    listed = subprocess.run([pyenv, "versions", "--bare"], capture_output=True, text=True, check=False)
    versions = [v.strip() for v in listed.stdout.splitlines() if v.strip().startswith(WANTED + ".")]
    for version in sorted(versions, reverse=True):
        prefix = subprocess.run([pyenv, "prefix", version], capture_output=True, text=True, check=False)
        candidate = Path(prefix.stdout.strip()) / "bin"
        if prefix.returncode == 0 and _runs(candidate / f"python{WANTED}"):
            return candidate
    return None


def main() -> int:
    found = find_bin_dir()
    if found is None:
        print(f"no python{WANTED} found on PATH or through pyenv; sam build needs one", file=sys.stderr)
        return 1
    print(found)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
