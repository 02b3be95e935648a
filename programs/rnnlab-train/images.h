// rnnlab-train's sequential-image sub-commands: `images` (one model) and `ablation` (seed 000's
// baseline and ablated GRU trained side by side on the same batches). Built on the public API only.
#ifndef RNNLAB_TRAIN_IMAGES_H
#define RNNLAB_TRAIN_IMAGES_H

// argv[0] is the sub-command ("images" or "ablation"); the flags follow. Returns the process exit
// status: 0 on success, 2 for a bad command line, 1 for any other failure (a one-line message on
// stderr, and no npz written).
int rnnlab_train_images(int argc, char **argv);

#endif
