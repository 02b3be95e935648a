"""backend="cuda" from Python: the extension carries the static library, whose CUDA backend is a module
loaded on demand (librnnlab_cuda.so beside the extension in a CUDA build). Without a GPU, asking for
it says why; a CPU-side or AUTO model never maps the CUDA libraries. Each check runs in a fresh
interpreter: the library remembers what it found for the life of a process."""
import os
import subprocess
import sys
import textwrap

import pytest

import rnnlab

CUDA_LIBS = ("libcudart", "libcublas", "libcudnn", "librnnlab_cuda")


def run_py(code, **env):
    e = dict(os.environ)
    e.update(env)
    r = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, env=e,
                       timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    return r.stdout


def test_module_found_beside_the_extension():
    if os.environ.get("RNNLAB_PY_CUDA_MODULE") != "1":
        pytest.skip("this build has no CUDA backend (RNNLAB_PY_CUDA_MODULE is not 1)")
    ext_dir = os.path.dirname(rnnlab.capi.__file__)
    assert any(f.startswith("librnnlab_cuda.so.") for f in os.listdir(ext_dir)), os.listdir(ext_dir)
    assert rnnlab.has_feature("cuda")


def test_cpu_and_auto_models_map_no_cuda_library():
    out = run_py("""
        import numpy as np, rnnlab
        def maps():
            return [l.split()[-1] for l in open("/proc/self/maps") if any(k in l for k in %r)]
        x = np.zeros((3, 2, 2), np.float32)
        for b in ("cpu" if rnnlab.has_feature("onednn") else "reference", "reference"):
            with rnnlab.Model(2, 4, backend=b) as m:
                m.forward(x)
        rnnlab.has_feature("cuda")
        print("after cpu:", maps())
        assert not maps(), maps()
        if rnnlab.backend_available("cuda"):
            print("gpu usable: AUTO loads the CUDA module by design")
        else:
            assert not maps(), maps()
            with rnnlab.Model(2, 4, backend="auto") as m:
                m.forward(x)
            print("after auto:", maps())
            assert not maps(), maps()
    """ % (CUDA_LIBS,))
    print(out)


def test_cuda_backend_names_the_reason():
    if rnnlab.backend_available("cuda"):
        pytest.skip("a CUDA device is usable here: there is no NO_DEVICE path to check")
    with pytest.raises(rnnlab.NoDeviceError) as e:
        rnnlab.Model(2, 4, backend="cuda")
    msg = str(e.value)
    assert "config.backend = cuda" in msg, msg
    if rnnlab.has_feature("cuda"):
        assert "driver" in msg or "device" in msg, msg
    elif os.environ.get("RNNLAB_PY_CUDA_MODULE") == "1":
        pytest.fail("a CUDA build whose module the extension does not find: " + msg)
    else:
        assert "built without the CUDA backend" in msg, msg


def test_cuda_module_override_names_the_path(tmp_path):
    if os.environ.get("RNNLAB_PY_CUDA_MODULE") != "1":
        pytest.skip("this build has no CUDA backend (RNNLAB_PY_CUDA_MODULE is not 1)")
    missing = str(tmp_path / "librnnlab_cuda.so.0")
    out = run_py("""
        import rnnlab
        try:
            rnnlab.Model(2, 4, backend="cuda")
        except rnnlab.NoDeviceError as e:
            print(e)
    """, RNNLAB_CUDA_PLUGIN=missing)
    assert missing in out and "could not be loaded" in out, out
