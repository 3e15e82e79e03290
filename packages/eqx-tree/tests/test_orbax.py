"""Sharded checkpoints through orbax-checkpoint: like semantics, reports, resharding, converters."""

import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.sharding import Mesh, NamedSharding, PartitionSpec, SingleDeviceSharding

import eqx_tree
from eqx_tree import (
    CheckpointFormatError,
    CheckpointMismatchError,
    checkpoint_from_orbax,
    checkpoint_to_orbax,
    tree_load,
    tree_load_orbax,
    tree_load_orbax_metadata,
    tree_save,
    tree_save_orbax,
)

pytest.importorskip(
    "orbax.checkpoint",
    reason="orbax-checkpoint is not installed (the optional `eqx-tree[orbax]` extra; the "
    "oldest-JAX session installs no extras)",
)

P = PartitionSpec


def _mesh(shape: tuple[int, ...] = (-1,), names: tuple[str, ...] = ("data",)) -> Mesh:
    n = jax.device_count()
    shape = tuple(n if s == -1 else s for s in shape)
    return Mesh(np.array(jax.devices()[: int(np.prod(shape))]).reshape(shape), names)


def _tree(mesh: Mesh) -> dict:
    n = jax.device_count()
    split = NamedSharding(mesh, P("data"))
    return {
        "layers": [
            {"weight": jax.device_put(jnp.arange(4.0 * n * 3).reshape(4 * n, 3), split)},
            {"weight": jnp.ones((3, 2), jnp.bfloat16), "activation": jnp.tanh},
        ],
        "step": 7,
        "lr": 0.5,
        "key": jax.random.key(3),
        "counts": np.arange(5, dtype=np.int32),
        "name": "mlp",
    }


def _like(tree: dict) -> dict:
    return jax.tree.map(lambda x: x, tree)


def test_round_trip_keeps_values_kinds_shardings_and_non_array_leaves(tmp_path):
    mesh = _mesh()
    tree = _tree(mesh)
    tree_save_orbax(tmp_path / "ckpt", tree, metadata={"lr": 3e-4, "step": 7})
    loaded = tree_load_orbax(tmp_path / "ckpt", tree)
    weight = loaded["layers"][0]["weight"]
    np.testing.assert_array_equal(weight, tree["layers"][0]["weight"])
    assert weight.sharding == tree["layers"][0]["weight"].sharding
    assert loaded["layers"][1]["weight"].dtype == jnp.bfloat16
    assert loaded["layers"][1]["activation"] is jnp.tanh
    assert loaded["step"] == 7 and type(loaded["step"]) is int
    assert loaded["lr"] == 0.5 and type(loaded["lr"]) is float
    assert loaded["name"] == "mlp"
    assert isinstance(loaded["counts"], np.ndarray)
    np.testing.assert_array_equal(loaded["counts"], np.arange(5))
    np.testing.assert_array_equal(
        jax.random.key_data(loaded["key"]), jax.random.key_data(jax.random.key(3))
    )
    assert tree_load_orbax_metadata(tmp_path / "ckpt") == {"lr": 3e-4, "step": 7}


def test_abstract_like_with_shardings_restores_each_shard_onto_its_device(tmp_path):
    mesh = _mesh()
    n = jax.device_count()
    weight = jnp.arange(2.0 * n * 4).reshape(2 * n, 4)
    tree_save_orbax(tmp_path / "ckpt", {"w": weight})
    split = NamedSharding(mesh, P("data"))
    like = {"w": jax.ShapeDtypeStruct(weight.shape, weight.dtype, sharding=split)}
    loaded = tree_load_orbax(tmp_path / "ckpt", like)
    assert loaded["w"].sharding == split
    assert {s.data.shape for s in loaded["w"].addressable_shards} == {(2, 4)}
    np.testing.assert_array_equal(loaded["w"], weight)


def test_restoring_onto_a_different_mesh_reshards(tmp_path):
    n = jax.device_count()
    rows = jax.device_put(
        jnp.arange(4.0 * n * 2 * n).reshape(4 * n, 2 * n), NamedSharding(_mesh(), P("data"))
    )
    tree_save_orbax(tmp_path / "ckpt", {"w": rows})
    # Columns instead of rows, over a mesh of another shape.
    other = Mesh(np.array(jax.devices()).reshape(1, n), ("a", "b"))
    cols = NamedSharding(other, P(None, "b"))
    loaded = tree_load_orbax(
        tmp_path / "ckpt", {"w": jax.ShapeDtypeStruct(rows.shape, rows.dtype, sharding=cols)}
    )
    assert loaded["w"].sharding == cols
    np.testing.assert_array_equal(loaded["w"], rows)


def test_a_shape_mismatch_names_the_leaf_path_with_both_shapes(tmp_path):
    tree_save_orbax(tmp_path / "ckpt", {"layers": [{"weight": jnp.ones((3, 2))}]})
    like = {"layers": [{"weight": jnp.ones((2, 3))}]}
    with pytest.raises(
        CheckpointMismatchError,
        match=r"\['layers'\]\[0\]\['weight'\].*shape \(3, 2\) stored, \(2, 3\) expected",
    ) as info:
        tree_load_orbax(tmp_path / "ckpt", like)
    assert info.value.report.mismatched[0].path == "['layers'][0]['weight']"


def test_strict_reports_missing_and_unexpected_and_partial_loads_what_matches(tmp_path):
    tree_save_orbax(tmp_path / "ckpt", {"a": jnp.arange(3.0), "old": jnp.ones(2)})
    like = {"a": jnp.zeros(3), "new": jnp.full(4, 9.0)}
    with pytest.raises(
        CheckpointMismatchError,
        match=r"(?s)missing from the source:\n  \['new'\].*'old'.*strict=False",
    ):
        tree_load_orbax(tmp_path / "ckpt", like)
    loaded, report = tree_load_orbax(tmp_path / "ckpt", like, strict=False)
    np.testing.assert_array_equal(loaded["a"], np.arange(3.0))
    np.testing.assert_array_equal(loaded["new"], np.full(4, 9.0))  # like's value kept
    assert report.missing == ("['new']",)
    assert report.unexpected == ("old",)


def test_overwrite_is_refused_unless_asked(tmp_path):
    tree_save_orbax(tmp_path / "ckpt", {"a": jnp.zeros(2)})
    with pytest.raises(FileExistsError, match="overwrite=True"):
        tree_save_orbax(tmp_path / "ckpt", {"a": jnp.ones(2)})
    tree_save_orbax(tmp_path / "ckpt", {"a": jnp.ones(2)}, overwrite=True)
    np.testing.assert_array_equal(
        tree_load_orbax(tmp_path / "ckpt", {"a": jnp.zeros(2)})["a"], np.ones(2)
    )


def test_async_save_snapshots_the_arrays_before_returning(tmp_path):
    x = jnp.arange(1000.0)
    pending = tree_save_orbax(tmp_path / "ckpt", {"x": x}, wait=False)
    x = x + 1  # training goes on
    pending.wait()
    pending.wait()  # idempotent
    np.testing.assert_array_equal(
        tree_load_orbax(tmp_path / "ckpt", {"x": x})["x"], np.arange(1000.0)
    )


def test_converters_both_ways_are_lossless(tmp_path):
    tree = {
        "w": jnp.arange(6.0).reshape(2, 3),
        "b": jnp.ones(3, jnp.bfloat16),
        "key": jax.random.key(1),
        "n": 3,
        "flag": True,
    }
    tree_save(tmp_path / "a.safetensors", tree, metadata={"epoch": 2})
    checkpoint_to_orbax(tmp_path / "a.safetensors", tmp_path / "ckpt")
    from_orbax = tree_load_orbax(tmp_path / "ckpt", tree)
    assert tree_load_orbax_metadata(tmp_path / "ckpt") == {"epoch": 2}
    checkpoint_from_orbax(tmp_path / "ckpt", tmp_path / "b.safetensors")
    from_file = tree_load(tmp_path / "b.safetensors", tree)
    for loaded in (from_orbax, from_file):
        np.testing.assert_array_equal(loaded["w"], tree["w"])
        assert loaded["b"].dtype == jnp.bfloat16
        assert loaded["n"] == 3 and type(loaded["n"]) is int
        assert loaded["flag"] is True
        np.testing.assert_array_equal(
            jax.random.key_data(loaded["key"]), jax.random.key_data(tree["key"])
        )
    assert eqx_tree.tree_load_metadata(tmp_path / "b.safetensors") == {"epoch": 2}


def test_a_directory_orbax_wrote_without_eqx_is_refused_with_the_reason(tmp_path):
    import orbax.checkpoint as ocp

    ocp.PyTreeCheckpointer().save(os.fspath(tmp_path / "raw"), {"a": np.zeros(2)})
    with pytest.raises(CheckpointFormatError, match="not written by `tree_save_orbax`"):
        tree_load_orbax(tmp_path / "raw", {"a": np.zeros(2)})
    with pytest.raises(FileNotFoundError, match="no Orbax checkpoint directory"):
        tree_load_orbax(tmp_path / "absent", {"a": np.zeros(2)})


def test_single_device_like_reads_onto_that_device(tmp_path):
    device = jax.devices()[-1]
    tree_save_orbax(tmp_path / "ckpt", {"a": jnp.arange(2.0)})
    like = {"a": jax.ShapeDtypeStruct((2,), jnp.float32, sharding=SingleDeviceSharding(device))}
    assert tree_load_orbax(tmp_path / "ckpt", like)["a"].sharding == SingleDeviceSharding(device)
