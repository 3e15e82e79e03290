import dataclasses
import functools as ft

import jax
import jax.numpy as jnp
import jax.tree_util as jtu
import numpy as np

from eqx_tree import tree_pformat, tree_pprint


def test_jax_arrays_render_as_dtype_and_shape():
    assert tree_pformat(jnp.ones((3, 4))) == "f32[3,4]"
    assert tree_pformat(jnp.ones(2, jnp.bfloat16)) == "bf16[2]"
    assert tree_pformat(jnp.ones(2, jnp.uint8)) == "u8[2]"
    assert tree_pformat(jnp.ones(2, jnp.complex64)) == "c64[2]"
    assert tree_pformat(jnp.ones(2, bool)) == "bool[2]"


def test_typed_prng_keys_render_with_their_key_dtype():
    keys = jax.random.split(jax.random.key(0), 3)
    assert tree_pformat([jax.random.key(0), keys]) == "[key<fry>[], key<fry>[3]]"
    struct = jax.ShapeDtypeStruct((2,), keys.dtype)
    assert tree_pformat(struct, struct_as_array=True) == "key<fry>[2]"
    assert tree_pformat(jax.random.PRNGKey(0)) == "u32[2]"  # a legacy key is plain uint32


def test_float8_and_int4_render_with_short_names():
    assert tree_pformat(jnp.ones(2, jnp.float8_e4m3fn)) == "f8_e4m3fn[2]"
    assert tree_pformat(jnp.ones(2, jnp.int4)) == "i4[2]"


def test_weak_type_adds_a_prefix():
    assert tree_pformat(jnp.array(1)) == "weak_i32[]"
    assert tree_pformat(jnp.array(1.0)) == "weak_f32[]"


def test_numpy_arrays_add_a_suffix():
    assert tree_pformat(np.ones((3, 4), np.int64)) == "i64[3,4](numpy)"


def test_short_arrays_false_uses_repr():
    assert tree_pformat(np.array(1), short_arrays=False) == "array(1)"
    assert tree_pformat(jnp.array(1), short_arrays=False) == repr(jnp.array(1))


def test_shape_dtype_struct_renders_as_array_only_when_asked():
    struct = jax.ShapeDtypeStruct((2,), jnp.float32)
    assert tree_pformat(struct, struct_as_array=True) == "f32[2]"
    assert tree_pformat(struct).startswith("ShapeDtypeStruct(")


def _f(x):
    return x


def test_functions_partials_and_jax_wrappers():
    @jax.custom_jvp
    def g(x):
        return x

    assert tree_pformat(_f) == "<function _f>"
    assert tree_pformat(jax.jit(_f)) == "<wrapped function _f>"
    assert tree_pformat(ft.partial(_f, 1)) == "partial(<function _f>, 1)"
    assert tree_pformat(g) == "<function test_functions_partials_and_jax_wrappers.<locals>.g>"
    assert (
        tree_pformat(jtu.Partial(_f, 1, a=2))
        == "Partial(func=<function _f>, args=(1,), keywords={'a': 2})"
    )


@dataclasses.dataclass
class _Point:
    x: int = 1
    y: object = None
    hidden: int = dataclasses.field(default=0, repr=False)


def test_dataclasses_show_repr_fields_and_hide_defaults():
    assert tree_pformat(_Point()) == "_Point()"
    assert tree_pformat(_Point(2, [1, 2], hidden=5)) == "_Point(x=2, y=[1, 2])"


@dataclasses.dataclass
class _Pair:
    a: int
    b: int


def test_missing_attribute_renders_uninitialised():
    p = object.__new__(_Pair)
    p.a = 2
    assert tree_pformat(p) == "_Pair(a=2, b=<uninitialised>)"


def test_containers_and_recursion():
    assert tree_pformat((1,)) == "(1,)"
    assert tree_pformat({"a": [1, (2, 3)]}) == "{'a': [1, (2, 3)]}"
    x: list = []
    x.append(x)
    assert tree_pformat(x) == "[<recursive>]"


def test_truncate_leaf():
    out = tree_pformat([_Point(), 1], truncate_leaf=lambda n: isinstance(n, _Point))
    assert out == "[_Point(...), 1]"


def test_breaks_lines_when_too_wide():
    tree = {"alpha": jnp.ones((100, 100)), "beta": [1, 2, 3]}
    one_line = tree_pformat(tree, width=200)
    assert "\n" not in one_line
    broken = tree_pformat(tree, width=20, indent=4)
    assert broken.splitlines()[0] == "{"
    assert broken.splitlines()[1].startswith("    'alpha'")


def test_tracers_render_like_arrays():
    seen = []
    jax.jit(lambda x: seen.append(tree_pformat(x)))(jnp.ones(3))
    assert seen == ["f32[3]"]


def test_pprint_prints_the_pformat(capsys):
    tree_pprint({"w": jnp.ones(2)})
    assert capsys.readouterr().out == "{'w': f32[2]}\n"


def test_pdoc_hooks_are_honoured():
    import wadler_lindig as wl

    class Custom:
        def __pdoc__(self, **kwargs):
            return wl.TextDoc("Custom<3>")

    assert tree_pformat([Custom(), jnp.ones(2)]) == "[Custom<3>, f32[2]]"
