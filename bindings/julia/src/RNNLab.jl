"""
    RNNLab

Julia binding of rnnlab: train GRUs and vanilla RNNs and read the training diagnostics computed in
the same pass. Every number comes from the C library (librnnlab); this module only moves arrays in
and out and turns failures into exceptions.

# Array layout

C takes sequences time-major, `x[T][B][I]` (element `(t, b, i)` at `(t*B + b)*I + i`). A Julia
`Array{Float32,3}` of size `(I, B, T)` holds exactly those bytes in column-major order, so that is
the layout this package uses everywhere: **features first, then batch, then time** (`x[i, b, t]`).
Such an array crosses into C without a copy; any other element type or array type is converted
once. Outputs come back the same way: `forward` gives `(O, B, T)` (or `(H, B, T)` without a head),
`hidden` gives `(H, B)`. Parameter matrices keep PyTorch's shapes: `state_dict(m)["weight_ih"]` is
`(3H, I)` with `W[i, j]` equal to PyTorch's `weight_ih[i-1, j-1]` (the row-major C buffer is
transposed on the way in and out). Class labels are 1-based here (`1:O`), as Julia counts; they are
shifted to C's 0-based indices on the way in.

The raw C API is `RNNLab.LibRnnlab` (generated; one wrapper per C function).
"""
module RNNLab

include("LibRnnlab.jl")
using .LibRnnlab
const C = LibRnnlab

export Model, RNNLabError, forward, backward!, diagnostics, trace, traces, trace_names, update!,
       set_optimizer!, optimizer_state, zero_grad!, reset!, set_training!, set_diag_level!, hidden,
       input_grad, h0_grad, set_h0!, state_dict, load_state_dict!, save, load!, spectral, jacobian,
       grad_norm_blocks, param_count, library_version, Dataset, batch

# ---- errors -------------------------------------------------------------------------------------
"""
    RNNLabError(status, name, message)

A C call returned an error. `status` is the pinned `rnnlab_status` value (negative), `name` its
symbol (e.g. `:RNNLAB_E_SIZE_MISMATCH`), `message` what `rnnlab_last_error()` said (it names the
argument and the value that were wrong). The model is exactly as it was before the failed call.
"""
struct RNNLabError <: Exception
    status::Int
    name::Symbol
    message::String
end

function Base.showerror(io::IO, e::RNNLabError)
    print(io, "RNNLabError: ", e.name, " (", e.status, "): ", e.message)
end

const _STATUS_NAMES = Dict{Int,Symbol}(Int(s) => Symbol(s) for s in instances(C.rnnlab_status))

# Turns a status into an exception. The message is read at once: it is per thread and valid only
# until the next rnnlab call on this thread, and nothing between the call and here can yield.
function check(st::C.rnnlab_status)
    st == C.RNNLAB_OK && return nothing
    code = Int(st)
    msg = unsafe_string(C.rnnlab_last_error())
    throw(RNNLabError(code, get(_STATUS_NAMES, code, :RNNLAB_E_UNKNOWN), msg))
end

"""
    library_version() -> VersionNumber

The version of the librnnlab actually loaded (see `LibRnnlab.library_path()` for where from).
"""
library_version() = VersionNumber(unsafe_string(C.rnnlab_version()))

# ---- enum arguments given as symbols ------------------------------------------------------------
# `:gru` -> RNNLAB_CELL_GRU for the enum rnnlab_cell with prefix "RNNLAB_CELL_"; an enum value
# itself passes through.
function _enum(::Type{E}, prefix::String, v) where {E<:Enum}
    v isa E && return v
    want = Symbol(prefix * uppercase(string(v)))
    for x in instances(E)
        Symbol(x) === want && return x
    end
    valid = join((lowercase(chop(string(Symbol(x)); head = length(prefix), tail = 0)) for x in instances(E)), ", ")
    throw(ArgumentError("unknown $(nameof(E)) $(repr(v)); one of: $valid"))
end

const _GATES = (r = 1, z = 2, n = 3)          # index into the (r, z, n) tuples of the config
const _GATE_BITS = (r = C.RNNLAB_GATE_R, z = C.RNNLAB_GATE_Z, n = C.RNNLAB_GATE_N)

# (mask, (v_r, v_z, v_n)) from pairs like (z = 0.0, r = 0.0) or Dict(:z => 0.0).
function _gate_values(spec)
    mask = UInt32(0)
    vals = Float32[0, 0, 0]
    for (g, v) in pairs(spec)
        key = Symbol(lowercase(string(g)))
        haskey(_GATES, key) || throw(ArgumentError("unknown gate $(repr(g)): use r, z or n"))
        mask |= UInt32(_GATE_BITS[key])
        vals[_GATES[key]] = Float32(v)
    end
    return mask, (vals[1], vals[2], vals[3])
end

# ---- the model ----------------------------------------------------------------------------------
"""
    Model(; cell = :gru, input_size, hidden_size, head = :none, output_size = 0, kwargs...)
    Model(cfg::LibRnnlab.rnnlab_config)

A recurrent network with its optimiser, gradients, tape and diagnostics, owned by librnnlab.
Keyword names are the fields of C's `rnnlab_config`; enum fields take symbols:

- `cell`: `:gru` (PyTorch's nn.GRU), `:gru_reset_before` (Cho et al.; CS728), `:rnn_tanh`,
  `:rnn_sigmoid`, `:rnn_relu`, `:rnn_linear`
- `head`: `:none` (outputs are h), `:last_softmax`, `:every_softmax`, `:last_linear`
- `backend`: `:auto`, `:reference`, `:cpu`, `:cuda`; `bias_mode`: `:double`, `:single`
- `init`: `:pytorch`, `:orthogonal`, `:orthogonal_stacked`, `:sigmoid`, `:basic_tanh`,
  `:smart_tanh`, `:test`, `:cs728_gru`
- `frozen_biases`: gates held at a value for the whole run, e.g. `(z = 0.0, r = 0.0)`
- `bias_init`: `:scheme` (default), `:chrono` (with `chrono_tmax`), or gate values such as
  `(z = 1.0, r = 1.0)` (effective biases set to constants)
- `diag`: `:off`, `:summary`, `:full`; `sat_thresh`, `bound`: as in C
- `seed`, `threads`, `max_batch`, `max_tape`, `denormals` (`:flush`, `:keep`),
  `cpu_isa` (`:auto`, `:baseline`, `:avx2`, `:avx512`)

The model is freed by `close(m)` or, failing that, when it is garbage-collected. One model is used
by one task at a time; distinct models are independent.
"""
mutable struct Model
    ptr::Ptr{C.rnnlab_model}
    input_size::Int
    hidden_size::Int
    output_size::Int   # O, or H without a head: the first dimension of forward's result
    head::C.rnnlab_head
    batch::Int         # B of the current sequence (set by forward and set_h0!), 0 before any

    function Model(cfg::C.rnnlab_config)
        out = Ref{Ptr{C.rnnlab_model}}(C_NULL)
        check(C.rnnlab_create(out, Ref(cfg)))
        m = new(out[], 0, 0, 0, C.RNNLAB_HEAD_NONE, 0)
        finalizer(_destroy!, m)
        got = config(m)
        m.input_size = got.input_size
        m.hidden_size = got.hidden_size
        m.head = got.head
        m.output_size = got.head == C.RNNLAB_HEAD_NONE ? got.hidden_size : got.output_size
        return m
    end
end

function Model(; cell = :gru, input_size::Integer, hidden_size::Integer, head = :none,
               output_size::Integer = 0, backend = :auto, bias_mode = :double,
               frozen_biases = NamedTuple(), init = :pytorch, bias_init = :scheme,
               chrono_tmax::Integer = 0, seed::Integer = 0, threads::Integer = 1, diag = :off,
               sat_thresh::Real = 0.05, bound::Real = 1e-20, max_batch::Integer = 0,
               max_tape::Integer = 0, denormals = :flush, cpu_isa = :auto)
    fmask, fvals = _gate_values(frozen_biases)
    if bias_init isa Union{Symbol,AbstractString,C.rnnlab_bias_init}
        bmode = _enum(C.rnnlab_bias_init, "RNNLAB_BIAS_INIT_", bias_init)
        bmask, bvals = UInt32(0), (0.0f0, 0.0f0, 0.0f0)
    else
        bmode = C.RNNLAB_BIAS_INIT_CONSTANT
        bmask, bvals = _gate_values(bias_init)
    end
    cfg = C.rnnlab_config(;
        cell = _enum(C.rnnlab_cell, "RNNLAB_CELL_", cell),
        input_size = input_size,
        hidden_size = hidden_size,
        head = _enum(C.rnnlab_head, "RNNLAB_HEAD_", head),
        output_size = output_size,
        backend = _enum(C.rnnlab_backend, "RNNLAB_BACKEND_", backend),
        bias_mode = _enum(C.rnnlab_bias_mode, "RNNLAB_BIAS_", bias_mode),
        frozen_bias_mask = fmask,
        frozen_bias_value = fvals,
        init = _enum(C.rnnlab_init, "RNNLAB_INIT_", init),
        bias_init = bmode,
        bias_init_mask = bmask,
        bias_init_value = bvals,
        chrono_tmax = chrono_tmax,
        seed = seed,
        threads = threads,
        diag_level = _enum(C.rnnlab_diag_level, "RNNLAB_DIAG_", diag),
        sat_thresh = sat_thresh,
        bound = bound,
        max_batch = max_batch,
        max_tape = max_tape,
        denormals = _enum(C.rnnlab_denormals, "RNNLAB_DENORMALS_", denormals),
        cpu_isa = _enum(C.rnnlab_cpu_isa, "RNNLAB_ISA_", cpu_isa),
    )
    return Model(cfg)
end

function _destroy!(m::Model)
    if m.ptr != C_NULL
        C.rnnlab_destroy(m.ptr)
        m.ptr = C_NULL
    end
    return nothing
end

"""
    close(m::Model)

Frees the model now (the finalizer would do it later). Using `m` afterwards throws.
"""
Base.close(m::Model) = _destroy!(m)
Base.isopen(m::Model) = m.ptr != C_NULL

"""
    Model(f::Function; kwargs...)

`Model(; kwargs...)` passed to `f`, closed when `f` returns or throws (a do-block).
"""
function Model(f::Function; kwargs...)
    m = Model(; kwargs...)
    try
        return f(m)
    finally
        close(m)
    end
end

# Passing a Model where C wants rnnlab_model*: ccall keeps `m` rooted for the call's duration.
Base.cconvert(::Type{Ptr{C.rnnlab_model}}, m::Model) = m
function Base.unsafe_convert(::Type{Ptr{C.rnnlab_model}}, m::Model)
    m.ptr == C_NULL && throw(ArgumentError("the model is closed"))
    return m.ptr
end

function Base.show(io::IO, m::Model)
    if m.ptr == C_NULL
        print(io, "RNNLab.Model(closed)")
    else
        c = config(m)
        print(io, "RNNLab.Model(", Symbol(c.cell), ", I = ", c.input_size, ", H = ", c.hidden_size,
              ", ", Symbol(c.head), ", O = ", c.output_size, ", ", Symbol(c.backend), ")")
    end
end

"""
    config(m) -> LibRnnlab.rnnlab_config

The model's configuration as the library holds it (backend resolved, current diag level).
"""
function config(m::Model)
    out = Ref(C.rnnlab_config())
    check(C.rnnlab_get_config(out, m))
    return out[]
end

"""
    param_count(m) -> (total, trainable)
"""
function param_count(m::Model)
    total = Ref{Csize_t}(0)
    trainable = Ref{Csize_t}(0)
    check(C.rnnlab_param_count(total, trainable, m))
    return Int(total[]), Int(trainable[])
end

# ---- sequences ----------------------------------------------------------------------------------
# x as Array{Float32,3}: passed through when it already is one (no copy), converted once otherwise.
_f32(x::Array{Float32}) = x
_f32(x::AbstractArray{<:Real}) = Array{Float32}(x)

"""
    reset!(m)

Clears the tape and sets the hidden state back to h0; the next `forward` may use any batch size.
"""
reset!(m::Model) = (check(C.rnnlab_reset(m)); m)

"""
    set_training!(m, training::Bool)

`false`: eval mode, nothing recorded for backward (the fast validation path). `true`: the default.
"""
set_training!(m::Model, training::Bool) = (check(C.rnnlab_set_training(m, Cint(training))); m)

"""
    forward(m, x; reset = true) -> Array{Float32,3}

Runs the steps of `x`, an `(I, B, T)` array (`x[i, b, t]`: feature i of sequence b at step t; the
bytes of C's time-major `x[T][B][I]`), and returns the output of every step, `(O, B, T)` (logits
with a softmax head, `h` without a head: `(H, B, T)`). `reset = true` starts new sequences from h0
(clearing the tape); `reset = false` carries the hidden state on (streaming, truncated BPTT). In
training mode the steps are recorded for `backward!`.
"""
function forward(m::Model, x::AbstractArray{<:Real,3}; reset::Bool = true)
    I, B, T = size(x)
    I == m.input_size || throw(DimensionMismatch("x is ($I, $B, $T) but the model's input size is $(m.input_size): x must be (I, B, T)"))
    xx = _f32(x)
    y = Array{Float32,3}(undef, m.output_size, B, T)
    reset && check(C.rnnlab_reset(m))
    check(C.rnnlab_step(y, length(y), m, xx, length(xx), Int32(T), Int32(B)))
    m.batch = B
    return y
end

"""
    backward!(m, classes) -> loss
    backward!(m, values)  -> loss
    backward!(m; dy)      -> NaN

Back-propagates through everything recorded since the last reset, accumulates the parameter
gradients and computes the diagnostics of the model's level; returns the batch loss.

- `classes`: integer labels in `1:O` (1-based; shifted to C's 0-based): a length-B vector for
  `:last_softmax`, a `(B, T)` matrix (`classes[b, t]`) for `:every_softmax`.
- `values`: float targets `(O, B)` for `:last_linear`.
- `dy`: a caller-supplied dL/dy shaped like the recorded outputs, `(O, B, T)` (or `(H, B, T)`).
"""
function backward!(m::Model, classes::AbstractArray{<:Integer})
    cls = Int32[c - 1 for c in classes]  # column-major (B, T) = C's time-major classes[T][B]
    GC.@preserve cls begin
        tg = C.rnnlab_targets(; classes = pointer(cls), count = length(cls))
        check(C.rnnlab_backward(m, Ref(tg)))
    end
    return diagnostics(m).loss
end

function backward!(m::Model, values::AbstractArray{<:AbstractFloat})
    vals = _f32(values)                 # (O, B) column-major = C's values[B][O]
    GC.@preserve vals begin
        tg = C.rnnlab_targets(; values = pointer(vals), count = length(vals))
        check(C.rnnlab_backward(m, Ref(tg)))
    end
    return diagnostics(m).loss
end

function backward!(m::Model; dy::AbstractArray{<:Real,3})
    d = _f32(dy)
    GC.@preserve d begin
        tg = C.rnnlab_targets(; dy = pointer(d), count = length(d))
        check(C.rnnlab_backward(m, Ref(tg)))
    end
    return diagnostics(m).loss
end

"""
    hidden(m) -> Matrix{Float32}

The current hidden state, `(H, B)` (column b is sequence b), after `forward` or `set_h0!`.
"""
function hidden(m::Model)
    m.batch > 0 || throw(ArgumentError("no sequence yet: call forward (or set_h0!) first"))
    h = Matrix{Float32}(undef, m.hidden_size, m.batch)
    check(C.rnnlab_get_hidden(h, length(h), m))
    return h
end

"""
    set_h0!(m, h0::AbstractMatrix)
    set_h0!(m, nothing)

Sets the initial hidden state, `(H, B)`, of the following sequences (and resets, as `reset!`);
the next `forward` must use that B. `nothing` goes back to zeros.
"""
function set_h0!(m::Model, h0::AbstractMatrix{<:Real})
    size(h0, 1) == m.hidden_size || throw(DimensionMismatch("h0 must be (H, B) with H = $(m.hidden_size)"))
    h = _f32(h0)
    check(C.rnnlab_set_h0(m, h, length(h), Int32(size(h, 2))))
    m.batch = size(h, 2)
    return m
end

function set_h0!(m::Model, ::Nothing)
    check(C.rnnlab_set_h0(m, C_NULL, 0, Int32(0)))
    m.batch = 0
    return m
end

"""
    input_grad(m) -> Array{Float32,3}

dL/dx of the last `backward!`, `(I, B, T)` like the input.
"""
function input_grad(m::Model)
    d = diagnostics(m)
    dx = Array{Float32,3}(undef, m.input_size, d.batch, d.steps)
    check(C.rnnlab_get_input_grad(dx, length(dx), m))
    return dx
end

"""
    h0_grad(m) -> Matrix{Float32}

dL/dh0 of the last `backward!`, `(H, B)`.
"""
function h0_grad(m::Model)
    d = diagnostics(m)
    dh = Matrix{Float32}(undef, m.hidden_size, d.batch)
    check(C.rnnlab_get_h0_grad(dh, length(dh), m))
    return dh
end

# ---- diagnostics --------------------------------------------------------------------------------
"""
    set_diag_level!(m, level)   # :off, :summary or :full

Takes effect from the next sequence's first step.
"""
set_diag_level!(m::Model, level) =
    (check(C.rnnlab_set_diag_level(m, _enum(C.rnnlab_diag_level, "RNNLAB_DIAG_", level))); m)

"""
    diagnostics(m) -> NamedTuple

The scalars of the last `backward!`: `steps` (T), `batch` (B), `level` (`:off`, `:summary`,
`:full`), `loss` (NaN when backward started from dy), `grad_norm` (accumulated gradient, before
clipping), `grad_norm_post_clip`, `omega` and `steps_in_past` (summary and above), `nonfinite` (NaN
and Inf count) and `nonfinite_first_t` (as C gives it: the first 0-based step holding one, -1 if none).
"""
function diagnostics(m::Model)
    out = Ref(C.rnnlab_diag())
    check(C.rnnlab_diagnostics(out, m))
    d = out[]
    level = Symbol(lowercase(chop(string(Symbol(d.level)); head = length("RNNLAB_DIAG_"), tail = 0)))
    return (steps = Int(d.steps), batch = Int(d.batch), level = level, loss = d.loss,
            grad_norm = d.grad_norm, grad_norm_post_clip = d.grad_norm_post_clip, omega = d.omega,
            steps_in_past = d.steps_in_past, nonfinite = Int(d.nonfinite),
            nonfinite_first_t = Int(d.nonfinite_first_t))
end

function _trace_enum(name)
    name isa C.rnnlab_trace && return name
    out = Ref(C.RNNLAB_TRACE_GRAD_TIME)
    check(C.rnnlab_trace_from_name(out, string(name)))
    return out[]
end

"""
    trace(m, name) -> Vector{Float64}

A per-step trace of the last `backward!` at level `:full`; element t is step t. Names are
diagnostics.md's keys, as a Symbol or String: `:grad_time` (mean over the batch of ‖dL/dh_t‖, the
total derivative), `:sat_time`, `:act_time`, `:cand_act_time`, `:gate_z_sat_time`,
`:gate_r_sat_time`, `:gate_z_mean_time`, `:gate_r_mean_time`, `:gate_z_preact_time`,
`:sat_frac_time`, `:gate_z_sat_frac_time`, `:gate_r_sat_frac_time`, `:transfer_time`.
"""
function trace(m::Model, name)
    tr = _trace_enum(name)
    len = Ref{Int32}(0)
    check(C.rnnlab_get_trace(C_NULL, 0, len, m, tr))
    out = Vector{Float64}(undef, len[])
    check(C.rnnlab_get_trace(out, length(out), len, m, tr))
    return out
end

"""
    trace_names(m) -> Vector{Symbol}

The traces this model's cell has (the gate traces exist for GRUs only).
"""
function trace_names(m::Model)
    names = Symbol[]
    for tr in instances(C.rnnlab_trace)
        tr == C.RNNLAB_TRACE_COUNT && continue
        if C.rnnlab_has_trace(m, tr) == 1
            push!(names, Symbol(unsafe_string(C.rnnlab_trace_name(tr))))
        end
    end
    return names
end

"""
    traces(m) -> Dict{Symbol,Vector{Float64}}

Every trace of `trace_names(m)`.
"""
traces(m::Model) = Dict(n => trace(m, n) for n in trace_names(m))

"""
    grad_norm_blocks(m) -> Vector{Pair{String,Float64}}

‖gradient‖ per tensor and per gate block ("weight_ih", "weight_ih.r", ...) at level summary+.
"""
function grad_norm_blocks(m::Model)
    n = Ref{Int32}(0)
    check(C.rnnlab_grad_norm_blocks(C_NULL, C_NULL, 0, n, m))
    norms = Vector{Float64}(undef, n[])
    names = Vector{Ptr{Cchar}}(undef, n[])
    check(C.rnnlab_grad_norm_blocks(norms, names, length(norms), n, m))
    return [unsafe_string(names[i]) => norms[i] for i in 1:length(norms)]
end

"""
    spectral(m, block = :hn) -> (rho, sigma_max)

Spectral radius and largest singular value of a recurrent block: `:hn` (W_hn; W_hh of a vanilla
RNN), `:hz`, `:hr`.
"""
function spectral(m::Model, block = :hn)
    rho = Ref{Cdouble}(0)
    smax = Ref{Cdouble}(0)
    check(C.rnnlab_spectral(rho, smax, m, _enum(C.rnnlab_block, "RNNLAB_BLOCK_", block)))
    return rho[], smax[]
end

"""
    jacobian(m, t, b) -> Matrix{Float32}

The H × H Jacobian `J[i, j] = ∂h_t[i] / ∂h_{t-1}[j]` of step `t` and sequence `b` (both 1-based)
of the last forward in training mode.
"""
function jacobian(m::Model, t::Integer, b::Integer)
    H = m.hidden_size
    buf = Matrix{Float32}(undef, H, H)
    check(C.rnnlab_jacobian(buf, length(buf), m, Int32(t - 1), Int32(b - 1)))
    return permutedims(buf)  # C is row-major: buf[j, i] holds J[i, j]
end

# ---- training -----------------------------------------------------------------------------------
"""
    set_optimizer!(m; kind = :sgd, lr = 0.01, kwargs...)

Keyword names are the fields of C's `rnnlab_optimizer_config` (defaults: its _INIT): `kind`
(`:sgd`, `:adam`, `:adamw`), `lr`, `momentum`, `beta1`, `beta2`, `eps`, `weight_decay`, `schedule`
(`:constant`, `:cosine`), `lr_min`, `schedule_steps`, `warmup_steps`, `schedule_period`, `clip`
(`:nothing`, `:rescale`), `cutoff`, `clip_value`, `alpha` (Pascanu's Ω; vanilla RNNs).
"""
function set_optimizer!(m::Model; kind = :sgd, schedule = :constant, clip = :nothing, kwargs...)
    cfg = C.rnnlab_optimizer_config(; kind = _enum(C.rnnlab_optimizer_kind, "RNNLAB_OPTIMIZER_", kind),
                                    schedule = _enum(C.rnnlab_schedule, "RNNLAB_SCHEDULE_", schedule),
                                    clip = _enum(C.rnnlab_clip, "RNNLAB_CLIP_", clip), kwargs...)
    check(C.rnnlab_set_optimizer(m, Ref(cfg)))
    return m
end

"""
    optimizer_state(m) -> LibRnnlab.rnnlab_optimizer_state

Step counters and rates of the optimiser (`step`, `moment_step`, `schedule_pos`, `guard_count`,
`lr`, `last_lr`, `last_clipped`, `last_guard`).
"""
function optimizer_state(m::Model)
    out = Ref(C.rnnlab_optimizer_state())
    check(C.rnnlab_get_optimizer_state(out, m))
    return out[]
end

"""
    update!(m)

Clipping (or its guard), one optimiser step, then the gradients are zeroed.
"""
update!(m::Model) = (check(C.rnnlab_update(m)); m)

"""
    zero_grad!(m)
"""
zero_grad!(m::Model) = (check(C.rnnlab_zero_grad(m)); m)

# ---- parameters ---------------------------------------------------------------------------------
function _tensor_infos(m::Model)
    n = Ref{Int32}(0)
    check(C.rnnlab_tensor_count(n, m))
    infos = C.rnnlab_tensor_info[]
    for i in 0:(n[] - 1)
        out = Ref{C.rnnlab_tensor_info}()
        check(C.rnnlab_tensor_info_at(out, m, Int32(i)))
        push!(infos, out[])
    end
    return infos
end

# Biases are vectors, weights matrices (also a weight_ih of one column, as in PyTorch).
_is_bias(name::AbstractString) = occursin("bias", name)

# Row-major rows × cols (C) -> Julia (rows, cols), or a vector for a bias.
function _from_c(buf::AbstractVector{Float32}, name::AbstractString, rows::Integer, cols::Integer)
    _is_bias(name) && return Vector{Float32}(buf)
    return permutedims(reshape(buf, Int(cols), Int(rows)))
end

"""
    state_dict(m; grads = false) -> Dict{String,Array{Float32}}

Every parameter tensor under its PyTorch name ("weight_ih", "weight_hh", "bias_ih", "bias_hh",
"head.weight", "head.bias") in PyTorch's shape (matrices `(rows, cols)`, biases vectors), as a copy.
`grads = true` gives the accumulated gradients instead.
"""
function state_dict(m::Model; grads::Bool = false)
    total, _ = param_count(m)
    flat = Vector{Float32}(undef, total)
    check(grads ? C.rnnlab_get_grads(flat, length(flat), m) : C.rnnlab_get_params(flat, length(flat), m))
    d = Dict{String,Array{Float32}}()
    for info in _tensor_infos(m)
        lo = Int(info.offset) + 1
        hi = Int(info.offset + info.count)
        name = unsafe_string(info.name)
        d[name] = _from_c(view(flat, lo:hi), name, info.rows, info.cols)
    end
    return d
end

"""
    load_state_dict!(m, d)

Sets parameters from a dict of name => array (PyTorch names; the "_l0" suffix and a module prefix
are accepted as C accepts them: "rnn.weight_ih_l0", "fc.weight"); each array must have the
tensor's shape. All or nothing: every array is checked before any parameter changes, and the C
call that sets them refuses non-finite values and changed frozen entries without changing anything.
"""
function load_state_dict!(m::Model, d::AbstractDict)
    total, _ = param_count(m)
    flat = Vector{Float32}(undef, total)
    check(C.rnnlab_get_params(flat, length(flat), m))
    for (k, v) in d
        key = string(k)
        info = Ref{C.rnnlab_tensor_info}()
        check(C.rnnlab_tensor_info_by_name(info, m, key))
        rows, cols = Int(info[].rows), Int(info[].cols)
        bias = _is_bias(unsafe_string(info[].name))
        want = bias ? (rows,) : (rows, cols)
        size(v) == want || throw(DimensionMismatch("$key is $(size(v)), the model's is $want"))
        lo = Int(info[].offset) + 1
        # Julia (rows, cols) -> C row-major: the transpose, flattened column-major.
        flat[lo:(lo + rows * cols - 1)] = bias ? vec(v) : vec(permutedims(v))
    end
    check(C.rnnlab_set_params(m, flat, length(flat)))
    return m
end

# ---- files --------------------------------------------------------------------------------------
"""
    save(m, path)

Writes a checkpoint (configuration, parameters, optimiser state) atomically: `path` holds the old
file or the new one, never a mix.
"""
save(m::Model, path::AbstractString) = (check(C.rnnlab_save(m, String(path))); path)

"""
    load!(m, path)

Loads a checkpoint into a model of the same shape (cell, sizes, head, bias mode, frozen biases).
The file is checked completely first; on any error the model is untouched.
"""
load!(m::Model, path::AbstractString) = (check(C.rnnlab_load(m, String(path))); m)

"""
    RNNLab.load(path; kwargs...) -> Model

A new `Model(; kwargs...)` with the checkpoint at `path` loaded into it. The keywords give the shape
(cell, sizes, head, bias mode, frozen biases: C reads the checkpoint only into a model of its
shape) and may choose another backend or thread count. Not exported (`load` is a common name).
"""
function load(path::AbstractString; kwargs...)
    m = Model(; kwargs...)
    try
        return load!(m, path)
    catch
        close(m)
        rethrow()
    end
end

# ---- data sets ----------------------------------------------------------------------------------
"""
    Dataset(images_path, labels_path; mode = :pixels, limit = 0, normalize = false, mean = 0, std = 1,
            permute = false, permutation_seed = 0, num_classes = 10)

An IDX image set (MNIST, Fashion-MNIST; plain or gzip files) loaded into memory by librnnlab, read
as sequences: `:pixels` gives one step per pixel (T = 784, I = 1), `:rows` one step per image row.
`batch(ds, indices)` returns `(x, labels)`: `x` is `(I, B, T)`, `labels` 1-based (`1:num_classes`).
"""
mutable struct Dataset
    ptr::Ptr{C.rnnlab_dataset}
    count::Int
    steps::Int
    input_size::Int

    function Dataset(images_path::AbstractString, labels_path::AbstractString; mode = :pixels,
                     limit::Integer = 0, normalize::Bool = false, mean::Real = 0, std::Real = 1,
                     permute::Bool = false, permutation_seed::Integer = 0, num_classes::Integer = 10)
        out = Ref{Ptr{C.rnnlab_dataset}}(C_NULL)
        # The config holds raw char pointers: NUL-terminated Strings, kept alive through the call.
        ip, lp = String(images_path), String(labels_path)
        (Base.containsnul(ip) || Base.containsnul(lp)) && throw(ArgumentError("a path contains a NUL byte"))
        GC.@preserve ip lp begin
            cfg = C.rnnlab_dataset_config(;
                format = C.RNNLAB_DATASET_IDX,
                images_path = pointer(ip),
                labels_path = pointer(lp),
                num_classes = num_classes,
                mode = _enum(C.rnnlab_dataset_mode, "RNNLAB_DATASET_", mode),
                normalize = Int32(normalize),
                mean = (Float32(mean), 0.0f0, 0.0f0),
                std = (Float32(std), 1.0f0, 1.0f0),
                permute = Int32(permute),
                permutation_seed = permutation_seed,
                limit = limit,
            )
            check(C.rnnlab_dataset_create(out, Ref(cfg)))
        end
        ds = new(out[], 0, 0, 0)
        finalizer(close, ds)
        info = Ref(C.rnnlab_dataset_info())
        GC.@preserve ds check(C.rnnlab_dataset_get_info(info, ds.ptr))
        ds.count, ds.steps, ds.input_size = info[].count, info[].steps, info[].input_size
        return ds
    end
end

function Base.close(ds::Dataset)
    if ds.ptr != C_NULL
        C.rnnlab_dataset_destroy(ds.ptr)
        ds.ptr = C_NULL
    end
    return nothing
end

Base.length(ds::Dataset) = ds.count

"""
    batch(ds, indices) -> (x::Array{Float32,3}, labels::Vector{Int})

Examples `indices` (1-based) as one batch: `x` is `(I, B, T)`, labels are 1-based.
"""
function batch(ds::Dataset, indices::AbstractVector{<:Integer})
    ds.ptr == C_NULL && throw(ArgumentError("the data set is closed"))
    idx = Int32[i - 1 for i in indices]
    B = length(idx)
    x = Array{Float32,3}(undef, ds.input_size, B, ds.steps)
    labels = Vector{Int32}(undef, B)
    GC.@preserve ds begin  # the finalizer must not free the set during the call
        check(C.rnnlab_dataset_batch(x, length(x), labels, length(labels), ds.ptr, idx, length(idx)))
    end
    return x, Int.(labels) .+ 1
end

end # module RNNLab
