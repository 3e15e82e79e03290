"""Every script in `examples/` runs in its quick mode and reports what it checked.

The convention every example follows (see `examples/README.md`):
- `--quick` runs it in seconds;
- files go to `--out`, else `$EQX_EXAMPLES_OUT`, else `examples/out/`;
- the last line of stdout is `RESULT {json}`: a JSON object of checked facts, where
  every boolean is a check that must be true.

Each script runs in a fresh interpreter (`sys.executable`, cwd = repository root), so
this also catches examples that only work when some other test has set JAX up.
"""

import json
import os
import pathlib
import re
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
EXAMPLES = sorted((ROOT / "examples").glob("*.py"))

Result = dict[str, Any]


def run_example(script: pathlib.Path, out_dir: pathlib.Path) -> Result:
    env = dict(os.environ)
    # The test process asked for 2 simulated devices; each example chooses for itself.
    flags = re.sub(r"--xla_force_host_platform_device_count=\d+", "", env.get("XLA_FLAGS", ""))
    env["XLA_FLAGS"] = flags.strip()
    env["EQX_EXAMPLES_OUT"] = str(out_dir)
    env["MPLBACKEND"] = "Agg"
    completed = subprocess.run(
        [sys.executable, str(script), "--quick"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert completed.returncode == 0, (
        f"{script.name} failed:\n{completed.stdout[-3000:]}\n{completed.stderr[-3000:]}"
    )
    return parse_result(completed.stdout, script.name)


def parse_result(stdout: str, name: str) -> Result:
    lines = stdout.strip().splitlines()
    result_lines = [line for line in lines if line.startswith("RESULT ")]
    assert len(result_lines) == 1, f"{name} must print exactly one RESULT line"
    assert lines[-1] == result_lines[0], f"{name}: RESULT must be the last line of stdout"
    result = json.loads(result_lines[0].removeprefix("RESULT "))
    assert isinstance(result, dict), f"{name}: RESULT must be a JSON object"
    return result


def check_quickstart(result: Result, out_dir: pathlib.Path) -> None:
    assert result["output_shape"] == [1]
    assert result["num_arrays"] == 6
    # Dense(3, 16), Dense(16, 16), Dense(16, 1): weights plus biases.
    assert result["num_parameters"] == (3 * 16 + 16) + (16 * 16 + 16) + (16 * 1 + 1)
    assert result["loss_after"] < result["loss_before"]


def check_filtering(result: Result, out_dir: pathlib.Path) -> None:
    assert result["num_param_leaves"] == 6  # three Linear layers, weight and bias each
    assert result["grad_routes_agree"] is True
    assert result["final_loss"] < result["first_loss"]
    assert (
        result["traces_same_shapes"],
        result["traces_after_new_static"],
        result["traces_after_new_shape"],
    ) == (1, 2, 3)


def check_train_mlp(result: Result, out_dir: pathlib.Path) -> None:
    assert result["final_loss"] < result["first_loss"]
    assert result["test_loss_after"] < result["test_loss_before"]
    checkpoint, plot = pathlib.Path(result["checkpoint"]), pathlib.Path(result["plot"])
    assert checkpoint.parent == out_dir
    assert checkpoint.stat().st_size > 0
    assert plot.parent == out_dir
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def check_train_rnn(result: Result, out_dir: pathlib.Path) -> None:
    assert result["final_loss"] < result["first_loss"]
    assert 0.0 <= result["test_accuracy"] <= 1.0


def check_data_parallel(result: Result, out_dir: pathlib.Path) -> None:
    assert result["num_devices"] == 8
    assert result["batch_sharded_over"] == 8
    assert result["final_loss"] < result["first_loss"]


def check_lora_finetune(result: Result, out_dir: pathlib.Path) -> None:
    # The pretrained model is frozen; only the rank-4 adapter of the 64x64 layer trains.
    assert result["trainable_params"] == 4 * 64 + 64 * 4
    assert result["frozen_params"] == (2 * 64 + 64) + (64 * 64 + 64) + (64 * 1 + 1)
    # The example's target: a quarter of the pretrained model's loss on the new task.
    assert result["target_loss"] == pytest.approx(0.25 * result["loss_before"])
    assert result["loss_after"] < result["target_loss"]
    plot = pathlib.Path(result["plot"])
    assert plot.parent == out_dir
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def check_fsdp(result: Result, out_dir: pathlib.Path) -> None:
    assert result["num_devices"] == 8
    assert result["first_weight_sharded_over"] == 8
    # Weights and Adam moments split 8 ways; only biases and the step count replicated.
    assert result["device_0_fraction"] < 0.25
    assert (out_dir / "fsdp_loss.png").stat().st_size > 0


# Facts beyond "every boolean is true", for the examples whose RESULT we know.
SPECIFIC_CHECKS: dict[str, Callable[[Result, pathlib.Path], None]] = {
    "quickstart.py": check_quickstart,
    "filtering.py": check_filtering,
    "train_mlp.py": check_train_mlp,
    "train_rnn.py": check_train_rnn,
    "data_parallel.py": check_data_parallel,
    "lora_finetune.py": check_lora_finetune,
}


# Examples another test runs, with the checks specific to them.
RUN_ELSEWHERE = {
    "two_processes.py": "two JAX processes: tests/test_multihost.py runs it (nox -s multihost)",
}


def test_the_documented_examples_exist() -> None:
    names = {script.name for script in EXAMPLES}
    assert set(SPECIFIC_CHECKS) <= names


@pytest.mark.parametrize("script", EXAMPLES, ids=[script.name for script in EXAMPLES])
def test_example_runs_in_quick_mode_and_its_checks_hold(
    script: pathlib.Path, tmp_path: pathlib.Path
) -> None:
    if script.name in RUN_ELSEWHERE:
        pytest.skip(RUN_ELSEWHERE[script.name])
    result = run_example(script, tmp_path)
    failed = sorted(key for key, value in result.items() if value is False)
    assert failed == [], f"{script.name} reported failed checks: {failed}"
    check = SPECIFIC_CHECKS.get(script.name)
    if check is not None:
        check(result, tmp_path)


def test_parse_result_rejects_output_without_a_final_result_line() -> None:
    with pytest.raises(AssertionError, match="exactly one RESULT"):
        parse_result("training...\ndone\n", "broken.py")
    with pytest.raises(AssertionError, match="last line"):
        parse_result('RESULT {"ok": true}\ntrailing output\n', "broken.py")
