"""Two JAX processes on 127.0.0.1 train, save and reload a sharded checkpoint together.

`examples/two_processes.py` launches two Python processes that join through
`jax.distributed.initialize` (CPU devices, gloo collectives), train an FSDP-sharded MLP
with `filter_jit(in_shardings=..., out_shardings=...)`, save it with `tree_save_orbax`
(each process writing its own shards) and load it back with `tree_load_orbax`. It
takes tens of seconds, so it runs in `nox -s multihost` (which sets `EQX_MULTIHOST=1`)
rather than in every `pytest` run.
"""

import importlib.util
import os
import pathlib
import re
import subprocess
import sys

import jax
import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "examples" / "two_processes.py"


def _missing() -> str | None:
    if os.environ.get("EQX_MULTIHOST") != "1":
        return "spawns two JAX processes (tens of seconds): run `nox -s multihost`"
    for flag in ("jax_cpu_collectives_implementation", "jax_num_cpu_devices"):
        if not hasattr(jax.config, flag):
            return f"JAX {jax.__version__} lacks the `{flag}` option multi-process CPU runs need"
    if importlib.util.find_spec("orbax") is None:
        return "orbax-checkpoint is not installed (the `eqx[orbax]` extra)"
    return None


@pytest.mark.multihost
@pytest.mark.skipif(_missing() is not None, reason=str(_missing()))
def test_two_processes_train_save_and_reload_a_sharded_checkpoint():
    env = dict(os.environ)
    env["XLA_FLAGS"] = re.sub(
        r"--xla_force_host_platform_device_count=\d+", "", env.get("XLA_FLAGS", "")
    )
    completed = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    result_line = completed.stdout.strip().splitlines()[-1]
    assert result_line.startswith("RESULT ")
    import json

    result = json.loads(result_line.removeprefix("RESULT "))
    assert (result["processes"], result["global_devices"], result["local_devices"]) == (2, 4, 2)
    # The first layer's weight (16, 4) is split over the 4 devices: each holds 4 rows.
    assert result["weight_shard_shapes"] == [[4, 4]]
    assert result["matches_one_device"] is True
    assert result["checkpoint_reloads_equal"] is True
    assert result["metadata_steps_ok"] is True
