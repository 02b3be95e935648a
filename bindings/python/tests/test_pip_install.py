"""The route a user takes: `pip install ./bindings/python` from a clean copy of the sources into a
throwaway virtual environment, then, from another directory, import, one training pass, and the
README's Python quick start word for word. Slow (it builds the library): CTest runs it as
python_pip_install (pytest -m pip)."""
import os
import re
import shutil
import subprocess
import sys

import pytest

pytestmark = pytest.mark.pip

SOURCE = os.environ.get("RNNLAB_SOURCE_DIR") or os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))


def clean_copy(dst):
    """The tracked and untracked-but-not-ignored files (what a fresh clone plus local edits holds);
    no build trees."""
    r = subprocess.run(["git", "-C", SOURCE, "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                       capture_output=True)
    if r.returncode != 0:
        # Not a git work tree (an unpacked archive, or CI's copy of one): every file but build trees
        # and outputs.
        def skip(d, names):
            return [n for n in names if n in (".git", "out") or n.startswith("build")]
        shutil.copytree(SOURCE, dst, ignore=skip, dirs_exist_ok=True)
        return
    for rel in filter(None, r.stdout.decode().split("\0")):
        src = os.path.join(SOURCE, rel)
        if not os.path.isfile(src):
            continue  # deleted in the work tree
        os.makedirs(os.path.dirname(os.path.join(dst, rel)), exist_ok=True)
        shutil.copy2(src, os.path.join(dst, rel))


def readme_quick_start():
    text = open(os.path.join(SOURCE, "README.md"), encoding="utf-8").read()
    m = re.search(r"## Python\n.*?```python\n(.*?)```", text, re.S)
    assert m, "README.md has no '## Python' section with a ```python block"
    return m.group(1)


def test_pip_install_into_a_fresh_venv(tmp_path):
    src = tmp_path / "src"
    clean_copy(src)
    venv = tmp_path / "venv"
    # system site packages: numpy (and scikit-build-core for the offline build) come from the
    # interpreter running the tests; rnnlab itself must come from the venv.
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)], check=True)
    py = str(venv / "bin" / "python")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    cmd = [py, "-m", "pip", "install", "-q", "--no-deps"]
    try:
        import scikit_build_core  # noqa: F401
        cmd.append("--no-build-isolation")  # no network needed
    except ImportError:
        pass  # pip fetches scikit-build-core and swig from PyPI
    subprocess.run(cmd + [str(src / "bindings" / "python")], check=True, env=env, cwd=tmp_path)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    one_pass = (
        "import os, numpy as np, rnnlab\n"
        f"assert rnnlab.__file__.startswith({str(venv)!r}), rnnlab.__file__\n"
        "m = rnnlab.Model(input_size=2, hidden_size=8, head='last_softmax', output_size=3, diag_level='full')\n"
        "m.set_optimizer('sgd', lr=0.1)\n"
        "y = m.forward(np.ones((4, 2, 2), np.float32))\n"
        "loss = m.backward(np.array([0, 2]))\n"
        "m.update()\n"
        "assert y.shape == (4, 2, 3) and np.isfinite(loss) and m.trace('grad_time').shape == (4,)\n"
        "print('one pass ok', rnnlab.version(), loss)\n")
    r = subprocess.run([py, "-c", one_pass], cwd=elsewhere, env=env, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    r = subprocess.run([py, "-c", readme_quick_start()], cwd=elsewhere, env=env, capture_output=True, text=True)
    assert r.returncode == 0, "README quick start failed:\n" + r.stdout + r.stderr
