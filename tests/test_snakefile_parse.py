"""The workflow parses (a dry run plans every job) without importing torch.

torch is made unimportable in the Snakemake process: a finder at the front of sys.meta_path
refuses it, so any import of torch on the way fails the parse and names the importer.
"""

from __future__ import annotations

import subprocess
import sys

RUNNER = """
import sys

class NoTorch:
    def find_spec(self, name, path=None, target=None):
        if name == "torch" or name.startswith("torch."):
            raise ImportError(f"torch must not be imported to parse the workflow ({name})")
        return None

sys.meta_path.insert(0, NoTorch())
from snakemake.cli import main

sys.argv = ["snakemake", *sys.argv[1:]]
try:
    main()
finally:
    assert "torch" not in sys.modules, "torch was imported"
"""


def test_snakefile_parses_without_torch(repo_root, tmp_path):
    args = [
        "-n",
        "--quiet",
        "--snakefile",
        str(repo_root / "workflow" / "Snakefile"),
        "--configfile",
        str(repo_root / "config" / "config.yaml"),
        "--directory",
        str(tmp_path),
        "--cores",
        "1",
    ]
    proc = subprocess.run(
        [sys.executable, "-c", RUNNER, *args],
        capture_output=True,
        text=True,
        cwd=repo_root,
        check=False,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "torch" not in proc.stderr.lower() or "must not be imported" not in proc.stderr
