# Seed 000's question in Julia: does a GRU need learnable update/reset biases on a long
# sequential-image task? Two GRUs with the same initial weights read Fashion-MNIST pixel by pixel
# (T = 784): a baseline whose effective b_z and b_r start at +1 (learnable) and an ablated twin with
# b_z, b_r frozen at 0. Every `check` updates, both are run at diagnostics level :full on one fixed
# batch and the script prints what the gates and the gradient do: E[z_t], the effective update-gate
# bias the network has built, ‖W_hz‖, and g_t = mean_b ‖dL/dh_t‖ (the total derivative) at the
# first, middle and last step. `rnnlab-train ablation --preset seed000` is the full experiment.
#
#     RNNLAB_LIBRARY=build/lib/librnnlab.so julia --project=bindings/julia \
#         examples/julia/seed000_diagnostics.jl [updates=200] [hidden=64] [fashion-mnist dir]
using RNNLab
using Printf
using Random

updates = length(ARGS) >= 1 ? parse(Int, ARGS[1]) : 200
H = length(ARGS) >= 2 ? parse(Int, ARGS[2]) : 64
dir = length(ARGS) >= 3 ? ARGS[3] : get(ENV, "RNNLAB_FASHION_DIR", "/usr/share/datasets/fashion-mnist")
B, check_every = 32, 25

train = Dataset(joinpath(dir, "train-images-idx3-ubyte.gz"), joinpath(dir, "train-labels-idx1-ubyte.gz");
                limit = 4096)
common = (cell = :gru, input_size = 1, hidden_size = H, head = :last_softmax, output_size = 10,
          init = :orthogonal, diag = :off, seed = 0, threads = 1)
models = [
    "baseline (b_z, b_r = +1, learnable)" => Model(; common..., bias_init = (z = 1.0, r = 1.0)),
    "ablated (b_z, b_r frozen at 0)" => Model(; common..., frozen_biases = (z = 0.0, r = 0.0)),
]
for (_, m) in models
    set_optimizer!(m; kind = :adamw, lr = 5e-4, weight_decay = 0.01, clip = :rescale, cutoff = 1.0)
end

rng = MersenneTwister(0)
probe_x, probe_y = batch(train, 1:B)            # the fixed diagnostics batch

# One pass at level :full on the probe batch, then the gradients it left are dropped.
function probe(m)
    set_diag_level!(m, :full)
    forward(m, probe_x)
    loss = backward!(m, probe_y)
    d = diagnostics(m)
    z = trace(m, :gate_z_mean_time)
    zpre = trace(m, :gate_z_preact_time)
    g = trace(m, :grad_time)
    Whh = state_dict(m)["weight_hh"]
    Whz = Whh[(H + 1):(2H), :]                     # gate order r, z, n
    zero_grad!(m)
    set_diag_level!(m, :off)
    T = length(g)
    return (loss = loss, grad_norm = d.grad_norm, mean_z = sum(z) / T, z_bias = sum(zpre) / T,
            whz = sqrt(sum(abs2, Whz)), g = (g[1], g[cld(T, 2)], g[T]))
end

function report(step)
    for (name, m) in models
        p = probe(m)
        lg = log10.(p.g .+ 1e-12)
        @printf("%5d  %-36s loss %.3f  |g| %.3g  E[z] %.3f  z-bias %+.3f  ‖W_hz‖ %.2f  log10 g_t (1, T/2, T) %.1f %.1f %.1f\n",
                step, name, p.loss, p.grad_norm, p.mean_z, p.z_bias, p.whz, lg[1], lg[2], lg[3])
    end
end

report(0)
for step in 1:updates
    x, y = batch(train, rand(rng, 1:length(train), B))   # the same batches for both models
    for (_, m) in models
        forward(m, x)
        backward!(m, y)
        update!(m)
    end
    step % check_every == 0 && report(step)
end
foreach(close ∘ last, models)
close(train)
