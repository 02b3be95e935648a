"""The generated module (rnnlab.capi) as SWIG makes it: every C function reachable, arrays through
the checked buffer typemaps."""
import os
import re

import numpy as np
import pytest

import rnnlab
from rnnlab import capi

HEADERS = os.path.join(os.environ.get("RNNLAB_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "..", "..", "..")),
                       "include", "rnnlab")


def declared_functions():
    names = set()
    for h in ("rnnlab.h", "rnnlab_data.h", "rnnlab_io.h"):
        text = open(os.path.join(HEADERS, h)).read()
        names |= set(re.findall(r"RNNLAB_API\s+[^;(]*?\b(rnnlab_\w+)\s*\(", text))
    return names


def test_every_c_function_is_wrapped():
    names = declared_functions()
    assert len(names) > 80
    missing = sorted(n for n in names if not callable(getattr(capi, n, None)))
    assert not missing


def test_no_wrapper_takes_a_raw_pointer_to_numbers():
    """A (pointer, count) pair added to a header but not to rnnlab.i would be wrapped as an opaque
    SWIG pointer; the generated wrapper then converts an argument to float*, double*, ... ."""
    wrap = os.path.join(os.path.dirname(os.path.dirname(rnnlab.__file__)), "rnnlab_wrap.c")
    if not os.path.exists(wrap):
        pytest.skip("the generated rnnlab_wrap.c is not next to the package (an installed copy)")
    text = open(wrap).read()
    bad = re.findall(r"SWIG_ConvertPtr\(swig_obj\[\d+\], &argp\d+,\s*SWIGTYPE_p_(float|double|int|long|unsigned_char|"
                     r"signed_char|short|p_char|size_t|void)\b", text)
    assert not bad


def test_raw_calls():
    cfg = capi.rnnlab_config()
    assert cfg.struct_size > 0 and cfg.threads == 1 and cfg.sat_thresh == pytest.approx(0.05)
    cfg.input_size, cfg.hidden_size = 2, 4
    cfg.diag_level = capi.RNNLAB_DIAG_SUMMARY
    cfg.frozen_bias_value = (0.0, 0.5, 0.0)
    assert cfg.frozen_bias_value == (0.0, 0.5, 0.0)
    with pytest.raises(ValueError):
        cfg.frozen_bias_value = (1.0, 2.0)
    m = capi.rnnlab_create(cfg)
    try:
        x = np.ones((3, 1, 2), np.float32)
        y = np.empty((3, 1, 4), np.float32)
        assert capi.rnnlab_step(y, m, x, 3, 1) is None
        dy = np.ones_like(y)
        capi.rnnlab_backward(m, (None, None, dy))
        total, trainable = capi.rnnlab_param_count(m)
        assert total == trainable == 3 * 4 * 2 + 3 * 4 * 4 + 2 * 12
        d = capi.rnnlab_diag()
        capi.rnnlab_diagnostics(d, m)
        assert np.isnan(d.loss) and d.steps == 3
        assert capi.rnnlab_trace_from_name("gate_z_mean_time") == capi.RNNLAB_TRACE_GATE_Z_MEAN_TIME
        assert capi.rnnlab_trace_name(capi.RNNLAB_TRACE_GRAD_TIME) == "grad_time"
        n, pairs = capi.rnnlab_grad_norm_blocks(0, m)
        assert pairs == [] and n >= 4
        with pytest.raises(TypeError, match="targets"):
            capi.rnnlab_backward(m, [None, None, dy])
    finally:
        capi.rnnlab_destroy(m)
    assert capi.rnnlab_status_string(capi.RNNLAB_E_NULL)
