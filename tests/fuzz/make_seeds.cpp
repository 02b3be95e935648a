// Writes the valid seed files of tests/fuzz/corpus/<harness>/ (run by tests/fuzz/run.sh
// --make-seeds): files rnnlab itself writes (checkpoints, npz exports), and small well-formed IDX,
// CIFAR-10 and command-line inputs.
#include <rnnlab/rnnlab.h>

#include <sys/stat.h>
#include <zlib.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "fuzz_common.h"
#include "io/npz.h"

namespace {

void die(const char *what) {
  std::fprintf(stderr, "fuzz_make_seeds: %s: %s\n", what, rnnlab_last_error());
  std::exit(1);
}

void put(const std::string &path, const std::vector<unsigned char> &bytes) {
  fuzz::write_all(path, bytes.data(), bytes.size());
}

void put_gz(const std::string &path, const std::vector<unsigned char> &bytes) {
  gzFile g = gzopen(path.c_str(), "wb9");
  if (!g || gzwrite(g, bytes.data(), static_cast<unsigned>(bytes.size())) != static_cast<int>(bytes.size())) die("gzip");
  gzclose(g);
}

rnnlab_model *trained_model(rnnlab_optimizer_kind kind) {
  rnnlab_config c = fuzz::model_config();
  rnnlab_model *m = nullptr;
  if (rnnlab_create(&m, &c) != RNNLAB_OK) die("create");
  rnnlab_optimizer_config o = RNNLAB_OPTIMIZER_CONFIG_INIT;
  o.kind = kind;
  o.lr = 0.05;
  o.momentum = kind == RNNLAB_OPTIMIZER_SGD ? 0.9 : 0.0;
  o.schedule = RNNLAB_SCHEDULE_COSINE;
  o.schedule_steps = 10;
  o.clip = RNNLAB_CLIP_RESCALE;
  o.cutoff = 1.0;
  if (rnnlab_set_optimizer(m, &o) != RNNLAB_OK) die("set_optimizer");
  const int T = 3, B = 2;
  std::vector<float> x(T * B * 2);
  for (size_t k = 0; k < x.size(); ++k) x[k] = 0.1f * static_cast<float>(k % 7) - 0.3f;
  int32_t labels[2] = {0, 2};
  for (int it = 0; it < 2; ++it) {
    if (rnnlab_reset(m) != RNNLAB_OK || rnnlab_step(nullptr, 0, m, x.data(), x.size(), T, B) != RNNLAB_OK) die("step");
    rnnlab_targets tg = RNNLAB_TARGETS_INIT;
    tg.classes = labels;
    tg.count = B;
    if (rnnlab_backward(m, &tg) != RNNLAB_OK || rnnlab_update(m) != RNNLAB_OK) die("train");
  }
  return m;
}

}  // namespace

int main(int argc, char **argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: fuzz_make_seeds OUT_DIR (writes OUT_DIR/<harness>/...)\n");
    return 2;
  }
  const std::string out = argv[1];
  for (const char *h : {"fuzz_checkpoint", "fuzz_npz", "fuzz_npy", "fuzz_idx", "fuzz_cifar", "fuzz_cli", "fuzz_grid",
                        "fuzz_train_flags"})
    mkdir((out + "/" + h).c_str(), 0777);

  // Checkpoints: no optimiser; Adam with user bytes; SGD with momentum.
  {
    rnnlab_config c = fuzz::model_config();
    rnnlab_model *m = nullptr;
    if (rnnlab_create(&m, &c) != RNNLAB_OK) die("create");
    if (rnnlab_save(m, (out + "/fuzz_checkpoint/plain.ckpt").c_str()) != RNNLAB_OK) die("save");
    rnnlab_destroy(m);
    m = trained_model(RNNLAB_OPTIMIZER_ADAM);
    const char user[] = "generator position 42";
    if (rnnlab_save_ex(m, (out + "/fuzz_checkpoint/adam_user.ckpt").c_str(), user, sizeof user) != RNNLAB_OK)
      die("save_ex");
    if (rnnlab_export_npz(m, (out + "/fuzz_npz/export.npz").c_str(), "rnn.", "fc.", RNNLAB_NPZ_L0) != RNNLAB_OK)
      die("export");
    if (rnnlab_export_npz(m, (out + "/fuzz_npz/export64.npz").c_str(), nullptr, nullptr, RNNLAB_NPZ_FLOAT64) !=
        RNNLAB_OK)
      die("export64");
    rnnlab_destroy(m);
    m = trained_model(RNNLAB_OPTIMIZER_SGD);
    if (rnnlab_save(m, (out + "/fuzz_checkpoint/sgd.ckpt").c_str()) != RNNLAB_OK) die("save sgd");
    rnnlab_destroy(m);
  }

  // npz of every dtype and rank, stored and deflated; .npy members on their own.
  {
    using namespace rnnlab::io;
    for (Compression comp : {Compression::Store, Compression::Deflate}) {
      NpzWriter w(comp);
      w.add<float>("f32", {2, 3}, std::vector<float>{1, 2, 3, 4, 5, 6});
      w.add<double>("f64", {3}, std::vector<double>{0.5, -1, 1e300});
      w.add_scalar<int64_t>("scalar", 7);
      w.add<int32_t>("empty", {0, 4}, std::vector<int32_t>{});
      w.add<uint8_t>("u8", {2, 1, 2}, std::vector<uint8_t>{1, 2, 3, 4});
      w.save(out + (comp == Compression::Store ? "/fuzz_npz/dtypes.npz" : "/fuzz_npz/dtypes_deflate.npz"));
    }
    auto npy = [&](const char *name, DType t, const std::vector<size_t> &shape, const void *data, size_t n) {
      std::string h = npy_header(t, shape);
      std::vector<unsigned char> b(h.begin(), h.end());
      const auto *p = static_cast<const unsigned char *>(data);
      b.insert(b.end(), p, p + n);
      put(out + "/fuzz_npy/" + name, b);
    };
    const float f[6] = {1, 2, 3, 4, 5, 6};
    const int64_t s = 3;
    const uint16_t u[3] = {1, 2, 65535};
    npy("f32_2x3.npy", DType::Float32, {2, 3}, f, sizeof f);
    npy("scalar_i64.npy", DType::Int64, {}, &s, sizeof s);
    npy("u16_3.npy", DType::UInt16, {3}, u, sizeof u);
    npy("empty.npy", DType::Float64, {0}, nullptr, 0);
  }

  // IDX: 3 images of 4 x 5 and their labels, joined as fuzz_idx reads them (2 bytes giving where
  // the labels file starts, then both files); plain and gzip.
  {
    std::vector<unsigned char> images = {0, 0, 8, 3, 0, 0, 0, 3, 0, 0, 0, 4, 0, 0, 0, 5};
    for (int k = 0; k < 3 * 4 * 5; ++k) images.push_back(static_cast<unsigned char>(k * 7));
    const std::vector<unsigned char> labels = {0, 0, 8, 1, 0, 0, 0, 3, 1, 9, 0};
    auto joined = [&](const std::vector<unsigned char> &im, const std::vector<unsigned char> &lb) {
      std::vector<unsigned char> j = {static_cast<unsigned char>(im.size() >> 8), static_cast<unsigned char>(im.size())};
      j.insert(j.end(), im.begin(), im.end());
      j.insert(j.end(), lb.begin(), lb.end());
      return j;
    };
    put(out + "/fuzz_idx/plain.idx", joined(images, labels));
    const std::string tmp_im = fuzz::scratch("seed_im"), tmp_lb = fuzz::scratch("seed_lb");
    put_gz(tmp_im, images);
    put_gz(tmp_lb, labels);
    auto slurp = [](const std::string &p) {
      std::vector<unsigned char> b;
      FILE *fp = std::fopen(p.c_str(), "rb");
      int ch;
      while (fp && (ch = std::fgetc(fp)) != EOF) b.push_back(static_cast<unsigned char>(ch));
      if (fp) std::fclose(fp);
      std::remove(p.c_str());
      return b;
    };
    put(out + "/fuzz_idx/gzip.idx", joined(slurp(tmp_im), slurp(tmp_lb)));

    // CIFAR-10: two records (label + 3072 pixels), plain and gzip.
    std::vector<unsigned char> cifar;
    for (int r = 0; r < 2; ++r) {
      cifar.push_back(static_cast<unsigned char>(r * 7));
      for (int k = 0; k < 3072; ++k) cifar.push_back(static_cast<unsigned char>((k * 13 + r) & 0xff));
    }
    put(out + "/fuzz_cifar/two.bin", cifar);
    const std::string tmp_c = fuzz::scratch("seed_cifar");
    put_gz(tmp_c, cifar);
    put(out + "/fuzz_cifar/two.bin.gz", slurp(tmp_c));
  }

  // Command lines, NUL-separated.
  {
    auto line = [&](const char *name, std::vector<std::string> args) {
      std::vector<unsigned char> b;
      for (const std::string &a : args) {
        b.insert(b.end(), a.begin(), a.end());
        b.push_back(0);
      }
      put(out + "/fuzz_cli/" + name, b);
    };
    line("handout", {"--task", "mem", "--model", "gru", "--nhid", "50", "--lr", "0.01", "--min_length", "50",
                     "--maxiters", "50000", "--seed", "52", "--collectDiags", "--satThresh", "0.05", "--name", "A4"});
    line("equals", {"--nhid=8", "--lr=1e-3", "--out-dir=out", "--saveFreq=0.5"});
    line("bad", {"--nhid", "--bs", "--checkfreq", "5", "-x", "--collectDiags=1"});
  }

  // Sweep grids: the committed Slurm grid (run from the repository root, as run.sh does), then file
  // text and --axis pieces after NUL bytes.
  {
    std::vector<unsigned char> seed000;
    if (FILE *fp = std::fopen("scripts/slurm/seed000.grid", "rb")) {
      for (int ch; (ch = std::fgetc(fp)) != EOF;) seed000.push_back(static_cast<unsigned char>(ch));
      std::fclose(fp);
    }
    if (seed000.empty()) die("scripts/slurm/seed000.grid (run from the repository root)");
    put(out + "/fuzz_grid/seed000", seed000);
    auto grid = [&](const char *name, const std::string &text) {
      put(out + "/fuzz_grid/" + name, std::vector<unsigned char>(text.begin(), text.end()));
    };
    grid("axes_and_cli", std::string("--preset main  # shared by every item\n--cell gru gru_reset_before\n") + '\0' +
                             "variant=baseline,ablated" + '\0' + "seed=0,1,2");
    grid("cli_only", std::string(1, '\0') + "lr=1e-3,5e-4" + '\0' + "hidden=32,64,128");
    grid("tabs_blank_lines", "# comment only\n\n\t--epochs\t1 2\r\n--batch 64\n");
    grid("bad_twice", "--seed 1 2\n--seed 3\n");
    // Either side of the million-item limit: 1000 x 1000 is accepted, 4 axes of 32 values refused.
    auto axis = [](const char *flag, int n) {
      std::string t = flag;
      for (int i = 0; i < n; ++i) t += " " + std::to_string(i);
      return t + "\n";
    };
    grid("million", axis("--seed", 1000) + axis("--hidden", 1000));
    grid("over_a_million", axis("--a", 32) + axis("--b", 32) + axis("--c", 32) + axis("--d", 32));
  }

  // images / ablation / run command lines: the sub-command's number (0, 1, 2), then NUL-separated
  // arguments.
  {
    auto cmd = [&](const char *name, unsigned char which, std::vector<std::string> args) {
      std::vector<unsigned char> b{which};
      for (size_t i = 0; i < args.size(); ++i) {
        if (i) b.push_back(0);
        b.insert(b.end(), args[i].begin(), args[i].end());
      }
      put(out + "/fuzz_train_flags/" + name, b);
    };
    cmd("images_main", 0, {"--preset", "main", "--epochs", "1", "--no-progress", "--out=/tmp/x", "--name", "m"});
    cmd("images_bias", 0, {"--bias-init", "z=1.0,r=0.5", "--freeze-bias", "n", "--normalize", "0.5,0.25",
                           "--cell=gru_reset_before", "--init", "cs728_gru"});
    cmd("images_chrono", 0, {"--bias-init=chrono=784", "--permute", "--permute-seed", "7", "--mode", "pixels",
                             "--dataset", "mnist", "--data-dir", "d"});
    cmd("ablation_main", 1, {"--preset=main", "--threads", "2", "--sequential", "--freeze-bias", "z=0.0,r=0.0",
                             "--lr", "1e-3", "--lr-min", "1e-5"});
    cmd("ablation_help", 1, {"--seed", "3", "-h"});
    cmd("run_main", 2, {"--out", "/tmp/r", "--preset", "main", "--variant", "ablated", "--seed", "4", "--threads", "2"});
    cmd("run_full", 2, {"--out=r", "--cell", "gru_reset_before", "--bias=0.5", "--micro-batch", "16", "--batch", "64",
                        "--max-updates", "100", "--checkpoint-every", "10", "--resume", "never", "--reduce", "float",
                        "--backend", "reference"});
    cmd("run_bad", 2, {"--out", "r", "--hiden", "3"});
  }
  std::printf("seeds written under %s\n", out.c_str());
  return 0;
}
