"""Multi-process training on one machine: two JAX processes, one global mesh, one checkpoint.

This is what a multi-host job looks like, shrunk onto one computer: two Python
processes (launched by this one command), each with two simulated CPU devices, join
through `jax.distributed.initialize` (CPU collectives over gloo), see one mesh of four
devices, and run the same program (SPMD). Each process

- builds the model *sharded* from the start (`filter_eval_shape` + `filter_jit` with
  `out_shardings`: no process ever holds the whole model),
- feeds only its own half of each batch (`jax.make_array_from_process_local_data`),
- trains a few steps with `filter_jit(in_shardings=..., out_shardings=...)`,
- saves a sharded checkpoint through Orbax (`eqx.tree_save_orbax`: each process
  writes only its shards) and loads it back onto the mesh (`eqx.tree_load_orbax`),

and process 0 checks the result against the same training run on one device.

Run it with

    uv run python examples/two_processes.py [--quick]

The last line printed is `RESULT {json}`, as for every example. Needs the optional
`orbax-checkpoint` (`pip install 'eqx[orbax]'`) and a JAX with CPU collectives (gloo).
"""

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def missing_prerequisite() -> str | None:
    """Why this JAX installation cannot run the example, or `None` if it can."""
    import importlib.util

    import jax

    for flag in ("jax_cpu_collectives_implementation", "jax_num_cpu_devices"):
        try:
            getattr(jax.config, flag)
        except AttributeError:
            return f"JAX {jax.__version__} has no `{flag}` option"
    if importlib.util.find_spec("orbax") is None:
        return "orbax-checkpoint is not installed (pip install 'eqx[orbax]')"
    return None


def launch(args: argparse.Namespace) -> None:
    """Start the two processes (this script again, with `--process-id`) and wait."""
    reason = missing_prerequisite()
    if reason is not None:
        print(f"skipped: {reason}")
        print("RESULT " + json.dumps({"skipped": reason}))
        return
    port = _free_port()
    with tempfile.TemporaryDirectory() as directory:
        procs = []
        for i in range(2):
            command = [sys.executable, __file__, "--process-id", str(i), "--port", str(port)]
            command += ["--directory", directory, "--steps", str(args.steps)]
            env = dict(os.environ, XLA_FLAGS="", JAX_PLATFORMS="cpu")
            procs.append(subprocess.Popen(command, env=env, stdout=subprocess.PIPE, text=True))
        outputs = [p.communicate(timeout=240)[0] for p in procs]
    for i, (p, out) in enumerate(zip(procs, outputs, strict=True)):
        for line in out.splitlines():
            if not line.startswith(("RESULT ", "[Gloo]")):
                print(f"[process {i}] {line}")
        if p.returncode:
            raise SystemExit(f"process {i} failed with exit code {p.returncode}")
    print(outputs[0].splitlines()[-1])


def worker(args: argparse.Namespace) -> None:
    import jax

    # Before anything touches a device: two CPU devices per process, gloo collectives.
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    jax.config.update("jax_num_cpu_devices", 2)
    jax.distributed.initialize(
        f"127.0.0.1:{args.port}", num_processes=2, process_id=args.process_id
    )

    import jax.numpy as jnp
    import numpy as np
    from jax.experimental import multihost_utils
    from jax.sharding import Mesh, NamedSharding, PartitionSpec

    import eqx

    P = PartitionSpec
    mesh = Mesh(np.array(jax.devices()), ("data",))  # 4 devices over 2 processes
    data = NamedSharding(mesh, P("data"))
    replicated = NamedSharding(mesh, P())

    # FSDP-style: every weight matrix split over all devices along an axis they divide.
    def fsdp(x):
        for axis, size in enumerate(getattr(x, "shape", ())):  # a ShapeDtypeStruct here
            if getattr(x, "ndim", 0) == 2 and size % jax.device_count() == 0:
                return NamedSharding(mesh, P(*[None] * axis, "data"))
        return replicated

    def make_model(key):
        return eqx.nn.MLP(4, 1, width_size=16, depth=2, key=key)

    key = jax.random.key(0)
    abstract = eqx.filter_eval_shape(make_model, key)
    shardings = jax.tree.map(fsdp, abstract)
    # Sharded initialisation: the model is created inside `filter_jit`, and XLA
    # materialises each device's shard only.
    model = eqx.filter_jit(make_model, out_shardings=shardings)(key)

    def loss_fn(model, x, y):
        return jnp.mean((jax.vmap(model)(x) - y) ** 2)

    def step(model, x, y):
        grads = eqx.filter_grad(loss_fn)(model, x, y)
        return eqx.apply_updates(model, jax.tree.map(lambda g: -0.1 * g, grads))

    sharded_step = eqx.filter_jit(
        step, in_shardings=((shardings, data, data), None), out_shardings=shardings
    )
    rng = np.random.default_rng(0)
    xs = rng.normal(size=(args.steps, 16, 4)).astype(np.float32)
    ys = np.tanh(xs @ np.array([1.0, -2.0, 0.5, 0.0], np.float32))[..., None]
    half = slice(8 * args.process_id, 8 * (args.process_id + 1))  # this process's rows
    for i in range(args.steps):
        x = jax.make_array_from_process_local_data(data, xs[i, half])
        y = jax.make_array_from_process_local_data(data, ys[i, half])
        model = sharded_step(model, x, y)

    path = os.path.join(args.directory, "ckpt")
    eqx.tree_save_orbax(path, model, metadata={"steps": args.steps})
    like = jax.tree.map(
        lambda a, s: jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=s) if eqx.is_array(a) else a,
        model,
        shardings,
    )
    loaded = eqx.tree_load_orbax(path, like)
    gathered = multihost_utils.process_allgather(eqx.filter(model, eqx.is_array), tiled=True)
    gathered_loaded = multihost_utils.process_allgather(
        eqx.filter(loaded, eqx.is_array), tiled=True
    )
    local_shards = {tuple(s.data.shape) for s in model.layers[0].weight.addressable_shards}

    # The reference: the same steps on one (local) device, on the whole batches.
    reference = make_model(key)
    one_device = eqx.filter_jit(step)
    for i in range(args.steps):
        reference = one_device(reference, jnp.asarray(xs[i]), jnp.asarray(ys[i]))
    ref_leaves = jax.tree.leaves(eqx.filter(reference, eqx.is_array))
    matches = all(
        np.allclose(a, b, rtol=1e-5, atol=1e-6)
        for a, b in zip(jax.tree.leaves(gathered), ref_leaves, strict=True)
    )
    reloaded = all(
        np.array_equal(a, b)
        for a, b in zip(jax.tree.leaves(gathered), jax.tree.leaves(gathered_loaded), strict=True)
    )
    result = {
        "process": jax.process_index(),
        "processes": jax.process_count(),
        "global_devices": jax.device_count(),
        "local_devices": jax.local_device_count(),
        "weight_shard_shapes": sorted(local_shards),
        "matches_one_device": bool(matches),
        "checkpoint_reloads_equal": bool(reloaded),
        "metadata_steps_ok": eqx.tree_load_orbax_metadata(path)["steps"] == args.steps,
    }
    print(f"process {jax.process_index()}: {result}")
    print("RESULT " + json.dumps(result))
    jax.distributed.shutdown()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a few steps, for smoke tests")
    parser.add_argument("--steps", type=int, default=None)
    parser.add_argument("--out", default=None, help="unused: this example writes no files")
    parser.add_argument("--process-id", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--directory", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.steps is None:
        args.steps = 5 if args.quick else 100
    if args.process_id is None:
        launch(args)
    else:
        worker(args)


if __name__ == "__main__":
    main()
