#!/usr/bin/env python3
"""The Julia binding's checks must be able to fail: each is fed something wrong and must say so
(and fed the real thing, as a control, and must pass).

    python3 bindings/julia/test_checks.py [--swig swig] [--probe julia_layout_probe]

Exits 77 (skipped, with the reason) when swig or tree-sitter-julia is missing.
"""
import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

sys.dont_write_bytecode = True  # run from the source tree: leave no __pycache__ in it
HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
import check  # noqa: E402
import generate  # noqa: E402

LIB_JL = os.path.join(HERE, "src", "LibRnnlab.jl")
OPTS = argparse.Namespace(swig="swig", probe=None)


def parser():
    return check.load_tree_sitter()


def real_api():
    return generate.read_xml(generate.run_swig(OPTS.swig, os.path.join(REPO, "include"),
                                               os.path.join(REPO, "bindings", "rnnlab_api.i")))


class Parse(unittest.TestCase):
    BROKEN = {
        "missing end": "function f(x)\n    return x + 1\n",
        "unclosed paren": "y = (1, 2\nz = 3\n",
        "unclosed struct": "struct S\n    a::Int32\n",
        "stray end": "x = 1\nend\n",
        "extra end after function": "function f()\n    1\nend\nend\n",
        "second else": "if x\n    1\nelse\n    2\nelse\n    3\nend\n",
        "bad token": "x = 1 +* 2\n",
        "unterminated string": 'println("abc)\n',
    }

    def test_broken_files_are_reported(self):
        p = parser()
        for what, text in self.BROKEN.items():
            with self.subTest(what):
                self.assertTrue(check.syntax_problems(check.Source(p, "broken.jl", text)),
                                "%s: not reported" % what)

    def test_valid_uses_of_end_pass(self):
        good = "y = x[end]\nz = x[2:end, begin]\nv = @view x[1:end-1]\nx[end] = 1\nf(x) = x\n"
        self.assertEqual(check.syntax_problems(check.Source(parser(), "good.jl", good)), [])

    def test_broken_file_fails_the_command(self):
        with tempfile.TemporaryDirectory() as tmp:
            with open(os.path.join(tmp, "good.jl"), "w") as f:
                f.write("module M\nf(x) = x + 1\nend\n")
            self.assertEqual(check.main(["parse", tmp]), 0)
            with open(os.path.join(tmp, "broken.jl"), "w") as f:
                f.write(self.BROKEN["missing end"])
            self.assertEqual(check.main(["parse", tmp]), 1)

    def test_real_sources_parse(self):
        self.assertEqual(check.main(["parse", HERE, os.path.join(REPO, "examples", "julia")]), 0)


class Regenerate(unittest.TestCase):
    """A header change the committed wrappers do not follow fails the regenerate check."""

    def run_on(self, edit):
        with tempfile.TemporaryDirectory() as tmp:
            inc = os.path.join(tmp, "include")
            shutil.copytree(os.path.join(REPO, "include"), inc)
            h = os.path.join(inc, "rnnlab", "rnnlab.h")
            with open(h) as f:
                text = f.read()
            new = edit(text)
            with open(h, "w") as f:
                f.write(new)
            out = os.path.join(tmp, "LibRnnlab.jl")
            rc_write = generate.main(["--swig", OPTS.swig, "--include", inc, "--out", out, "--project", ""])
            self.assertEqual(rc_write, 0)
            rc_check = generate.main(["--swig", OPTS.swig, "--include", inc, "--check"])
            with open(out) as f:
                return rc_check, f.read(), new != text

    def test_unchanged_header_passes(self):
        rc, text, _ = self.run_on(lambda t: t)
        self.assertEqual(rc, 0)
        with open(LIB_JL) as f:
            self.assertEqual(text, f.read())

    def test_changes_fail(self):
        edits = {
            "new function": lambda t: t.replace(
                "RNNLAB_API rnnlab_status rnnlab_zero_grad(rnnlab_model *model);",
                "RNNLAB_API rnnlab_status rnnlab_zero_grad(rnnlab_model *model);\n"
                "RNNLAB_API rnnlab_status rnnlab_zero_grad_ex(rnnlab_model *model, int32_t flags);"),
            "parameter added": lambda t: t.replace(
                "RNNLAB_API rnnlab_status rnnlab_reset(rnnlab_model *model);",
                "RNNLAB_API rnnlab_status rnnlab_reset(rnnlab_model *model, int keep_h0);"),
            "parameter type": lambda t: t.replace(
                "rnnlab_set_sat_thresh(rnnlab_model *model, float sat_thresh)",
                "rnnlab_set_sat_thresh(rnnlab_model *model, double sat_thresh)"),
            "field appended": lambda t: t.replace(
                "  rnnlab_cpu_isa cpu_isa;", "  rnnlab_cpu_isa cpu_isa;\n  int32_t extra;"),
            "default changed": lambda t: t.replace("RNNLAB_DIAG_OFF, 0.05f, 1e-20", "RNNLAB_DIAG_OFF, 0.1f, 1e-20"),
            "enum value added": lambda t: t.replace("RNNLAB_E_FROZEN = -17", "RNNLAB_E_FROZEN = -17,\n  RNNLAB_E_NEW = -18"),
            "version bumped": lambda t: t.replace("#define RNNLAB_VERSION_MINOR 2", "#define RNNLAB_VERSION_MINOR 3"),
            "callback function": lambda t: t.replace(
                "RNNLAB_API rnnlab_status rnnlab_zero_grad(rnnlab_model *model);",
                "RNNLAB_API rnnlab_status rnnlab_zero_grad(rnnlab_model *model);\n"
                "typedef void (*rnnlab_log_fn)(void *ctx, const char *msg);\n"
                "#define RNNLAB_LOG_ALL (1u << 3)\n"
                "RNNLAB_API rnnlab_status rnnlab_set_log(rnnlab_model *model, rnnlab_log_fn fn, void *ctx);"),
        }
        for what, edit in edits.items():
            with self.subTest(what):
                rc, _, changed = self.run_on(edit)
                self.assertTrue(changed, "%s: the edit did not apply to the header" % what)
                self.assertEqual(rc, 1, "%s: the regenerate check did not fail" % what)


class Symbols(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.api = real_api()
        with open(LIB_JL) as f:
            cls.text = f.read()
        cls.exported = {name for name, _, _ in cls.api.functions}

    def problems(self, text=None, exported=None):
        w, probs = check.read_wrappers(check.Source(parser(), "LibRnnlab.jl", text or self.text))
        return probs + check.signature_problems(w, self.api, self.exported if exported is None else exported)

    def test_committed_wrappers_pass(self):
        self.assertEqual(self.problems(), [])

    def test_symbol_not_exported(self):
        probs = self.problems(exported=self.exported - {"rnnlab_step"})
        self.assertTrue(any("rnnlab_step is @ccall'ed but not exported" in p for p in probs), probs)

    def test_export_without_wrapper(self):
        probs = self.problems(exported=self.exported | {"rnnlab_secret"})
        self.assertTrue(any("exports rnnlab_secret" in p for p in probs), probs)

    def edit(self, old, new):
        self.assertIn(old, self.text)
        return self.problems(self.text.replace(old, new, 1))

    def test_wrong_type(self):
        probs = self.edit("y_count::Csize_t, model::Ptr{rnnlab_model}, x::Ptr{Cfloat}",
                          "y_count::Cint, model::Ptr{rnnlab_model}, x::Ptr{Cfloat}")
        self.assertTrue(any("rnnlab_step argument 2 (y_count): Julia type Cint" in p for p in probs), probs)

    def test_wrong_count(self):
        probs = self.edit("function rnnlab_set_bound(model, bound)\n    @ccall $(_cfunc(:rnnlab_set_bound))"
                          "(model::Ptr{rnnlab_model}, bound::Cdouble)",
                          "function rnnlab_set_bound(model)\n    @ccall $(_cfunc(:rnnlab_set_bound))"
                          "(model::Ptr{rnnlab_model})")
        self.assertTrue(any("rnnlab_set_bound passes 1 arguments, the header declares 2" in p for p in probs), probs)

    def test_wrong_return(self):
        probs = self.edit("(model::Ptr{rnnlab_model}, bound::Cdouble)::rnnlab_status",
                          "(model::Ptr{rnnlab_model}, bound::Cdouble)::Cint")
        self.assertTrue(any("rnnlab_set_bound returns Cint" in p for p in probs), probs)

    def test_wrong_symbol(self):
        probs = self.edit("$(_cfunc(:rnnlab_set_bound))", "$(_cfunc(:rnnlab_set_bounds))")
        self.assertTrue(any("calls rnnlab_set_bounds" in p for p in probs), probs)
        self.assertTrue(any("no wrapper for it" in p for p in probs), probs)

    def test_nm_reads_the_library(self):
        lib = os.path.join(tempfile.gettempdir(), "does-not-exist.so")
        with self.assertRaises(SystemExit):
            check.exported_functions("nm", lib)


class Layout(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.api = real_api()
        with open(LIB_JL) as f:
            cls.text = f.read()
        if OPTS.probe:
            out = subprocess.run([OPTS.probe], capture_output=True, text=True, check=True).stdout
            cls.probe = check.parse_probe(out)
        else:  # no compiled probe given: the committed table stands in for the C side
            cls.probe = check.read_layouts(check.Source(parser(), "LibRnnlab.jl", cls.text))

    def problems(self, text=None, probe=None):
        src = check.Source(parser(), "LibRnnlab.jl", text or self.text)
        return check.layout_problems(check.read_structs(src), check.read_layouts(src), probe or self.probe, self.api)

    def test_committed_layout_passes(self):
        self.assertEqual(self.problems(), [])

    def test_offset_differs(self):
        probe = dict(self.probe)
        size, align, fields = probe["rnnlab_config"]
        fields = list(fields)
        name, off, sz = fields[-1]
        fields[-1] = (name, off + 4, sz)
        probe["rnnlab_config"] = (size + 8, align, fields)
        probs = self.problems(probe=probe)
        self.assertTrue(any("rnnlab_config: LAYOUTS says size" in p for p in probs), probs)
        self.assertTrue(any("cpu_isa" in p for p in probs), probs)

    def test_julia_field_type_wrong(self):
        old = "    threads::Int32"
        self.assertIn(old, self.text)
        probs = self.problems(self.text.replace(old, "    threads::Int64", 1))
        self.assertTrue(any("rnnlab_config.threads: Julia type Int64" in p for p in probs), probs)

    def test_julia_fields_swapped(self):
        old = "    max_batch::Int32        "
        new_text = re.sub(r"(    max_batch::Int32[^\n]*\n)(    max_tape::Int32[^\n]*\n)", r"\2\1", self.text, count=1)
        self.assertNotEqual(new_text, self.text)
        probs = self.problems(new_text)
        self.assertTrue(any("rnnlab_config: Julia fields" in p for p in probs), probs)
        del old

    def test_struct_missing(self):
        probe = dict(self.probe)
        del probe["rnnlab_diag"]
        probs = self.problems(probe=probe)
        self.assertTrue(any("struct rnnlab_diag is missing from the C probe" in p for p in probs), probs)


class Calls(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        src = check.Source(parser(), "LibRnnlab.jl", open(LIB_JL).read())
        cls.w, _ = check.read_wrappers(src)
        cls.structs, cls.enums, cls.consts = check.read_structs(src), check.read_enums(src), check.read_consts(src)

    def problems(self, code):
        return check.call_problems(check.Source(parser(), "user.jl", code), self.w, self.structs, self.enums, self.consts)

    def test_good_calls(self):
        code = ("const C = LibRnnlab\nC.rnnlab_step(y, length(y), m, x, length(x), Int32(1), Int32(2))\n"
                "cfg = C.rnnlab_config(; input_size = 1)\nst = C.RNNLAB_OK\nx = C.RNNLAB_GATE_Z\n")
        self.assertEqual(self.problems(code), [])

    def test_bad_calls(self):
        for code, msg in (("C.rnnlab_step(y, m)", "rnnlab_step takes 7 arguments, called with 2"),
                          ("C.rnnlab_frobnicate(m)", "LibRnnlab has no rnnlab_frobnicate"),
                          ("x = C.RNNLAB_E_NOPE", "LibRnnlab has no RNNLAB_E_NOPE"),
                          ("C.rnnlab_diag(1, 2)", "rnnlab_diag(...) takes all 11 fields"),
                          ("const L = LibRnnlab\nL.rnnlab_reset()", "rnnlab_reset takes 1 arguments, called with 0")):
            with self.subTest(code):
                probs = self.problems(code)
                self.assertTrue(any(msg in p for p in probs), probs)

    def test_hand_written_sources_pass(self):
        self.assertEqual(check.main(["calls", os.path.join(HERE, "src", "RNNLab.jl"), os.path.join(HERE, "test"),
                                     os.path.join(REPO, "examples", "julia")]), 0)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--swig", default="swig")
    ap.add_argument("--probe")
    a, rest = ap.parse_known_args()
    OPTS.swig, OPTS.probe = a.swig, a.probe
    if shutil.which(a.swig) is None:
        print("SKIPPED: %s not found (scripts/setup.sh installs swig)" % a.swig)
        return 77
    check.load_tree_sitter()  # exits 77 with the reason when missing
    prog = unittest.main(argv=[sys.argv[0]] + rest, exit=False, verbosity=2)
    return 0 if prog.result.wasSuccessful() else 1


if __name__ == "__main__":
    sys.exit(main())
