"""`import eqx` loads no notebook library: display support is called, never imported."""

from __future__ import annotations

import json
import subprocess
import sys


def test_import_eqx_loads_neither_ipython_nor_treescope() -> None:
    code = "import sys, json, eqx; print(json.dumps(sorted(sys.modules)))"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    loaded = {name.split(".")[0] for name in json.loads(out.strip().splitlines()[-1])}
    assert "eqx" in loaded
    assert loaded.isdisjoint({"IPython", "treescope"}), loaded & {"IPython", "treescope"}
