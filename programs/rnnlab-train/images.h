// rnnlab-train's sequential-image sub-commands: `images` (one model) and `ablation` (seed 000's
// baseline and ablated GRU trained side by side on the same batches). Built on the public API only.
#ifndef RNNLAB_TRAIN_IMAGES_H
#define RNNLAB_TRAIN_IMAGES_H

#include <string>
#include <utility>
#include <vector>

// argv[0] is the sub-command ("images" or "ablation"); the flags follow. Returns the process exit
// status: 0 on success, 2 for a bad command line, 1 for any other failure (a one-line message on
// stderr, and no npz written).
int rnnlab_train_images(int argc, char **argv);

// The flags parsed exactly as rnnlab_train_images parses them, with nothing read or trained (for
// tests/fuzz/fuzz_train_flags.cpp). Returns 0 and fills *settings with every resolved option as
// name/value pairs (numbers as %.17g / %lld), 1 for --help, 2 for a bad command line with the
// one-line message in *error.
int rnnlab_train_images_parse(int argc, char **argv, std::vector<std::pair<std::string, std::string>> *settings,
                              std::string *error);

#endif
