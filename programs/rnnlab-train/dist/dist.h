// The few collective operations rnnlab-train's data-parallel training needs, behind a plain
// interface so that neither the library nor the rest of the trainer depends on MPI. dist_mpi.cpp
// implements it over MPI (built when CMake's find_package(MPI) succeeds); dist_none.cpp is a world
// of one process, and refuses to run as one rank of several (so a job started by mpirun with a
// trainer built without MPI fails loudly instead of training N independent copies).
#ifndef RNNLAB_TRAIN_DIST_H
#define RNNLAB_TRAIN_DIST_H

#include <cstddef>
#include <cstdint>
#include <string>

namespace rnnlab_dist {

struct World {
  int rank = 0;
  int size = 1;
  bool mpi = false;  // MPI was initialised (and must be finalised)
};

// True when this binary was built with an MPI adapter.
bool built_with_mpi();
// Initialises MPI when the process was started by an MPI launcher (mpirun, srun --mpi=pmix), else
// returns a world of one. Throws std::runtime_error (a one-line reason) when started by a launcher
// and this binary has no MPI. Idempotent.
World init();
// Finalises MPI if init started it. Call after the last collective, on every rank.
void finalize();
// Ends every rank of the job at once with `code` (a failing rank must not leave the others waiting
// in a collective forever). Returns only in a world of one.
void abort_all(int code);

// In-place element-wise reductions over every rank (no-ops in a world of one). Integer sums and
// maxima are exact and do not depend on the order or the reduction algorithm.
void allreduce_sum_i64(int64_t *values, size_t count);
void allreduce_max_f64(double *values, size_t count);
// Floating-point sums: the result may depend on the rank count and the algorithm (the baseline the
// exact reduction is measured against), except where every value but one per entry is 0.
void allreduce_sum_f64(double *values, size_t count);
void allreduce_sum_f32(float *values, size_t count);

}  // namespace rnnlab_dist

#endif
