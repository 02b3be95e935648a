#!/usr/bin/env python3
"""Proves on the built library that each instruction-set level stays in its own copy of the kernels.

librnnlab.so holds the CPU backend three times (baseline, AVX2 + FMA, AVX-512; lib/CMakeLists.txt)
and picks one at run time. If an instruction of a higher level sat anywhere else (a libstdc++
template the linker took from the AVX-512 copy, a header function compiled into the wrong copy), the
library would stop with SIGILL on a processor without that level. This disassembles the library and
checks, function by function:
  - outside rnnlab::isa_avx2 / rnnlab::isa_avx512: no VEX or EVEX instruction at all (x86-64 baseline),
    but for libxsmm's own helpers that its cpuid dispatch picks per processor (LIBXSMM_DISPATCHED);
  - inside rnnlab::isa_avx2: no AVX-512 (zmm, mask registers k0-k7, xmm16-31/ymm16-31, {k} masking);
  - and, so that the check itself cannot pass by seeing nothing: the AVX2 copy does use ymm registers
    and the AVX-512 copy zmm registers.
usage: isa_check.py <librnnlab.so> [objdump]
"""
import re
import subprocess
import sys

HEAD = re.compile(r"^[0-9a-f]+ <(.*)>:$")
AVX512_OPERAND = re.compile(r"%zmm\d+|%k[0-7]\b|%[xy]mm(1[6-9]|2\d|3[01])\b|\{%k[0-7]\}")
VEX_ANY = re.compile(r"%[yz]mm\d+|%k[0-7]\b")
# libxsmm's own runtime-dispatched helpers (libxsmm_memory.c: chosen by libxsmm's cpuid at its
# initialisation, so only ever called on a processor with the level). Nothing else is exempt.
LIBXSMM_DISPATCHED = {"internal_diff_avx2", "internal_memcmp_avx2", "internal_diff_avx512", "internal_memcmp_avx512"}


def main():
    if len(sys.argv) < 2:
        print(__doc__)
        return 2
    lib = sys.argv[1]
    objdump = sys.argv[2] if len(sys.argv) > 2 else "objdump"
    out = subprocess.run([objdump, "-d", "-C", "--no-show-raw-insn", lib], check=True, capture_output=True,
                         text=True).stdout
    func = "?"
    bad = []
    seen = {"avx2_ymm": 0, "avx512_zmm": 0, "functions": 0}
    for line in out.splitlines():
        m = HEAD.match(line)
        if m:
            func = m.group(1)
            seen["functions"] += 1
            continue
        if "\t" not in line:
            continue
        parts = line.split("\t")
        insn = parts[-1].strip()
        if not insn:
            continue
        mnemonic = insn.split()[0]
        if "rnnlab::isa_avx512::" in func:
            if "%zmm" in insn:
                seen["avx512_zmm"] += 1
            continue
        if "rnnlab::isa_avx2::" in func:
            if "%ymm" in insn:
                seen["avx2_ymm"] += 1
            if AVX512_OPERAND.search(insn):
                bad.append(f"AVX-512 in the AVX2 copy: {func}: {insn}")
            continue
        if func in LIBXSMM_DISPATCHED:
            continue
        if VEX_ANY.search(insn) or (mnemonic.startswith("v") and mnemonic not in ("verr", "verw")):
            bad.append(f"AVX instruction outside the per-ISA copies: {func}: {insn}")
    print(f"isa_check: {seen['functions']} functions; {seen['avx2_ymm']} ymm instructions in the AVX2 copy, "
          f"{seen['avx512_zmm']} zmm instructions in the AVX-512 copy")
    if seen["avx2_ymm"] == 0 or seen["avx512_zmm"] == 0:
        print("isa_check: FAIL: a per-ISA copy holds no instruction of its level (not built for it, or the "
              "function names changed and this check no longer sees them)")
        return 1
    if bad:
        for b in bad[:40]:
            print("isa_check: FAIL:", b)
        print(f"isa_check: {len(bad)} misplaced instructions")
        return 1
    print("isa_check: every instruction above the x86-64 baseline is inside the copy of its level")
    return 0


if __name__ == "__main__":
    sys.exit(main())
