/* The C API as SWIG reads it: the one description every language binding is made from.
 *   bindings/python/rnnlab.i  puts Python's typemaps around it (%include "../rnnlab_api.i")
 *   bindings/julia/generate.py reads `swig -xml -module rnnlab` of it and writes src/LibRnnlab.jl
 * Run SWIG with -I<repo>/include. Nothing language-specific belongs here. */
%{
#include <rnnlab/rnnlab.h>
%}

#define RNNLAB_API
%include <stdint.i>
%include "rnnlab/rnnlab.h"
%include "rnnlab/rnnlab_data.h"
%include "rnnlab/rnnlab_io.h"
