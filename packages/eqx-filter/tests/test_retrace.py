"""The path-by-path signature diff behind retrace explanations, without JIT."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

from eqx_filter._retrace import explain_signature_change, parameter_names, short_aval
from eqx_module import Module, field


def S(shape: tuple[int, ...], dtype: Any = jnp.float32, weak: bool = False) -> Any:
    return jax.ShapeDtypeStruct(shape, dtype, weak_type=weak)


def relu(x: Any) -> Any:
    return x


def gelu(x: Any) -> Any:
    return x


class Layer(Module):
    weight: Any
    activation: Callable[..., Any] = field(static=True)


class Model(Module):
    layers: list[Layer]


class Activation(Module):
    activation: Callable[..., Any] = field(static=True)


class MLP(Module):
    layers: list[Activation]


def mlp(last: Callable[..., Any]) -> MLP:
    return MLP([Activation(relu), Activation(relu), Activation(last)])


def test_shape_change_is_named_by_parameter() -> None:
    lines = explain_signature_change(((S((3, 4)),), {}), ((S((5, 4)),), {}), ["x"])
    assert lines == ["x: shape changed (3, 4) -> (5, 4) (f32[3,4]\u2192f32[5,4])"]


def test_python_number_change_says_numbers_are_static() -> None:
    lines = explain_signature_change(((), {"n": 3}), ((), {"n": 4}))
    assert lines == [
        "kwargs['n']: Python int 3 -> 4 (Python numbers are static; pass a jnp array to "
        "avoid retracing)"
    ]


def test_static_field_change_deep_in_a_module_is_named_by_its_path() -> None:
    def model(activation: Callable[..., Any]) -> Model:
        return Model([Layer(S((2,)), relu), Layer(S((2,)), relu), Layer(S((2,)), activation)])

    lines = explain_signature_change(((model(relu),), {}), ((model(gelu),), {}))
    assert lines == [
        "args[0].layers[2].activation: static value changed (<function relu> -> <function gelu>)"
    ]


def test_static_field_and_array_changes_in_one_module_are_both_reported() -> None:
    old = Layer(S((2,)), relu)
    new = Layer(S((3,)), gelu)
    lines = explain_signature_change(((old,), {}), ((new,), {}), ["layer"])
    assert lines == [
        "args[0].activation: static value changed (<function relu> -> <function gelu>) (that is, "
        "layer.activation)",
        "args[0].weight: shape changed (2,) -> (3,) (f32[2]\u2192f32[3]) (that is, layer.weight)",
    ]


def test_static_leaf_change_shows_both_values() -> None:
    lines = explain_signature_change(((relu,), {}), ((gelu,), {}), ["f"])
    assert lines == ["f: static value changed (<function relu> -> <function gelu>)"]


def test_dtype_and_weak_type_changes() -> None:
    (line,) = explain_signature_change(((S((3,), weak=True),), {}), ((S((3,), jnp.int32),), {}))
    assert "dtype changed float32 -> int32" in line
    assert "weak type changed (weakly typed -> strongly typed" in line


def test_treedef_change_names_the_subtree_and_both_structures() -> None:
    (line,) = explain_signature_change(((), {"opts": {"a": 1}}), ((), {"opts": {"b": 1}}))
    assert line == "kwargs['opts']: treedef changed (key 'a' removed: 1; key 'b' added: 1)"


def test_array_becoming_static_is_explained() -> None:
    (line,) = explain_signature_change(((S(()),), {}), ((1.0,), {}), ["x"])
    assert line.startswith("x: changed from an array f32[] to the static value 1.0")


def test_identical_signatures_have_no_differences() -> None:
    sig = ((S((3,)), "a", {"k": [1, 2]}), {"n": 3})
    assert explain_signature_change(sig, sig) == []


def test_recorded_triples_name_the_function_part_fun() -> None:
    (line,) = explain_signature_change(((relu,), (), {}), ((gelu,), (), {}))
    assert line.startswith("fun[0]: static value changed") or line.startswith("fun")


def test_parameter_names_and_short_aval() -> None:
    def f(x: Any, y: Any, *args: Any, z: Any = 1) -> None: ...

    assert parameter_names(f) == ["x", "y"]
    assert parameter_names(None) == []
    assert short_aval(S((2, 3), jnp.bfloat16)) == "bf16[2,3]"
    assert short_aval(S((), jnp.bool_)) == "bool[]"


def test_static_field_of_a_module_without_arrays_is_named_by_its_path() -> None:
    # The example: `layers[2]` holds no array, only the static `activation`.
    lines = explain_signature_change(((mlp(relu), S((2,))), {}), ((mlp(gelu), S((2,))), {}))
    assert lines == [
        "args[0].layers[2].activation: static value changed (<function relu> -> <function gelu>)"
    ]


def test_path_inside_a_named_argument_keeps_args_form_and_names_the_parameter() -> None:
    old = ((mlp(relu), S((3, 4))), {})
    new = ((mlp(gelu), S((5, 4))), {})
    assert explain_signature_change(old, new, ["model", "x"]) == [
        "args[0].layers[2].activation: static value changed (<function relu> -> <function "
        "gelu>) (that is, model.layers[2].activation)",
        "x: shape changed (3, 4) -> (5, 4) (f32[3,4]\u2192f32[5,4])",
    ]


def test_argument_passed_or_dropped_is_named_as_such() -> None:
    one, two = ((S((2,)),), {}), ((S((2,)), 3), {})
    assert explain_signature_change(one, two, ["x", "n"]) == [
        "n: passed now (3), not passed before"
    ]
    assert explain_signature_change(two, one, ["x", "n"]) == [
        "n: not passed now, passed before (3)"
    ]
    with_kw = ((), {"opts": {"a": S((2,))}})
    assert explain_signature_change(((), {}), with_kw) == [
        "kwargs['opts']: passed now ({'a': f32[2]}), not passed before"
    ]


def test_type_and_length_changes() -> None:
    (line,) = explain_signature_change(((mlp(relu),), {}), ((Model([]),), {}), ["m"])
    assert line == "m: type changed (MLP -> Model)"
    (line,) = explain_signature_change((([1, 2],), {}), (([1, 2, 3],), {}))
    assert line == "args[0]: length changed 2 -> 3 ([1, 2] -> [1, 2, 3])"


def test_none_becoming_an_array_is_explained() -> None:
    (line,) = explain_signature_change(((None,), {}), ((S((2,)),), {}), ["x"])
    assert line == (
        "x: changed from the static value None to an array f32[2] (arrays are traced, "
        "everything else is static)"
    )


def test_wrapped_functions_such_as_jax_nn_relu_show_by_name() -> None:
    lines = explain_signature_change(((jax.nn.relu,), {}), ((jax.nn.gelu,), {}), ["f"])
    assert lines == ["f: static value changed (<function relu> -> <function gelu>)"]


def test_a_changed_function_itself_is_named_fun() -> None:
    (line,) = explain_signature_change((relu, (), {}), (gelu, (), {}))
    assert line == "fun: static value changed (<function relu> -> <function gelu>)"
    (line,) = explain_signature_change((Activation(relu), (), {}), (Activation(gelu), (), {}))
    assert line == "fun.activation: static value changed (<function relu> -> <function gelu>)"
