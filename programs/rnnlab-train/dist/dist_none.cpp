// A world of one process: rnnlab-train built without MPI (dist.h).
#include "dist.h"

#include <cstdlib>
#include <stdexcept>

namespace rnnlab_dist {

namespace {
// The launcher's size variable, if one set it (OpenMPI, PMIx, PMI, Slurm's srun for MPI).
int launched_size() {
  for (const char *v : {"OMPI_COMM_WORLD_SIZE", "PMIX_SIZE", "PMI_SIZE"}) {
    const char *s = std::getenv(v);
    if (s && *s) return std::atoi(s);
  }
  return 1;
}
}  // namespace

bool built_with_mpi() { return false; }

World init() {
  if (launched_size() > 1)
    throw std::runtime_error(
        "started as one of several MPI ranks, but this rnnlab-train was built without MPI (install "
        "libopenmpi-dev and rebuild: CMake enables the MPI adapter when find_package(MPI) succeeds)");
  return World{};
}
void finalize() {}
void abort_all(int) {}
void allreduce_sum_i64(int64_t *, size_t) {}
void allreduce_max_f64(double *, size_t) {}
void allreduce_sum_f64(double *, size_t) {}
void allreduce_sum_f32(float *, size_t) {}

}  // namespace rnnlab_dist
