// rnnlab-train: the command-line trainer built on rnnlab's public C API.
//
//   rnnlab-train [CS728 flags]          the CS728 PA2 drop-in (cs728.cpp): the starter's flags,
//                                       output lines and npz files
//   rnnlab-train images   [flags]       sequential-image classification (images.cpp)
//   rnnlab-train ablation [flags]       seed 000's GRU bias ablation (images.cpp)
//   rnnlab-train run      [flags]       one model, one output directory; resumable, MPI data-parallel (run.cpp)
//   rnnlab-train sweep    [grid]        a grid of runs for GNU parallel / Slurm job arrays (sweep.cpp)
//
// The CS728 trainer takes no sub-command, so that the handout's command lines run with only the
// program name swapped.
#include <cstdio>
#include <cstring>
#include <string>

#include "run.h"

#if defined(__has_include)
#if __has_include("images.h")
#include "images.h"
#define RNNLAB_TRAIN_HAVE_IMAGES 1
#endif
#endif

// The CS728 trainer (cs728.cpp): argv as main received it; returns the exit status.
int rnnlab_train_cs728(int argc, char **argv);

int main(int argc, char **argv) {
  if (argc > 1 && std::strcmp(argv[1], "run") == 0) return rnnlab_train_run(argc - 1, argv + 1);
  if (argc > 1 && std::strcmp(argv[1], "sweep") == 0) return rnnlab_train_sweep(argc - 1, argv + 1);
  {
    const bool sub = argc > 1 && (std::strcmp(argv[1], "images") == 0 || std::strcmp(argv[1], "ablation") == 0);
    const std::string refusal = rnnlab_train_refuse_ranks(sub ? argv[1] : "the CS728 trainer");
    if (!refusal.empty()) {
      std::fprintf(stderr, "rnnlab-train: error: %s\n", refusal.c_str());
      return 2;
    }
  }
#ifdef RNNLAB_TRAIN_HAVE_IMAGES
  if (argc > 1 && (std::strcmp(argv[1], "images") == 0 || std::strcmp(argv[1], "ablation") == 0))
    return rnnlab_train_images(argc - 1, argv + 1);
#endif
  return rnnlab_train_cs728(argc, argv);
}
