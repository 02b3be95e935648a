"""Every bad input is a clear exception naming the argument, and the model is left as it was."""
import gc

import numpy as np
import pytest

import rnnlab
from helpers import assert_same, batch, gru, snapshot


@pytest.fixture
def model(rng):
    m = gru()
    m.set_optimizer("sgd", lr=0.1)
    x, c = batch(rng)
    m.forward(x)
    m.backward(c)   # gradients and diagnostics in place, hidden state carried
    yield m
    m.close()


def check_refused(m, exc, match, fn, *args, **kw):
    before = snapshot(m)
    with pytest.raises(exc, match=match or None):
        fn(*args, **kw)
    assert_same(before, snapshot(m))


def test_wrong_dtypes(model, rng):
    x, c = batch(rng)
    check_refused(model, TypeError, "'x'.*complex", model.forward, x.astype(np.complex64))
    check_refused(model, TypeError, "'x'", model.forward, np.array([["a"]], dtype=object))
    model.forward(x)
    check_refused(model, TypeError, "'classes'.*integers", model.backward, c.astype(np.float32))
    check_refused(model, TypeError, "'out'.*float32", model.params, out=np.empty(model.param_count()[0], np.float64))
    check_refused(model, TypeError, "'x'", model.forward, "not an array")


def test_wrong_shapes(model, rng):
    x, c = batch(rng)
    check_refused(model, ValueError, "'x'.*3 dimensions", model.forward, x[0])
    check_refused(model, ValueError, "'x'.*shape", model.forward, np.zeros((6, 4, 5), np.float32))
    check_refused(model, ValueError, "'x'.*T and B", model.forward, np.zeros((0, 4, 3), np.float32))
    check_refused(model, ValueError, "'h0'", model.forward, x, h0=np.zeros((3, 8), np.float32))
    check_refused(model, ValueError, "'out'", model.forward, x, out=np.zeros((6, 4, 5), np.float32))
    model.forward(x)
    check_refused(model, ValueError, "'classes'.*shape", model.backward, c.T.copy())
    check_refused(model, ValueError, "'values'", model.set_params, np.zeros(3, np.float32))
    check_refused(model, ValueError, "weight_ih", model.set_tensor, "weight_ih", np.zeros((3, 24), np.float32))
    check_refused(model, ValueError, "'x'.*NaN", model.forward, np.full((6, 4, 3), np.nan, np.float32))


def test_non_contiguous_and_read_only_outputs(model, rng):
    x, _ = batch(rng)
    total = model.param_count()[0]
    strided = np.empty(2 * total, np.float32)[::2]
    check_refused(model, ValueError, "'out'.*C-contiguous", model.params, out=strided)
    ro = np.empty(total, np.float32)
    ro.flags.writeable = False
    check_refused(model, ValueError, "'out'.*read-only", model.grads, out=ro)
    # a non-contiguous input is copied, not refused (the docstring says so)
    y = model.forward(np.asfortranarray(x))
    assert np.array_equal(y, model.forward(x))


def test_raw_module_checks_buffers(model):
    """The typemaps themselves: format, item size, contiguity and writability, each naming the
    argument, with the model unchanged."""
    c = rnnlab.capi
    h = model.handle
    total = model.param_count()[0]
    check_refused(model, TypeError, "rnnlab_get_params.*'out'.*float32.*'d'", c.rnnlab_get_params,
                  np.empty(total, np.float64), h)
    check_refused(model, TypeError, "rnnlab_set_params.*'values'.*float32", c.rnnlab_set_params, h,
                  np.zeros(total, np.int32))
    check_refused(model, ValueError, "rnnlab_get_params.*'out'.*C-contiguous", c.rnnlab_get_params,
                  np.empty(2 * total, np.float32)[::2], h)
    ro = np.empty(total, np.float32)
    ro.flags.writeable = False
    check_refused(model, ValueError, "rnnlab_get_grads.*'out'.*read-only", c.rnnlab_get_grads, ro, h)
    check_refused(model, ValueError, "rnnlab_get_grads.*'out'", c.rnnlab_get_grads, b"\0" * (4 * total), h)
    check_refused(model, TypeError, "rnnlab_set_params.*'values'", c.rnnlab_set_params, h, [1.0, 2.0])
    # a right-sized buffer of the wrong count is the C library's SIZE_MISMATCH, naming it
    check_refused(model, rnnlab.SizeMismatchError, "count", c.rnnlab_set_params, h, np.zeros(total - 1, np.float32))
    # None where C requires a buffer: RNNLAB_E_NULL as a TypeError subclass
    with pytest.raises(rnnlab.NullError) as e:
        c.rnnlab_get_params(None, h)
    assert isinstance(e.value, TypeError) and e.value.status == c.RNNLAB_E_NULL and e.value.message


def test_none_arguments(model, rng):
    check_refused(model, TypeError, "'x'.*None", model.forward, None)
    check_refused(model, TypeError, "exactly one target", model.backward)
    check_refused(model, TypeError, "'state_dict'", model.load_state_dict, None)
    check_refused(model, TypeError, "'path'", model.save, None)
    with pytest.raises(rnnlab.NullError):
        rnnlab.capi.rnnlab_reset(None)


def test_bad_values_from_the_c_library(model, rng):
    x, c = batch(rng)
    model.forward(x)
    bad = c.copy()
    bad[0, 0] = 99
    check_refused(model, rnnlab.InvalidArgumentError, "class", model.backward, bad)
    check_refused(model, ValueError, "unknown value 'lstm'", rnnlab.Model, 3, 8, cell="lstm")
    with pytest.raises(rnnlab.ConfigError) as e:
        rnnlab.Model(3, 8, cell="rnn_tanh", frozen_biases={"z": 0.0})
    assert isinstance(e.value, ValueError) and e.value.status == rnnlab.capi.RNNLAB_E_INVALID_CONFIG
    with pytest.raises(rnnlab.InvalidArgumentError, match="hidden_size"):
        rnnlab.Model(3, 0)
    check_refused(model, rnnlab.NotFoundError, "nope", model.get_tensor, "nope")
    check_refused(model, KeyError, "missing", model.load_state_dict, {"weight_ih": np.zeros((24, 3))})
    sd = model.state_dict()
    sd["weight_hh"] = np.full((24, 8), np.inf)
    check_refused(model, rnnlab.NonFiniteError, "", model.load_state_dict, sd)
    check_refused(model, rnnlab.InvalidArgumentError, "", model.set_optimizer, "sgd", lr=-1.0)
    check_refused(model, rnnlab.InvalidArgumentError, "'t'|t =|t", model.jacobian, 100)


def test_backward_with_nothing_recorded(model, rng):
    x, c = batch(rng)
    model.eval()
    model.forward(x)
    check_refused(model, rnnlab.StateError, "", model.backward, c)
    model.train()


def test_closed_model():
    m = gru()
    m.close()
    m.close()  # idempotent
    for fn, args in ((m.forward, (np.zeros((1, 1, 3), np.float32),)), (m.params, ()), (m.diagnostics, ()),
                     (m.update, ()), (m.save, ("x",)), (m.trace, ("grad_time",)), (m.state_dict, ())):
        with pytest.raises(ValueError, match="closed"):
            fn(*args)
    assert m.closed and "closed" in repr(m)
    with gru() as m2:
        pass
    assert m2.closed
    del m, m2
    gc.collect()


def test_error_hierarchy():
    e = rnnlab.errors.error_for_status(rnnlab.capi.RNNLAB_E_IO, "rnnlab_save: cannot open 'x'")
    assert isinstance(e, rnnlab.Error) and isinstance(e, OSError) and e.status == -12
    assert "cannot open" in str(e) and e.message == "rnnlab_save: cannot open 'x'"
    for status, builtin in ((-1, TypeError), (-2, ValueError), (-3, ValueError), (-4, ValueError), (-6, RuntimeError),
                            (-7, RuntimeError), (-8, RuntimeError), (-10, KeyError), (-11, MemoryError),
                            (-13, OSError), (-14, OSError), (-16, RuntimeError)):
        assert isinstance(rnnlab.errors.error_for_status(status, "m"), builtin), status
