#!/usr/bin/env python3
"""Static checks of the Julia binding (no Julia runs here; see README.md). Run by CTest (label julia).

  check.py parse DIR|FILE...          every .jl parses with tree-sitter-julia: no ERROR, no MISSING node
  check.py symbols --lib librnnlab.so every @ccall'ed symbol is exported (nm -D) and every exported
                                      rnnlab_ function has a wrapper; each wrapper's arguments and
                                      return match the header's declaration (swig -xml), by count and
                                      by type
  check.py layout --probe EXE         the structs of LibRnnlab.jl (their fields, the types' sizes and
                                      the LAYOUTS table) agree with what the C compiler prints
  check.py calls FILE...              hand-written code calls LibRnnlab's functions with the number of
                                      arguments they take, and names only types and constants it has

The checks read LibRnnlab.jl through tree-sitter, not through the generator, and map C types to
Julia with a table of their own, so a generator bug shows up as a failure here. Exit status: 0 pass,
1 fail (each problem listed), 77 skipped (a tool is missing; the reason is printed).
"""
import argparse
import os
import re
import subprocess
import sys

sys.dont_write_bytecode = True  # run from the source tree: leave no __pycache__ in it
HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
import generate  # noqa: E402  (the SWIG XML reader only; the type mapping below is independent)

SKIP = 77
DEFAULT_LIB = os.path.join(HERE, "src", "LibRnnlab.jl")

# C scalar -> (the Julia name the binding must use, its size in bytes).
C_TO_JULIA = {
    "void": ("Cvoid", 0), "char": ("Cchar", 1), "int": ("Cint", 4), "unsigned int": ("Cuint", 4),
    "float": ("Cfloat", 4), "double": ("Cdouble", 8), "size_t": ("Csize_t", 8),
    "_Bool": ("Bool", 1), "bool": ("Bool", 1), "signed char": ("Int8", 1), "unsigned char": ("Cuchar", 1),
    "short": ("Cshort", 2), "unsigned short": ("Cushort", 2), "long": ("Clong", 8), "unsigned long": ("Culong", 8),
    "long long": ("Clonglong", 8), "unsigned long long": ("Culonglong", 8),
    "int8_t": ("Int8", 1), "uint8_t": ("UInt8", 1), "int16_t": ("Int16", 2), "uint16_t": ("UInt16", 2),
    "int32_t": ("Int32", 4), "uint32_t": ("UInt32", 4), "int64_t": ("Int64", 8), "uint64_t": ("UInt64", 8),
}
JULIA_SIZES = {j: s for j, s in C_TO_JULIA.values()}


def load_tree_sitter():
    try:
        import tree_sitter
        import tree_sitter_julia
    except ImportError as e:
        print("SKIPPED: python3 lacks tree-sitter / tree-sitter-julia (%s); "
              "scripts/setup.sh installs them (pip install tree-sitter tree-sitter-julia)" % e)
        sys.exit(SKIP)
    return tree_sitter.Parser(tree_sitter.Language(tree_sitter_julia.language()))


class Source:
    def __init__(self, parser, path=None, text=None):
        self.path = path or "<string>"
        if text is None:
            with open(path, "rb") as f:
                text = f.read()
        self.src = text if isinstance(text, bytes) else text.encode("utf-8")
        self.tree = parser.parse(self.src)

    def text(self, node):
        return self.src[node.start_byte:node.end_byte].decode("utf-8")

    def where(self, node):
        return "%s:%d:%d" % (self.path, node.start_point[0] + 1, node.start_point[1] + 1)


def walk(node):
    stack = [node]
    while stack:
        n = stack.pop()
        yield n
        stack.extend(reversed(n.children))


def named(node, *types):
    return [c for c in node.children if c.type in types] if types else [c for c in node.children if c.is_named]


# ---- parse ----------------------------------------------------------------------------------------
# tree-sitter-julia reads `end` and `begin` as identifiers wherever an expression may stand (they
# are valid inside an index, x[end]), so a stray `end` parses without an ERROR node; other keywords
# (a second `else`) likewise. These are reported separately: a keyword as an identifier anywhere,
# `end` / `begin` outside the brackets of an index expression.
KEYWORDS = {"baremodule", "begin", "break", "catch", "const", "continue", "do", "else", "elseif", "end",
            "export", "finally", "for", "function", "global", "if", "import", "let", "local", "macro",
            "module", "quote", "return", "struct", "try", "using", "while"}


def in_index(node):
    while node.parent is not None:
        if node.parent.type == "index_expression" and node.parent.children[0] != node:
            return True
        node = node.parent
    return False


def syntax_problems(src):
    """ERROR and MISSING nodes (what tree-sitter could not fit into Julia's grammar), and keywords
    that it took for identifiers."""
    out = []
    for n in walk(src.tree.root_node):
        if n.type == "ERROR" or n.is_error:
            out.append("%s: syntax error near %r" % (src.where(n), src.text(n)[:40]))
        elif n.is_missing:
            out.append("%s: missing %r" % (src.where(n), n.type))
        elif n.type == "identifier" and src.text(n) in KEYWORDS:
            if not (src.text(n) in ("end", "begin") and in_index(n)):
                out.append("%s: keyword %r out of place" % (src.where(n), src.text(n)))
    return out


def jl_files(paths):
    files = []
    for p in paths:
        if os.path.isdir(p):
            for root, dirs, names in os.walk(p):
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                files += [os.path.join(root, n) for n in sorted(names) if n.endswith(".jl")]
        else:
            files.append(p)
    return files


def cmd_parse(a):
    parser = load_tree_sitter()
    files = jl_files(a.paths)
    if not files:
        print("FAIL: no .jl files under %s" % " ".join(a.paths))
        return 1
    problems = []
    for f in files:
        problems += syntax_problems(Source(parser, f))
    for p in problems:
        print("FAIL: " + p)
    print("%d .jl files parsed, %d syntax problems" % (len(files), len(problems)))
    return 1 if problems else 0


# ---- reading LibRnnlab.jl -------------------------------------------------------------------------
class Wrapper:
    def __init__(self, name, params, symbol, arg_names, arg_types, ret, where):
        self.name, self.params, self.symbol = name, params, symbol
        self.arg_names, self.arg_types, self.ret, self.where = arg_names, arg_types, ret, where


def norm_type(s):
    return re.sub(r"\s+", "", s)


def read_wrappers(src):
    """Every function whose body is an @ccall: its name, parameters, the symbol, the typed args."""
    out, problems = [], []
    for fn in walk(src.tree.root_node):
        if fn.type != "function_definition":
            continue
        sig = named(fn, "signature")
        calls = [n for n in walk(fn) if n.type == "macrocall_expression"
                 and src.text(named(n, "macro_identifier")[0]) == "@ccall"]
        if not sig or not calls:
            continue
        head = named(sig[0], "call_expression")[0]
        name = src.text(head.children[0])
        params = [src.text(c) for c in named(named(head, "argument_list")[0])]
        if len(calls) != 1:
            problems.append("%s: %s has %d @ccall, expected 1" % (src.where(fn), name, len(calls)))
            continue
        args = named(named(calls[0], "macro_argument_list")[0])
        if len(args) != 1 or args[0].type != "typed_expression":
            problems.append("%s: %s: @ccall without a ::return type" % (src.where(fn), name))
            continue
        call, ret = named(args[0])[0], named(args[0])[-1]
        callee = call.children[0]
        m = re.fullmatch(r"\$\(_cfunc\(:([A-Za-z_][A-Za-z0-9_]*)\)\)", norm_type(src.text(callee)))
        if not m:
            problems.append("%s: %s: @ccall target %r is not $(_cfunc(:symbol))" %
                            (src.where(fn), name, src.text(callee)))
            continue
        arg_names, arg_types = [], []
        for arg in named(named(call, "argument_list")[0]):
            if arg.type != "typed_expression":
                problems.append("%s: %s: @ccall argument %r has no ::type" % (src.where(arg), name, src.text(arg)))
                continue
            parts = named(arg)
            arg_names.append(src.text(parts[0]))
            arg_types.append(norm_type(src.text(parts[-1])))
        out.append(Wrapper(name, params, m.group(1), arg_names, arg_types, norm_type(src.text(ret)),
                           src.where(fn)))
    return out, problems


def read_structs(src):
    """{name: [(field, julia type)]} of every `struct` (not the opaque `mutable struct X end`)."""
    out = {}
    for n in walk(src.tree.root_node):
        if n.type != "struct_definition" or any(c.type == "mutable" for c in n.children):
            continue
        name = src.text(named(n, "type_head")[0])
        out[name] = [(src.text(named(f)[0]), norm_type(src.text(named(f)[-1])))
                     for f in named(n, "typed_expression")]
    return out


def read_layouts(src):
    """The LAYOUTS table: {name: (size, align, [(field, offset, size)])}."""
    for n in walk(src.tree.root_node):
        if n.type == "assignment" and src.text(n.children[0]) == "LAYOUTS":
            table = {}
            for entry in named(named(n)[-1], "named_field"):
                sname = src.text(named(entry)[0])
                props = {src.text(named(p)[0]): named(p)[-1] for p in named(named(entry)[-1], "named_field")}
                fields = []
                for t in named(props["fields"], "tuple_expression"):
                    q, off, sz = named(t)
                    fields.append((src.text(q).lstrip(":"), int(src.text(off)), int(src.text(sz))))
                table[sname] = (int(src.text(props["size"])), int(src.text(props["align"])), fields)
            return table
    return None


def read_enums(src):
    """{enum type: {item: value}} of every `@enum name::Cint begin ... end`."""
    out = {}
    for n in walk(src.tree.root_node):
        if n.type == "macrocall_expression" and src.text(named(n, "macro_identifier")[0]) == "@enum":
            args = named(named(n, "macro_argument_list")[0])
            name = src.text(named(args[0])[0]) if args[0].type == "typed_expression" else src.text(args[0])
            items = {}
            for asg in named(args[1], "assignment"):
                items[src.text(asg.children[0])] = int(src.text(asg.children[-1]).replace(" ", ""))
            out[name] = items
    return out


def read_consts(src):
    out = set()
    for n in walk(src.tree.root_node):
        if n.type == "const_statement":
            asg = named(n, "assignment")
            if asg:
                out.add(src.text(asg[0].children[0]))
    return out


# ---- the header, through SWIG ---------------------------------------------------------------------
def load_api(a):
    try:
        if a.xml:
            with open(a.xml, encoding="utf-8") as f:
                xml = f.read()
        else:
            xml = generate.run_swig(a.swig, a.include, a.interface)
        return generate.read_xml(xml)
    except generate.GenError as e:
        if "not found" in str(e):
            print("SKIPPED: " + str(e))
            sys.exit(SKIP)
        raise


class Expect:
    """What the header says each C type must be in Julia (independent of generate.py's tables)."""

    def __init__(self, api):
        self.enums = {e[0] for e in api.enums}
        self.structs = {s[0] for s in api.structs}
        self.opaque = set(api.opaque)
        self.typedefs = dict(api.typedefs)

    def julia(self, swig_type, role):
        parts = generate.split_type(swig_type)
        is_const = [p == "q(const)" for p in parts]
        parts = [p for p in parts if not p.startswith("q(")]
        if role == "param" and parts == ["p", "char"] and is_const[1]:
            return "Cstring"  # a NUL-terminated input string
        return self._t(parts)

    def _t(self, parts):
        h = parts[0]
        if h == "p":
            if parts[1] == "void" or parts[1].startswith("f("):
                return "Ptr{Cvoid}"  # void * and function pointers alike
            return "Ptr{%s}" % self._t(parts[1:])
        if h in self.typedefs:
            return self._t([p for p in generate.split_type(self.typedefs[h]) if not p.startswith("q(")])
        if h.startswith("a("):
            return "NTuple{%s,%s}" % (h[2:-1], self._t(parts[1:]))
        if h in C_TO_JULIA:
            return C_TO_JULIA[h][0]
        if h in self.enums or h in self.structs or h in self.opaque:
            return h
        raise KeyError("no expected Julia type for C type %r" % h)

    def size(self, julia_type, layouts):
        """Bytes of a Julia field type as the binding declares it."""
        if julia_type.startswith("Ptr{"):
            return 8
        m = re.fullmatch(r"NTuple\{([0-9]+),(.*)\}", julia_type)
        if m:
            return int(m.group(1)) * self.size(m.group(2), layouts)
        if julia_type in self.enums:
            return 4
        if julia_type in layouts:
            return layouts[julia_type][0]
        return JULIA_SIZES[julia_type]


def exported_functions(nm, lib):
    r = subprocess.run([nm, "-D", "--defined-only", lib], capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit("FAIL: %s -D --defined-only %s: %s" % (nm, lib, r.stderr.strip()))
    out = set()
    for line in r.stdout.splitlines():
        f = line.split()
        if len(f) >= 3 and f[1] in "TtWwi" and f[2].startswith("rnnlab_"):
            out.add(f[2].split("@")[0])
    return out


def signature_problems(wrappers, api, exported):
    """Every problem between the wrappers, the header (api) and the library's exports (a set)."""
    problems = []
    expect = Expect(api)
    by_symbol = {}
    for w in wrappers:
        if w.symbol in by_symbol:
            problems.append("%s: second wrapper of %s" % (w.where, w.symbol))
        by_symbol[w.symbol] = w
        if w.name != w.symbol:
            problems.append("%s: function %s calls %s (wrappers keep the C name)" % (w.where, w.name, w.symbol))
        if exported is not None and w.symbol not in exported:
            problems.append("%s: %s is @ccall'ed but not exported by the library" % (w.where, w.symbol))
        if w.params != w.arg_names:
            problems.append("%s: %s takes (%s) but passes (%s) to C" %
                            (w.where, w.name, ", ".join(w.params), ", ".join(w.arg_names)))
    if exported is not None:
        for sym in sorted(exported - set(by_symbol)):
            problems.append("library exports %s but LibRnnlab.jl has no wrapper for it" % sym)
    declared = {}
    for name, ret, ps in api.functions:
        declared[name] = (ret, ps)
        w = by_symbol.get(name)
        if w is None:
            problems.append("header declares %s but LibRnnlab.jl has no wrapper for it" % name)
            continue
        if len(w.arg_types) != len(ps):
            problems.append("%s: %s passes %d arguments, the header declares %d" %
                            (w.where, name, len(w.arg_types), len(ps)))
            continue
        for i, ((pname, ptype), jt) in enumerate(zip(ps, w.arg_types)):
            want = expect.julia(ptype, "param")
            if jt != want:
                problems.append("%s: %s argument %d (%s): Julia type %s, the header's %s wants %s" %
                                (w.where, name, i + 1, pname, jt, ptype, want))
        want = expect.julia(ret, "return")
        if w.ret != want and not (ret.endswith("rnnlab_status") and w.ret == "rnnlab_status"):
            problems.append("%s: %s returns %s, the header's %s wants %s" % (w.where, name, w.ret, ret, want))
    for sym in sorted(set(by_symbol) - set(declared)):
        problems.append("%s: wrapper %s has no declaration in the header" % (by_symbol[sym].where, sym))
    return problems


def cmd_symbols(a):
    parser = load_tree_sitter()
    api = load_api(a)
    wrappers, problems = read_wrappers(Source(parser, a.jl))
    exported = exported_functions(a.nm, a.lib)
    problems += signature_problems(wrappers, api, exported)
    for p in problems:
        print("FAIL: " + p)
    print("%d wrappers, %d functions declared, %d exported; %d problems" %
          (len(wrappers), len(api.functions), len(exported), len(problems)))
    return 1 if problems else 0


# ---- layouts ------------------------------------------------------------------------------------
def parse_probe(text):
    """`name size N align A` / `name.field offset O size S` -> {name: (size, align, [(f, o, s)])}."""
    out = {}
    for line in text.splitlines():
        m = re.fullmatch(r"(\w+) size (\d+) align (\d+)", line.strip())
        if m:
            out[m.group(1)] = (int(m.group(2)), int(m.group(3)), [])
            continue
        m = re.fullmatch(r"(\w+)\.(\w+) offset (\d+) size (\d+)", line.strip())
        if m:
            out[m.group(1)][2].append((m.group(2), int(m.group(3)), int(m.group(4))))
        elif line.strip():
            raise ValueError("unexpected probe line %r" % line)
    return out


def layout_problems(structs, layouts, probe, api):
    problems = []
    expect = Expect(api)
    header = {name: fields for name, fields in api.structs}
    if layouts is None:
        return ["LibRnnlab.jl has no LAYOUTS table"]
    for name in sorted(set(header) | set(structs) | set(layouts) | set(probe)):
        missing = [w for w, s in (("the header", header), ("the Julia structs", structs),
                                  ("LAYOUTS", layouts), ("the C probe", probe)) if name not in s]
        if missing:
            problems.append("struct %s is missing from %s" % (name, ", ".join(missing)))
            continue
        csize, calign, cfields = probe[name]
        lsize, lalign, lfields = layouts[name]
        if (lsize, lalign) != (csize, calign):
            problems.append("%s: LAYOUTS says size %d align %d, C says size %d align %d" %
                            (name, lsize, lalign, csize, calign))
        if lfields != cfields:
            for lf, cf in zip(lfields, cfields):
                if lf != cf:
                    problems.append("%s: LAYOUTS has field %s at offset %d (%d bytes), C has %s at %d (%d bytes)" %
                                    ((name,) + lf + cf))
            if len(lfields) != len(cfields):
                problems.append("%s: LAYOUTS lists %d fields, C %d" % (name, len(lfields), len(cfields)))
        jfields = structs[name]
        if [f for f, _ in jfields] != [f for f, _, _ in cfields]:
            problems.append("%s: Julia fields (%s) differ from C's (%s)" %
                            (name, ", ".join(f for f, _ in jfields), ", ".join(f for f, _, _ in cfields)))
            continue
        # The Julia declaration itself: each field's type is the one the C type asks for, and has the
        # C field's size; Julia lays isbits structs out by the same rules as C, so equal sizes and
        # order give equal offsets (test/runtests.jl checks fieldoffset where Julia runs).
        for (fname, jt), (_, ctype), (_, off, csz) in zip(jfields, header[name], cfields):
            want = expect.julia(ctype, "field")
            if jt != want:
                problems.append("%s.%s: Julia type %s, the header's %s wants %s" % (name, fname, jt, ctype, want))
            elif expect.size(jt, probe) != csz:
                problems.append("%s.%s: %s is %d bytes, the C field %d" % (name, fname, jt, expect.size(jt, probe), csz))
    return problems


def cmd_layout(a):
    parser = load_tree_sitter()
    api = load_api(a)
    src = Source(parser, a.jl)
    r = subprocess.run([a.probe], capture_output=True, text=True)
    if r.returncode != 0:
        print("FAIL: layout probe %s exited %d: %s" % (a.probe, r.returncode, r.stderr))
        return 1
    probe = parse_probe(r.stdout)
    problems = layout_problems(read_structs(src), read_layouts(src), probe, api)
    for p in problems:
        print("FAIL: " + p)
    print("%d structs compared with the C compiler's layout; %d problems" % (len(probe), len(problems)))
    return 1 if problems else 0


# ---- calls from hand-written code -----------------------------------------------------------------
def call_problems(src, wrappers, structs, enums, consts, aliases=("C", "LibRnnlab")):
    """Every `C.name(...)` / `LibRnnlab.name(...)` must name a wrapper (with its argument count), a
    struct (positional: all fields; or keywords only), an enum type or a constant of LibRnnlab."""
    arity = {w.name: len(w.params) for w in wrappers}
    items = {i for e in enums.values() for i in e}
    known = set(arity) | set(structs) | set(enums) | items | consts | {"rnnlab_model", "rnnlab_task",
                                                                        "rnnlab_dataset", "rnnlab_npz"}
    known |= {"library_path", "library_candidates", "LAYOUTS", "FUNCTIONS"}
    problems = []
    aliases = set(aliases)
    for n in walk(src.tree.root_node):  # `const L = LibRnnlab` makes L another name for it
        if n.type == "assignment" and src.text(n.children[-1]) in ("LibRnnlab", "RNNLab.LibRnnlab"):
            aliases.add(src.text(n.children[0]))
    for n in walk(src.tree.root_node):
        if n.type != "field_expression":
            continue
        base, member = n.children[0], n.children[-1]
        if base.type != "identifier" or src.text(base) not in aliases:
            continue
        name = src.text(member)
        if name not in known:
            problems.append("%s: LibRnnlab has no %s" % (src.where(n), name))
            continue
        parent = n.parent
        if parent is None or parent.type != "call_expression" or parent.children[0] != n:
            continue
        args = named(parent, "argument_list")
        if not args:
            continue
        positional, splat, keywords = 0, False, False
        seen_semicolon = False
        for c in args[0].children:
            if c.type == ";":
                seen_semicolon = True
            elif not c.is_named:
                continue
            elif c.type == "splat_expression":
                splat = True
            elif c.type == "named_argument" or seen_semicolon:
                keywords = True
            else:
                positional += 1
        if name in arity:
            if keywords or (positional != arity[name] and not splat):
                problems.append("%s: %s takes %d arguments, called with %d%s" %
                                (src.where(n), name, arity[name], positional, " and keywords" if keywords else ""))
        elif name in structs:
            if positional not in (0, len(structs[name])) or (positional and keywords):
                problems.append("%s: %s(...) takes all %d fields or keywords only, called with %d" %
                                (src.where(n), name, len(structs[name]), positional))
    return problems


def cmd_calls(a):
    parser = load_tree_sitter()
    lib = Source(parser, a.jl)
    wrappers, problems = read_wrappers(lib)
    structs, enums, consts = read_structs(lib), read_enums(lib), read_consts(lib)
    files = jl_files(a.paths)
    for f in files:
        problems += call_problems(Source(parser, f), wrappers, structs, enums, consts)
    for p in problems:
        print("FAIL: " + p)
    print("%d files checked against %d wrappers; %d problems" % (len(files), len(wrappers), len(problems)))
    return 1 if problems else 0


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("parse")
    p.add_argument("paths", nargs="+")
    p.set_defaults(fn=cmd_parse)
    for name, fn in (("symbols", cmd_symbols), ("layout", cmd_layout), ("calls", cmd_calls)):
        p = sub.add_parser(name)
        p.add_argument("--jl", default=DEFAULT_LIB, help="the generated LibRnnlab.jl")
        p.add_argument("--include", default=os.path.join(REPO, "include"))
        p.add_argument("--interface", default=os.path.join(REPO, "bindings", "rnnlab_api.i"))
        p.add_argument("--xml")
        p.add_argument("--swig", default=os.environ.get("SWIG", "swig"))
        if name == "symbols":
            p.add_argument("--lib", required=True)
            p.add_argument("--nm", default="nm")
        if name == "layout":
            p.add_argument("--probe", required=True)
        if name == "calls":
            p.add_argument("paths", nargs="+")
        p.set_defaults(fn=fn)
    a = ap.parse_args(argv)
    return a.fn(a)


if __name__ == "__main__":
    sys.exit(main())
