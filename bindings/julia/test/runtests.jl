# The RNNLab.jl test suite, for a machine with Julia (none exists on rnnlab's CI machines; there the
# binding is checked statically, see bindings/julia/README.md). From the repository root:
#
#     RNNLAB_LIBRARY=$PWD/build/lib/librnnlab.so julia --project=bindings/julia -e 'using Pkg; Pkg.test()'
#
# (or without RNNLAB_LIBRARY when rnnlab is installed where pkg-config finds it).
using Test
using RNNLab
using RNNLab: LibRnnlab, config

const L = LibRnnlab

@testset "RNNLab.jl" begin

@testset "library and version" begin
    @test isfile(L.library_path())
    v = library_version()
    @test v.major == L.RNNLAB_VERSION_MAJOR
    @test v.minor >= L.RNNLAB_VERSION_MINOR
    @test L.rnnlab_version_number() == UInt32(L.RNNLAB_VERSION_NUMBER) || v.minor > L.RNNLAB_VERSION_MINOR
    @test unsafe_string(L.rnnlab_status_string(L.RNNLAB_E_SIZE_MISMATCH)) != ""
end

@testset "struct layouts: Julia's equal the generated table (which CTest checks against C)" begin
    for (name, lay) in pairs(L.LAYOUTS)
        T = getfield(L, name)
        @test isbitstype(T)
        @test sizeof(T) == lay.size
        @test Base.datatype_alignment(T) == lay.align
        @test fieldcount(T) == length(lay.fields)
        for (i, (f, off, sz)) in enumerate(lay.fields)
            @test fieldname(T, i) == f
            @test fieldoffset(T, i) == off
            @test sizeof(fieldtype(T, i)) == sz
        end
    end
end

@testset "config defaults are the header's _INIT" begin
    c = L.rnnlab_config()
    @test c.struct_size == sizeof(L.rnnlab_config)
    @test c.threads == 1
    @test c.sat_thresh == 0.05f0
    @test c.bound == 1e-20
    @test c.cell == L.RNNLAB_CELL_GRU
    @test c.denormals == L.RNNLAB_DENORMALS_FLUSH
    @test c.cpu_isa == L.RNNLAB_ISA_AUTO
    @test L.rnnlab_optimizer_config().lr == 0.01
    @test L.rnnlab_diag().nonfinite_first_t == -1
end

@testset "raw wrappers: create, error, destroy" begin
    out = Ref{Ptr{L.rnnlab_model}}(C_NULL)
    bad = L.rnnlab_config(input_size = 0, hidden_size = 4)
    @test L.rnnlab_create(out, Ref(bad)) == L.RNNLAB_E_INVALID_ARGUMENT
    @test out[] == C_NULL
    @test occursin("input_size", unsafe_string(L.rnnlab_last_error()))
    good = L.rnnlab_config(input_size = 2, hidden_size = 4)
    @test L.rnnlab_create(out, Ref(good)) == L.RNNLAB_OK
    @test out[] != C_NULL
    L.rnnlab_destroy(out[])
end

@testset "layout: (I, B, T) in, (O, B, T) out, against a hand-computed linear RNN" begin
    I, H, B, T = 3, 4, 2, 5
    m = Model(cell = :rnn_linear, input_size = I, hidden_size = H, seed = 7)
    sd = state_dict(m)
    @test size(sd["weight_ih"]) == (H, I)
    @test size(sd["weight_hh"]) == (H, H)
    @test size(sd["bias_ih"]) == (H,)
    Wih = Float32[0.1i - 0.05j for i in 1:H, j in 1:I]   # distinct entries: a transpose would show
    Whh = Float32[(i == j ? 0.5 : 0.01(i - j)) for i in 1:H, j in 1:H]
    bih = Float32[0.01i for i in 1:H]
    bhh = Float32[-0.02i for i in 1:H]
    load_state_dict!(m, Dict("weight_ih" => Wih, "weight_hh" => Whh, "bias_ih" => bih, "bias_hh" => bhh))
    @test state_dict(m)["weight_ih"] == Wih
    x = Float32[sin(i + 2b + 3t) for i in 1:I, b in 1:B, t in 1:T]
    y = forward(m, x)
    @test size(y) == (H, B, T)
    h = zeros(Float64, H, B)
    for t in 1:T
        h = Wih * x[:, :, t] .+ bih .+ Whh * h .+ bhh
        @test y[:, :, t] ≈ h rtol = 1e-5
    end
    @test hidden(m) ≈ h rtol = 1e-5
    # A time-major (T, B, I) array is the caller's to permute: the model refuses the wrong I.
    @test_throws DimensionMismatch forward(m, permutedims(x, (3, 2, 1)))
    close(m)
end

@testset "GRU: forward, backward, diagnostics, traces" begin
    m = Model(cell = :gru, input_size = 1, hidden_size = 8, head = :last_softmax, output_size = 3,
              init = :orthogonal, diag = :full, seed = 1)
    @test param_count(m)[1] == 3 * 8 * 1 + 3 * 8 * 8 + 2 * 3 * 8 + 3 * 8 + 3
    x = randn(Float32, 1, 4, 12)
    y = forward(m, x)
    @test size(y) == (3, 4, 12)
    loss = backward!(m, [1, 2, 3, 1])
    @test isfinite(loss) && loss > 0
    d = diagnostics(m)
    @test d.steps == 12 && d.batch == 4 && d.level == :full
    @test d.loss == loss
    @test d.nonfinite == 0 && d.nonfinite_first_t == -1
    g = trace(m, :grad_time)
    @test length(g) == 12
    @test all(g .> 0)
    @test :gate_z_mean_time in trace_names(m)
    @test all(0 .< trace(m, "gate_z_mean_time") .< 1)
    @test length(traces(m)) == length(trace_names(m))
    @test size(input_grad(m)) == (1, 4, 12)
    @test size(h0_grad(m)) == (8, 4)
    blocks = grad_norm_blocks(m)
    @test first(blocks[1]) == "weight_ih"
    rho, smax = spectral(m, :hn)
    @test 0 < rho <= smax + 1e-6
    grads = state_dict(m; grads = true)
    @test any(!iszero, grads["weight_hh"])
    close(m)
end

@testset "vanilla RNN has no gate traces" begin
    m = Model(cell = :rnn_tanh, input_size = 2, hidden_size = 3, diag = :full)
    @test !(:gate_z_mean_time in trace_names(m))
    forward(m, randn(Float32, 2, 1, 4))
    backward!(m; dy = ones(Float32, 3, 1, 4))
    @test isnan(diagnostics(m).loss)
    err = try
        trace(m, :gate_z_mean_time)
        nothing
    catch e
        e
    end
    @test err isa RNNLabError
    @test err.name == :RNNLAB_E_NOT_FOUND
    close(m)
end

@testset "errors carry status and message; a failed call changes nothing" begin
    m = Model(input_size = 1, hidden_size = 4, head = :last_softmax, output_size = 3)
    err = try
        backward!(m, [1])
        nothing
    catch e
        e
    end
    @test err isa RNNLabError
    @test err.status == Int(L.RNNLAB_E_STATE)
    @test err.name == :RNNLAB_E_STATE
    @test !isempty(err.message)
    @test occursin("RNNLAB_E_STATE", sprint(showerror, err))

    forward(m, randn(Float32, 1, 2, 3))
    before = state_dict(m)
    err = try
        backward!(m, [1, 4])        # class 4 of 3
        nothing
    catch e
        e
    end
    @test err isa RNNLabError && err.name == :RNNLAB_E_INVALID_ARGUMENT
    @test state_dict(m) == before
    @test_throws RNNLabError load_state_dict!(m, Dict("weight_ih" => fill(NaN32, 12, 1)))
    @test state_dict(m) == before
    @test_throws DimensionMismatch load_state_dict!(m, Dict("weight_hh" => zeros(Float32, 4, 12)))
    @test_throws ArgumentError Model(cell = :lstm, input_size = 1, hidden_size = 2)
    close(m)
    @test !isopen(m)
    @test_throws ArgumentError forward(m, zeros(Float32, 1, 1, 1))
end

@testset "frozen biases stay frozen through AdamW" begin
    H = 6
    m = Model(input_size = 1, hidden_size = H, head = :last_softmax, output_size = 2,
              frozen_biases = (z = 0.0, r = 0.0), init = :orthogonal, seed = 3)
    set_optimizer!(m; kind = :adamw, lr = 1e-2, weight_decay = 0.01, clip = :rescale, cutoff = 1.0)
    w0 = state_dict(m)["weight_hh"]
    for _ in 1:3
        forward(m, randn(Float32, 1, 5, 7))
        backward!(m, [1, 2, 1, 2, 1])
        update!(m)
    end
    sd = state_dict(m)
    @test sd["weight_hh"] != w0
    @test all(iszero, sd["bias_ih"][1:2H])     # r and z blocks of b_ih
    @test all(iszero, sd["bias_hh"][1:2H])
    @test optimizer_state(m).step == 3
    close(m)
end

@testset "save and load!" begin
    mktempdir() do dir
        path = joinpath(dir, "m.ckpt")
        m = Model(input_size = 2, hidden_size = 5, seed = 11)
        save(m, path)
        sd = state_dict(m)
        load_state_dict!(m, Dict(k => zero(v) .+ 0.5f0 for (k, v) in sd))
        @test state_dict(m) != sd
        load!(m, path)
        @test state_dict(m) == sd
        m3 = RNNLab.load(path; input_size = 2, hidden_size = 5, seed = 99)
        @test state_dict(m3) == sd
        close(m3)
        @test_throws RNNLabError load!(m, joinpath(dir, "missing.ckpt"))
        other = Model(input_size = 3, hidden_size = 5)
        err = try
            load!(other, path)
            nothing
        catch e
            e
        end
        @test err isa RNNLabError && err.name == :RNNLAB_E_FORMAT
        close(other)
        close(m)
    end
end

@testset "do-block closes" begin
    saved = Ref{Any}(nothing)
    Model(input_size = 1, hidden_size = 2) do m
        saved[] = m
        @test isopen(m)
    end
    @test !isopen(saved[])
end

fashion = get(ENV, "RNNLAB_FASHION_DIR", "/usr/share/datasets/fashion-mnist")
if isfile(joinpath(fashion, "t10k-images-idx3-ubyte.gz"))
    @testset "Fashion-MNIST as sequences" begin
        ds = Dataset(joinpath(fashion, "t10k-images-idx3-ubyte.gz"),
                     joinpath(fashion, "t10k-labels-idx1-ubyte.gz"); limit = 16)
        @test length(ds) == 16
        x, labels = batch(ds, 1:4)
        @test size(x) == (1, 4, 784)
        @test all(0 .<= x .<= 1)
        @test all(1 .<= labels .<= 10)
        close(ds)
    end
else
    @info "Fashion-MNIST not found in $fashion: data-set test skipped (set RNNLAB_FASHION_DIR)"
end

end # testset RNNLab.jl
