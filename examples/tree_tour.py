"""A tour of `eqx_tree`: editing, comparing, printing and saving nested structures.

`eqx_tree` needs nothing but JAX, and is useful in any JAX project that keeps its state
in nested dicts, lists and tuples (a simulation's parameters, an experiment's config,
an optimiser's state), neural network or not. This script builds such a structure and:

1. edits it with `tree_at` (out-of-place: the original is untouched);
2. compares trees with `tree_equal`, and reads its return type;
3. prints it with `tree_pformat` (arrays as `f32[3]`, not as walls of numbers);
4. saves it with `tree_serialise_leaves` and loads it back with
   `tree_deserialise_leaves`, using the original as the template (`like`).

Run it with

    uv run python examples/tree_tour.py [--quick] [--out DIR]

Files go to `--out`, else `$EQX_EXAMPLES_OUT`, else `examples/out/`. The last line
printed is `RESULT {json}` with the facts the script checked.
"""

import argparse
import json
import os
import pathlib
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

import eqx_tree


def make_state() -> dict[str, Any]:
    """A heat-diffusion simulation's state: parameters, a grid, a schedule and settings."""
    return {
        "physics": {"diffusivity": jnp.array(0.1), "boundary": ("dirichlet", 0.0)},
        "grid": {"temperature": jnp.linspace(0.0, 1.0, 16), "mask": np.ones(16, dtype=bool)},
        "schedule": [
            {"steps": 100, "dt": 1e-3},
            {"steps": 50, "dt": 5e-4},
        ],
        "solver": jnp.tanh,  # non-array leaves are fine anywhere
        "seed": 0,
    }


def step(temperature: jax.Array, diffusivity: jax.Array, dt: float) -> jax.Array:
    """One explicit finite-difference step of the heat equation, with fixed ends."""
    laplacian = (
        jnp.zeros_like(temperature)
        .at[1:-1]
        .set(temperature[2:] - 2 * temperature[1:-1] + temperature[:-2])
    )
    return temperature + dt * diffusivity * laplacian


def output_dir(cli_out: str | None) -> pathlib.Path:
    out = pathlib.Path(
        cli_out or os.environ.get("EQX_EXAMPLES_OUT") or pathlib.Path(__file__).parent / "out"
    )
    out.mkdir(parents=True, exist_ok=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="accepted; the tour is quick")
    parser.add_argument("--out", default=None, help="directory for the saved file")
    args = parser.parse_args()

    state = make_state()

    # 1. tree_at: a copy with some nodes replaced. `where` names the nodes by structure.
    hotter = eqx_tree.tree_at(
        lambda s: s["grid"]["temperature"], state, replace_fn=lambda t: t + 1.0
    )
    # Several nodes at once, with a tuple of new values:
    retuned = eqx_tree.tree_at(
        lambda s: (s["schedule"][0]["dt"], s["schedule"][1]["steps"]), state, (2e-3, 80)
    )
    original_untouched = bool(jnp.all(state["grid"]["temperature"] == jnp.linspace(0.0, 1.0, 16)))
    print("schedule after tree_at:", retuned["schedule"])

    # Run the simulation on the edited schedule: state stays a plain nested dict.
    temperature = retuned["grid"]["temperature"]
    for phase in retuned["schedule"]:
        for _ in range(phase["steps"]):
            temperature = step(temperature, retuned["physics"]["diffusivity"], phase["dt"])
    simulated = eqx_tree.tree_at(lambda s: s["grid"]["temperature"], retuned, temperature)

    # 2. tree_equal: Python `True`/`False` when decidable without JAX, else a JAX bool.
    same_as_itself = eqx_tree.tree_equal(state, make_state())  # jnp.tanh is the same function
    differs_after_edit = eqx_tree.tree_equal(state, hotter)
    print("tree_equal(state, fresh copy) ->", repr(same_as_itself))
    print("tree_equal(state, hotter)     ->", repr(differs_after_edit))

    # 3. tree_pformat: a readable summary, arrays as dtype[shape].
    print(eqx_tree.tree_pformat(simulated, width=60))

    # 4. Save and load. Only array-like leaves are written; `like` supplies the rest.
    path = output_dir(args.out) / "tree_tour"
    eqx_tree.tree_serialise_leaves(path, simulated)  # writes tree_tour.eqx atomically
    loaded = eqx_tree.tree_deserialise_leaves(path, like=state)
    roundtrip_equal = bool(eqx_tree.tree_equal(loaded, simulated))
    function_kept = loaded["solver"] is jnp.tanh
    print(
        f"saved {path.with_suffix('.eqx').stat().st_size} bytes; round trip equal: {roundtrip_equal}"
    )

    result = {
        "original_untouched": original_untouched,
        "fresh_copy_equal": bool(same_as_itself),
        "edit_detected": not bool(differs_after_edit),
        "roundtrip_equal": roundtrip_equal,
        "function_kept_by_identity": function_kept,
        "final_mean_temperature": float(jnp.mean(loaded["grid"]["temperature"])),
    }
    print("RESULT " + json.dumps(result))


if __name__ == "__main__":
    main()
