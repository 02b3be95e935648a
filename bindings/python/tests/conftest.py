"""Shared fixtures of the binding's tests. The package under test is the one on sys.path: the build
tree's (CTest sets PYTHONPATH) or an installed one."""
import os
import sys

import numpy as np
import pytest

import rnnlab


def pytest_configure(config):
    config.addinivalue_line("markers", "pip: installs the package into a throwaway venv (slow; CTest python_pip_install)")


def pytest_report_header(config):
    return f"rnnlab {rnnlab.version()} from {os.path.dirname(rnnlab.__file__)}; python {sys.executable}"


@pytest.fixture
def rng():
    return np.random.default_rng(1234)
