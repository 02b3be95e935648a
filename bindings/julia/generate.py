#!/usr/bin/env python3
"""Generates bindings/julia/src/LibRnnlab.jl from the one SWIG description of the C API.

    python3 bindings/julia/generate.py            # rewrite src/LibRnnlab.jl and Project.toml's version
    python3 bindings/julia/generate.py --check    # exit 1 (with a diff) if either is out of date

It runs `swig -xml -module rnnlab -I<include> bindings/rnnlab_api.i` (or reads --xml FILE) and takes
from the parse tree every function, enum, #define constant and struct of include/rnnlab/*.h. SWIG
drops brace-initialiser macros, so the RNNLAB_*_INIT defaults are read from the header text itself.
Struct layouts are computed here for LP64 Linux (x86-64, AArch64) and written into the output as a
table; CTest compares that table with what the C compiler says (--layout-c writes the probe
program). Python standard library only; the output is byte-for-byte deterministic (no paths, no
dates, no addresses from the XML).
"""
import argparse
import ast
import difflib
import os
import re
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))

# C scalar types of the API -> (Julia type, size, alignment) on LP64 Linux.
SCALARS = {
    "void": ("Cvoid", 0, 1),
    "char": ("Cchar", 1, 1),
    "int": ("Cint", 4, 4),
    "unsigned int": ("Cuint", 4, 4),
    "float": ("Cfloat", 4, 4),
    "double": ("Cdouble", 8, 8),
    "size_t": ("Csize_t", 8, 8),
    "_Bool": ("Bool", 1, 1),
    "bool": ("Bool", 1, 1),
    "signed char": ("Int8", 1, 1),
    "unsigned char": ("Cuchar", 1, 1),
    "short": ("Cshort", 2, 2),
    "unsigned short": ("Cushort", 2, 2),
    "long": ("Clong", 8, 8),
    "unsigned long": ("Culong", 8, 8),
    "long long": ("Clonglong", 8, 8),
    "unsigned long long": ("Culonglong", 8, 8),
    "int8_t": ("Int8", 1, 1),
    "uint8_t": ("UInt8", 1, 1),
    "int16_t": ("Int16", 2, 2),
    "uint16_t": ("UInt16", 2, 2),
    "int32_t": ("Int32", 4, 4),
    "uint32_t": ("UInt32", 4, 4),
    "int64_t": ("Int64", 8, 8),
    "uint64_t": ("UInt64", 8, 8),
}
POINTER_SIZE = 8

# Julia keywords that a C parameter name must not become.
JULIA_RESERVED = {
    "baremodule", "begin", "break", "catch", "const", "continue", "do", "else", "elseif", "end",
    "export", "false", "finally", "for", "function", "global", "if", "import", "let", "local", "macro",
    "module", "quote", "return", "struct", "true", "try", "using", "while", "where", "in", "isa",
    "abstract", "mutable", "primitive", "type", "outer", "public",
}


class GenError(Exception):
    pass


# ---- reading the SWIG parse tree ----------------------------------------------------------------
def attrs(node):
    out = {}
    al = node.find("attributelist")
    if al is not None:
        for a in al.findall("attribute"):
            out[a.get("name")] = a.get("value")
    return out


def parms(node):
    al = node.find("attributelist")
    pl = al.find("parmlist") if al is not None else None
    if pl is None:
        return []
    res = []
    for i, p in enumerate(pl.findall("parm")):
        a = attrs(p)
        res.append((a.get("name") or "arg%d" % (i + 1), a["type"]))
    if len(res) == 1 and res[0][1] == "void":
        return []
    return res


def header_of(include_name):
    """'.../include/rnnlab/rnnlab.h' -> 'rnnlab/rnnlab.h', or None for a file that is not ours."""
    m = re.search(r"(?:^|[/\\])(rnnlab[/\\][A-Za-z0-9_]+\.h)$", include_name or "")
    return m.group(1).replace("\\", "/") if m else None


class Api:
    def __init__(self):
        self.headers = []      # 'rnnlab/rnnlab.h', in the order SWIG read them
        self.constants = []    # (name, swig type, value, header)
        self.enums = []        # (name, [(item, int value)])
        self.structs = []      # (name, [(field, full swig type)])
        self.opaque = []       # names of incomplete struct typedefs (handles)
        self.typedefs = {}     # other typedefs: name -> full swig type (e.g. a function pointer)
        self.functions = []    # (name, return swig type, [(param, swig type)])


def eval_int(expr, env, what):
    """A C integer constant expression (as SWIG gives it: '1 << 4', 'RNNLAB_A + 1', '(1u << 3)')."""
    if expr is None:
        raise GenError("%s: no value" % what)
    py = re.sub(r"\b(0[xX][0-9a-fA-F]+|[0-9]+)[uUlL]+\b", r"\1", expr.strip())
    try:
        tree = ast.parse(py, mode="eval")
    except SyntaxError:
        raise GenError("%s: %r is not an integer expression" % (what, expr))
    ops = {ast.Add: lambda x, y: x + y, ast.Sub: lambda x, y: x - y, ast.Mult: lambda x, y: x * y,
           ast.LShift: lambda x, y: x << y, ast.RShift: lambda x, y: x >> y, ast.BitOr: lambda x, y: x | y,
           ast.BitAnd: lambda x, y: x & y, ast.BitXor: lambda x, y: x ^ y}

    def ev(n):
        if isinstance(n, ast.Expression):
            return ev(n.body)
        if isinstance(n, ast.Constant) and type(n.value) is int:
            return n.value
        if isinstance(n, ast.Name) and n.id in env:
            return env[n.id]
        if isinstance(n, ast.BinOp) and type(n.op) in ops:
            return ops[type(n.op)](ev(n.left), ev(n.right))
        if isinstance(n, ast.UnaryOp) and isinstance(n.op, (ast.USub, ast.UAdd, ast.Invert)):
            v = ev(n.operand)
            return -v if isinstance(n.op, ast.USub) else (~v if isinstance(n.op, ast.Invert) else v)
        raise GenError("%s: cannot evaluate %r" % (what, expr))
    return ev(tree)


def read_xml(xml_text):
    root = ET.fromstring(xml_text)
    api = Api()
    known_ints = {}

    def visit(node, header):
        for c in node:
            if c.tag == "include":
                h = header_of(attrs(c).get("name"))
                if h and h not in api.headers:
                    api.headers.append(h)
                visit(c, h)
                continue
            if header is None:
                visit(c, None)
                continue
            a = attrs(c)
            if c.tag == "constant":
                api.constants.append((a["name"], a["type"], a["value"], header))
                if a["type"] in SCALARS and a["type"] not in ("float", "double"):
                    try:
                        known_ints[a["name"]] = eval_int(a["value"], known_ints, a["name"])
                    except GenError:
                        pass
            elif c.tag == "enum":
                items = []
                env = dict(known_ints)
                for it in c.findall("enumitem"):
                    ia = attrs(it)
                    expr = ia.get("enumvalue") or ia.get("enumvalueex")
                    v = eval_int(expr, env, "enum %s, item %s" % (a.get("name"), ia.get("name")))
                    env[ia["name"]] = v
                    items.append((ia["name"], v))
                known_ints.update(env)
                if not a.get("name"):
                    raise GenError("anonymous enum in %s: give it a name" % header)
                api.enums.append((a["name"], items))
            elif c.tag == "class":
                if a.get("kind") != "struct":
                    raise GenError("%s: only structs are supported, not %s" % (a.get("name"), a.get("kind")))
                fields = []
                for f in c.findall("cdecl"):
                    fa = attrs(f)
                    if fa.get("kind") != "variable":
                        raise GenError("struct %s: member %s is not a data field" % (a["name"], fa.get("name")))
                    fields.append((fa["name"], (fa.get("decl") or "") + fa["type"]))
                api.structs.append((a["name"], fields))
            elif c.tag == "cdecl":
                kind = a.get("kind")
                if kind == "function":
                    decl = a["decl"]
                    m = re.fullmatch(r"f\(.*\)\.(.*)", decl)
                    if not m:
                        raise GenError("function %s: unexpected decl %r" % (a["name"], decl))
                    ret = m.group(1) + a["type"]
                    ps = parms(c)
                    for pn, pt in ps:
                        if pt == "v(...)":
                            raise GenError("function %s is variadic: not supported" % a["name"])
                    api.functions.append((a["name"], ret, ps))
                elif kind == "typedef":
                    t = a.get("type", "")
                    m = re.fullmatch(r"(struct|enum) ([A-Za-z_][A-Za-z0-9_]*)", t)
                    if m and m.group(2) == a.get("name") and not a.get("decl"):
                        if m.group(1) == "struct" and not any(s[0] == m.group(2) for s in api.structs):
                            api.opaque.append(m.group(2))
                    elif m:
                        raise GenError("typedef %s = %s: a typedef must keep the struct's or enum's name" %
                                       (a.get("name"), t))
                    else:
                        api.typedefs[a["name"]] = (a.get("decl") or "") + t
                else:
                    raise GenError("declaration %s of kind %s is not supported" % (a.get("name"), kind))
            else:
                visit(c, header)

    visit(root, None)
    if not api.functions:
        raise GenError("no functions found under rnnlab/*.h in the SWIG XML")
    return api


# ---- C types -> Julia -------------------------------------------------------------------------
def split_type(t):
    """SWIG type string -> list of parts, e.g. 'p.q(const).float' -> ['p', 'q(const)', 'float']."""
    parts = []
    while True:
        m = re.match(r"(p|q\([^)]*\)|a\([^)]*\)|f\((?:[^()]|\([^()]*\))*\))\.", t)
        if not m:
            parts.append(t)
            return parts
        parts.append(m.group(1))
        t = t[m.end():]


class Types:
    def __init__(self, api):
        self.enums = {e[0] for e in api.enums}
        self.structs = {s[0]: s[1] for s in api.structs}
        self.opaque = set(api.opaque)
        self.typedefs = dict(api.typedefs)
        self._layouts = {}

    def base(self, name):
        if name in SCALARS:
            return SCALARS[name][0]
        if name in self.enums or name in self.structs or name in self.opaque:
            return name
        raise GenError("C type %r has no Julia mapping (add it to SCALARS in generate.py)" % name)

    def julia(self, swig_type, role):
        """role: 'param', 'return' or 'field'. const char * parameters are Cstring (NUL-checked)."""
        parts = [p for p in split_type(swig_type) if not p.startswith("q(")]
        if role == "param" and parts == ["p", "char"] and swig_type.startswith("p.q(const)."):
            return "Cstring"
        return self._julia(parts)

    def _julia(self, parts):
        head = parts[0]
        if head == "p":
            inner = parts[1:]
            if inner == ["void"] or inner[0].startswith("f("):
                return "Ptr{Cvoid}"  # void *, and function pointers
            return "Ptr{%s}" % self._julia(inner)
        if head in self.typedefs and len(parts) == 1:
            return self._julia([p for p in split_type(self.typedefs[head]) if not p.startswith("q(")])
        if head.startswith("a("):
            n = head[2:-1]
            if not n.isdigit():
                raise GenError("array bound %r is not a literal" % n)
            return "NTuple{%s, %s}" % (n, self._julia(parts[1:]))
        if head in self.structs and len(parts) == 1:
            return head
        return self.base(head)

    def c_decl(self, swig_type, name=""):
        """SWIG type -> its C spelling (for the docs in the generated file), built inside out:
        'p.q(const).p.q(const).char' -> 'const char *const *'."""
        parts = split_type(swig_type)
        if any(p.startswith("f(") for p in parts):  # a function pointer: SWIG's spelling will do
            return swig_type + (" " + name if name else "")
        s, arrays = parts[-1], ""
        for p in reversed(parts[:-1]):
            if p == "p":
                s += "*" if s.endswith("*") else " *"
            elif p.startswith("q("):
                s = s + p[2:-1] if s.endswith("*") else p[2:-1] + " " + s
            elif p.startswith("a("):
                arrays = "[" + p[2:-1] + "]" + arrays
        if not name:
            return s + arrays
        return s + ("" if s.endswith("*") else " ") + name + arrays

    def layout(self, swig_type):
        """(size, align) of a field type."""
        parts = [p for p in split_type(swig_type) if not p.startswith("q(")]
        return self._layout(parts)

    def _layout(self, parts):
        head = parts[0]
        if head == "p":
            return POINTER_SIZE, POINTER_SIZE
        if head in self.typedefs and len(parts) == 1:
            return self._layout([p for p in split_type(self.typedefs[head]) if not p.startswith("q(")])
        if head.startswith("a("):
            size, align = self._layout(parts[1:])
            return size * int(head[2:-1]), align
        if head in self.enums:
            return 4, 4
        if head in self.structs:
            return self.struct_layout(head)[0:2]
        if head in SCALARS and head != "void":
            return SCALARS[head][1], SCALARS[head][2]
        raise GenError("no layout for C type %r" % head)

    def struct_layout(self, name):
        """(size, align, [(field, offset, size)]) by the System V rules: each field at the next
        multiple of its alignment, the struct padded to a multiple of its largest alignment."""
        if name in self._layouts:
            return self._layouts[name]
        off, align, fields = 0, 1, []
        for fname, ftype in self.structs[name]:
            fs, fa = self.layout(ftype)
            off = (off + fa - 1) // fa * fa
            fields.append((fname, off, fs))
            off += fs
            align = max(align, fa)
        size = (off + align - 1) // align * align
        self._layouts[name] = (size, align, fields)
        return self._layouts[name]


# ---- the _INIT macros ---------------------------------------------------------------------------
def init_macros(header_texts):
    """{'RNNLAB_CONFIG_INIT': '{ ... }'} from the raw header text (continuation lines joined)."""
    out = {}
    for text in header_texts:
        joined = re.sub(r"\\\r?\n", " ", text)
        for m in re.finditer(r"^[ \t]*#[ \t]*define[ \t]+(RNNLAB_[A-Z0-9_]+_INIT)[ \t]+(.*)$", joined, re.M):
            body = re.sub(r"/\*.*?\*/", " ", m.group(2)).strip()
            out[m.group(1)] = body
    return out


def split_top(s):
    """'a, {b, c}, d' -> ['a', '{b, c}', 'd']."""
    items, depth, cur = [], 0, ""
    for ch in s:
        if ch in "{(":
            depth += 1
        elif ch in "})":
            depth -= 1
        if ch == "," and depth == 0:
            items.append(cur.strip())
            cur = ""
        else:
            cur += ch
    if cur.strip():
        items.append(cur.strip())
    return items


def unbrace(s, what):
    s = s.strip()
    if not (s.startswith("{") and s.endswith("}")):
        raise GenError("%s: expected a brace initialiser, got %r" % (what, s))
    return s[1:-1]


C_INT = re.compile(r"(-?[0-9]+)[uUlL]*")
C_FLOAT = re.compile(r"(-?(?:[0-9]+\.[0-9]*|\.[0-9]+|[0-9]+)(?:[eE][-+]?[0-9]+)?)([fF]?)")


def julia_value(expr, swig_type, types, api, what):
    """One C initialiser (as the _INIT macro spells it) -> a Julia expression of the field's type."""
    parts = [p for p in split_type(swig_type) if not p.startswith("q(")]
    expr = expr.strip()
    if parts[0].startswith("a("):
        n = int(parts[0][2:-1])
        elems = split_top(unbrace(expr, what))
        if len(elems) > n:
            raise GenError("%s: %d initialisers for an array of %d" % (what, len(elems), n))
        inner = ".".join(parts[1:])
        vals = [julia_value(e, inner, types, api, what) for e in elems]
        vals += [zero_value(inner, types, api, what)] * (n - len(elems))
        return "(" + ", ".join(vals) + ")"
    jt = types._julia(parts)
    if parts[0] == "p":
        if expr in ("NULL", "0", "((void*)0)"):
            return "%s(C_NULL)" % jt
        raise GenError("%s: pointer initialiser %r is not NULL" % (what, expr))
    m = re.fullmatch(r"\(\s*([A-Za-z_0-9 ]+)\s*\)\s*sizeof\s*\(\s*([A-Za-z_][A-Za-z0-9_]*)\s*\)", expr)
    if m:
        return "%s(sizeof(%s))" % (types.base(m.group(1).strip()), m.group(2))
    head = parts[0]
    if head in types.enums:
        names = {i for e in api.enums if e[0] == head for i, _ in e[1]}
        if expr in names:
            return expr
        if C_INT.fullmatch(expr):
            return "%s(%s)" % (head, C_INT.fullmatch(expr).group(1))
        raise GenError("%s: %r is not a value of enum %s" % (what, expr, head))
    if head in ("float", "double"):
        m = C_FLOAT.fullmatch(expr)
        if not m:
            raise GenError("%s: %r is not a floating-point literal" % (what, expr))
        v = repr(float(m.group(1)))
        if head == "float":
            v = v.replace("e", "f") if "e" in v else v + "f0"
        return v
    if head in SCALARS:
        m = C_INT.fullmatch(expr)
        if not m:
            raise GenError("%s: %r is not an integer literal" % (what, expr))
        return m.group(1)
    raise GenError("%s: cannot translate initialiser %r" % (what, expr))


def zero_value(swig_type, types, api, what):
    parts = [p for p in split_type(swig_type) if not p.startswith("q(")]
    if parts[0].startswith("a("):
        n = int(parts[0][2:-1])
        inner = ".".join(parts[1:])
        return "(" + ", ".join([zero_value(inner, types, api, what)] * n) + ")"
    if parts[0] == "p":
        return julia_value("NULL", swig_type, types, api, what)
    if parts[0] in ("float", "double"):
        return julia_value("0.0", swig_type, types, api, what)
    return julia_value("0", swig_type, types, api, what)


# ---- the Julia file -----------------------------------------------------------------------------
def jl_name(n):
    return n + "_" if n in JULIA_RESERVED else n


def julia_string(v):
    out = []
    for ch in v:
        if ch in '\\"$':
            out.append("\\" + ch)
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif ord(ch) < 32 or ord(ch) == 127:
            out.append("\\x%02x" % ord(ch))
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def constant_value(name, ctype, value, header_text, env):
    """A #define constant. The literal's suffix in the header decides float vs double (SWIG reports
    0.2f as double); integer expressions are evaluated (SWIG keeps their text)."""
    if ctype in ("p.char", "p.q(const).char"):
        return julia_string(value)
    m = re.search(r"^[ \t]*#[ \t]*define[ \t]+%s[ \t]+([^\n/]*)" % re.escape(name), header_text, re.M)
    raw = m.group(1).strip() if m else value
    if ctype in ("float", "double"):
        fm = C_FLOAT.fullmatch(raw) or C_FLOAT.fullmatch(value.strip())
        if not fm:
            raise GenError("constant %s = %r: not a floating-point literal" % (name, raw))
        return ("Cfloat(%s)" if fm.group(2) or raw.rstrip().endswith(("f", "F")) else "Cdouble(%s)") % repr(float(fm.group(1)))
    if ctype in SCALARS and ctype not in ("void", "float", "double"):
        return "%s(%d)" % (SCALARS[ctype][0], eval_int(value, env, "constant " + name))
    raise GenError("constant %s of type %s: cannot translate" % (name, ctype))


def generate(api, header_texts, interface_rel):
    types = Types(api)
    all_text = "\n".join(header_texts.values())
    inits = init_macros(header_texts.values())
    L = []
    w = L.append
    hdrs = ", ".join("include/" + h for h in api.headers)
    w("# GENERATED by bindings/julia/generate.py from %s (swig -xml) and the RNNLAB_*_INIT macros" % interface_rel)
    w("# of %s." % hdrs)
    w("# Do not edit by hand: after a change to the public headers run")
    w("#     python3 bindings/julia/generate.py")
    w("# (CTest's julia_regenerate fails until this file and the headers agree).")
    w("#")
    w("# One wrapper per C function, named and typed as in C: pointers are Ptr{T} (pass an Array, a Ref or")
    w("# C_NULL), `const char *` arguments are Cstring (pass a String), returns are as C gives them.")
    w("# The idiomatic layer is src/RNNLab.jl.")
    w("module LibRnnlab")
    w("")
    w("using Libdl")
    w("")
    w("# Finds and opens librnnlab (hand-written): defines _cfunc(:name) -> the function's address.")
    w('include("library.jl")')
    w("")

    # constants
    w("# ---- constants (#define) ------------------------------------------------------------------")
    env = {}
    for name, items in api.enums:
        env.update(items)
    for name, ctype, value, header in api.constants:
        w("const %s = %s" % (name, constant_value(name, ctype, value, all_text, env)))
        if ctype in SCALARS and ctype not in ("void", "float", "double"):
            env[name] = eval_int(value, env, name)
    w("")

    # enums
    w("# ---- enums: values as in C, stored as Cint (the C ABI of an enum here) ---------------------")
    for name, items in api.enums:
        w("@enum %s::Cint begin" % name)
        for iname, v in items:
            w("    %s = %d" % (iname, v))
        w("end")
    w("")

    # opaque handles
    w("# ---- opaque handles: only ever used through Ptr{...} ---------------------------------------")
    for name in api.opaque:
        w("mutable struct %s end" % name)
    w("")

    if api.typedefs:
        w("# ---- typedefs -------------------------------------------------------------------------------")
        for name, t in api.typedefs.items():
            w("const %s = %s" % (name, types.julia(t, "field")))
        w("")

    # structs
    w("# ---- structs: field for field the C layout (see LAYOUTS); keyword constructors give the _INIT")
    w("# ---- defaults of the header, e.g. rnnlab_config(input_size = 1, hidden_size = 64) ------------")
    for name, fields in api.structs:
        size, align, lay = types.struct_layout(name)
        w("struct %s  # C: %d bytes, alignment %d" % (name, size, align))
        width = max(len("%s::%s" % (jl_name(f), types.julia(t, "field"))) for f, t in fields)
        for (fname, ftype), (_, off, fsz) in zip(fields, lay):
            decl = "%s::%s" % (jl_name(fname), types.julia(ftype, "field"))
            w("    %s  # offset %d, %d bytes" % (decl.ljust(width), off, fsz))
        w("end")
        macro = name.upper() + "_INIT"
        if macro in inits:
            vals = split_top(unbrace(inits[macro], macro))
            if len(vals) > len(fields):
                raise GenError("%s has %d initialisers for %d fields of %s" % (macro, len(vals), len(fields), name))
            defaults = []
            for i, (fname, ftype) in enumerate(fields):
                what = "%s (field %s)" % (macro, fname)
                defaults.append(julia_value(vals[i], ftype, types, api, what) if i < len(vals)
                                else zero_value(ftype, types, api, what))
            w("\"\"\"")
            w("    %s(; field = value, ...)" % name)
            w("")
            w("`%s` with the header's `%s` defaults; pass any field by keyword.\"\"\"" % (name, macro))
            w("function %s(;" % name)
            for (fname, ftype), d in zip(fields, defaults):
                w("        %s = %s," % (jl_name(fname), d))
            w("    )")
            w("    return %s(%s)" % (name, ", ".join(jl_name(f) for f, _ in fields)))
            w("end")
        w("")

    # layout table
    w("# ---- layouts computed by generate.py for LP64 Linux: (field, offset, size) -------------------")
    w("# CTest (julia_layout) checks them against a C program; test/runtests.jl against Julia's own.")
    w("const LAYOUTS = (")
    for name, fields in api.structs:
        size, align, lay = types.struct_layout(name)
        w("    %s = (size = %d, align = %d, fields = (" % (name, size, align))
        for fname, off, fsz in lay:
            w("        (:%s, %d, %d)," % (fname, off, fsz))
        w("    )),")
    w(")")
    w("")

    # functions
    w("# ---- functions ------------------------------------------------------------------------------")
    w("# Every C function of the API, in header order (library.jl resolves them all when it opens the library).")
    w("const FUNCTIONS = (")
    for name, _, _ in api.functions:
        w("    :%s," % name)
    w(")")
    w("")
    for name, ret, ps in api.functions:
        args = [jl_name(p) for p, _ in ps]
        c_args = ", ".join(types.c_decl(t, p) for p, t in ps) or "void"
        w("\"\"\"    %s(%s)" % (name, ", ".join(args)))
        w("")
        ret_c = types.c_decl(ret)
        w("C: `%s%s%s(%s)`\"\"\"" % (ret_c, "" if ret_c.endswith("*") else " ", name, c_args))
        w("function %s(%s)" % (name, ", ".join(args)))
        cargs = ", ".join("%s::%s" % (jl_name(p), types.julia(t, "param")) for p, t in ps)
        w("    @ccall $(_cfunc(:%s))(%s)::%s" % (name, cargs, types.julia(ret, "return")))
        w("end")
        w("")
    w("end # module LibRnnlab")
    return "\n".join(L) + "\n"


def layout_probe_c(api):
    """A C program printing the compiler's view of every struct the binding mirrors, in the format
    `name size N align A` / `name.field offset O size S`."""
    types = Types(api)
    L = ["/* GENERATED by bindings/julia/generate.py --layout-c: the C compiler's layout of every struct",
         " * LibRnnlab.jl mirrors (CTest julia_layout compares it with LibRnnlab.jl's LAYOUTS). */",
         "#include <stddef.h>", "#include <stdio.h>", "#include <rnnlab/rnnlab.h>", ""]
    for h in api.headers:
        L.append("#include <%s>" % h)
    L += ["", "int main(void) {"]
    for name, fields in api.structs:
        L.append('  { struct a_ { char c; %s v; };' % name)
        L.append('    printf("%s size %%zu align %%zu\\n", sizeof(%s), offsetof(struct a_, v)); }' % (name, name))
        for fname, _ in fields:
            L.append('  printf("%s.%s offset %%zu size %%zu\\n", offsetof(%s, %s), sizeof(((%s *)0)->%s));'
                     % (name, fname, name, fname, name, fname))
    L += ["  return 0;", "}", ""]
    return "\n".join(L)


# ---- driver -------------------------------------------------------------------------------------
def run_swig(swig, include_dir, interface):
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "api.xml")
        cmd = [swig, "-xml", "-module", "rnnlab", "-I" + include_dir, "-o", out, interface]
        try:
            r = subprocess.run(cmd, capture_output=True, text=True)
        except FileNotFoundError:
            raise GenError("%s not found (Debian: apt-get install swig; scripts/setup.sh installs it)" % swig)
        if r.returncode != 0:
            raise GenError("swig failed (%d): %s\n%s" % (r.returncode, " ".join(cmd), r.stderr))
        with open(out, encoding="utf-8") as f:
            return f.read()


def read_headers(api, include_dir):
    texts = {}
    for h in api.headers:
        p = os.path.join(include_dir, h)
        with open(p, encoding="utf-8") as f:
            texts[h] = f.read()
    return texts


def project_version(api, header_texts):
    text = header_texts.get("rnnlab/rnnlab.h", "")
    v = []
    for part in ("MAJOR", "MINOR", "PATCH"):
        m = re.search(r"^#define RNNLAB_VERSION_%s ([0-9]+)$" % part, text, re.M)
        if not m:
            raise GenError("RNNLAB_VERSION_%s not found in rnnlab/rnnlab.h" % part)
        v.append(m.group(1))
    return ".".join(v)


def with_version(project_text, version):
    new, n = re.subn(r'^version = "[^"]*"$', 'version = "%s"' % version, project_text, count=1, flags=re.M)
    if n != 1:
        raise GenError('Project.toml has no line `version = "..."`')
    return new


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--include", default=os.path.join(REPO, "include"), help="directory holding rnnlab/*.h")
    ap.add_argument("--interface", default=os.path.join(REPO, "bindings", "rnnlab_api.i"))
    ap.add_argument("--xml", help="read this `swig -xml` output instead of running swig")
    ap.add_argument("--swig", default=os.environ.get("SWIG", "swig"))
    ap.add_argument("--out", default=os.path.join(HERE, "src", "LibRnnlab.jl"))
    ap.add_argument("--project", default=os.path.join(HERE, "Project.toml"),
                    help="Project.toml whose version line follows the header ('' to leave it alone)")
    ap.add_argument("--check", action="store_true", help="compare with --out / --project instead of writing")
    ap.add_argument("--layout-c", metavar="FILE", help="write the C layout probe program and stop")
    a = ap.parse_args(argv)

    try:
        if a.xml:
            with open(a.xml, encoding="utf-8") as f:
                xml_text = f.read()
        else:
            xml_text = run_swig(a.swig, a.include, a.interface)
        api = read_xml(xml_text)
        texts = read_headers(api, a.include)
        if a.layout_c:
            write_if_changed(a.layout_c, layout_probe_c(api))
            return 0
        out = generate(api, texts, "bindings/rnnlab_api.i")
        targets = [(a.out, out)]
        if a.project:
            with open(a.project, encoding="utf-8") as f:
                targets.append((a.project, with_version(f.read(), project_version(api, texts))))
    except GenError as e:
        print("generate.py: error: %s" % e, file=sys.stderr)
        return 2

    if a.check:
        stale = 0
        for path, text in targets:
            try:
                with open(path, encoding="utf-8") as f:
                    old = f.read()
            except FileNotFoundError:
                old = ""
            if old != text:
                stale += 1
                diff = difflib.unified_diff(old.splitlines(True), text.splitlines(True),
                                            "committed/" + os.path.basename(path),
                                            "regenerated/" + os.path.basename(path), n=2)
                sys.stdout.writelines(list(diff)[:200])
                print("\n%s is out of date with the headers: run  python3 bindings/julia/generate.py" % path)
        if stale:
            return 1
        print("generate.py --check: %s up to date (%d functions, %d enums, %d structs, %d constants)" %
              (", ".join(os.path.basename(p) for p, _ in targets), len(api.functions), len(api.enums),
               len(api.structs), len(api.constants)))
        return 0
    for path, text in targets:
        write_if_changed(path, text)
    print("generate.py: wrote %s (%d functions, %d enums, %d structs, %d constants)" %
          (", ".join(os.path.basename(p) for p, _ in targets), len(api.functions), len(api.enums),
           len(api.structs), len(api.constants)))
    return 0


def write_if_changed(path, text):
    try:
        with open(path, encoding="utf-8") as f:
            if f.read() == text:
                return
    except FileNotFoundError:
        pass
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        f.write(text)


if __name__ == "__main__":
    sys.exit(main())
