// rnnlab-train run / sweep: one run = one process = one output directory (run.cpp), and a grid of
// such runs expanded in a fixed order for any scheduler (sweep.cpp). README, "Beyond one machine".
#ifndef RNNLAB_TRAIN_RUN_H
#define RNNLAB_TRAIN_RUN_H

#include <string>
#include <utility>
#include <vector>

// Exit statuses a scheduler acts on: 0 finished (a diverged run is a result too), 2 usage or
// configuration error (never worth retrying), 75 interrupted after a checkpoint (EX_TEMPFAIL:
// requeue it), 1 anything else.
constexpr int kRunExitDone = 0;
constexpr int kRunExitFailure = 1;
constexpr int kRunExitUsage = 2;
constexpr int kRunExitRequeue = 75;

// argv[0] == "run". Returns the exit status.
int rnnlab_train_run(int argc, char **argv);
// The same on an argument vector (sweep items); args[0] == "run".
int rnnlab_train_run_args(const std::vector<std::string> &args);
// run's flags parsed exactly as rnnlab_train_run_args parses them, with nothing started (for
// tests/fuzz/fuzz_train_flags.cpp): 0 with *settings = the configuration's items (what its hash
// names), then out, data_dir, threads, checkpoint_every, check_every, stop_after, resume, preset;
// 1 for --help; 2 for a bad command line with the one-line message in *error.
int rnnlab_train_run_parse(const std::vector<std::string> &args, std::vector<std::pair<std::string, std::string>> *settings,
                           std::string *error);
// argv[0] == "sweep".
int rnnlab_train_sweep(int argc, char **argv);
// images / ablation started as one rank of several: a one-line refusal (they are not data-parallel;
// `run` is), or "" when the process is alone.
std::string rnnlab_train_refuse_ranks(const char *command);

#endif
