#!/usr/bin/env python3
"""Runs rnnlab-train's pytest files for CTest.

Exit 77 (CTest: skipped) with the reason when python3 lacks numpy, matplotlib or pytest: the tests
need numpy to read the npz files, matplotlib to run the handout's plotting snippet, and pytest to run.

    run_tests.py --trainer PATH --tmp DIR TESTS_DIR [pytest args...]
"""
import argparse
import importlib
import os
import sys


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--trainer", required=True, help="the rnnlab-train executable")
    ap.add_argument("--tmp", required=True, help="scratch directory for the runs")
    ap.add_argument("tests_dir")
    args, rest = ap.parse_known_args()
    missing = []
    for mod in ("numpy", "matplotlib", "pytest"):
        try:
            importlib.import_module(mod)
        except Exception:  # ImportError, or a broken install
            missing.append(mod)
    if missing:
        print("SKIPPED: %s has no %s (scripts/setup.sh installs them): the trainer tests need numpy to read "
              "the npz files, matplotlib for the handout's plotting snippet, and pytest to run"
              % (sys.executable, ", ".join(missing)))
        return 77
    import pytest

    os.environ["RNNLAB_TRAIN"] = os.path.abspath(args.trainer)
    os.environ["RNNLAB_TRAIN_TMP"] = os.path.abspath(args.tmp)
    os.environ.setdefault("MPLBACKEND", "Agg")
    os.makedirs(args.tmp, exist_ok=True)
    # -p no:cacheprovider: nothing is written into the source tree.
    return pytest.main(["-q", "-p", "no:cacheprovider", "--basetemp", os.path.join(args.tmp, "pytest"),
                        args.tests_dir] + rest)


if __name__ == "__main__":
    sys.exit(main())
