// dist.h over MPI. MPI is initialised only when a launcher started the process, so the same binary
// runs stand-alone without touching MPI at all (no singleton start-up, nothing to finalise).
#include "dist.h"

// The C API only: OpenMPI's and MPICH's deprecated C++ bindings would need their C++ library too.
#define OMPI_SKIP_MPICXX 1
#define MPICH_SKIP_MPICXX 1
#include <mpi.h>

#include <climits>
#include <cstdlib>
#include <stdexcept>
#include <string>

namespace rnnlab_dist {

namespace {
World g_world;
bool g_started = false;

bool launched() {
  for (const char *v : {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK", "PMI_SIZE"}) {
    const char *s = std::getenv(v);
    if (s && *s) return true;
  }
  return false;
}

void check(int rc, const char *what) {
  if (rc != MPI_SUCCESS) {
    char msg[MPI_MAX_ERROR_STRING];
    int len = 0;
    MPI_Error_string(rc, msg, &len);
    throw std::runtime_error(std::string(what) + ": " + std::string(msg, static_cast<size_t>(len)));
  }
}

// MPI counts are int: long buffers go in pieces.
template <class T, class F>
void chunked(T *values, size_t count, F op) {
  const size_t step = static_cast<size_t>(INT_MAX / 2);
  for (size_t off = 0; off < count; off += step) {
    const size_t n = count - off < step ? count - off : step;
    op(values + off, static_cast<int>(n));
  }
}
}  // namespace

bool built_with_mpi() { return true; }

World init() {
  if (g_started || !launched()) return g_world;
  int already = 0;
  MPI_Initialized(&already);
  if (!already) check(MPI_Init(nullptr, nullptr), "MPI_Init");
  // Errors come back as codes (and become exceptions) instead of aborting inside MPI.
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  check(MPI_Comm_rank(MPI_COMM_WORLD, &g_world.rank), "MPI_Comm_rank");
  check(MPI_Comm_size(MPI_COMM_WORLD, &g_world.size), "MPI_Comm_size");
  g_world.mpi = true;
  g_started = true;
  return g_world;
}

void finalize() {
  if (!g_world.mpi) return;
  int done = 0;
  MPI_Finalized(&done);
  if (!done) MPI_Finalize();
  g_world.mpi = false;
}

void abort_all(int code) {
  if (g_world.mpi && g_world.size > 1) MPI_Abort(MPI_COMM_WORLD, code);
}

void allreduce_sum_i64(int64_t *v, size_t count) {
  if (!g_world.mpi || g_world.size == 1) return;
  chunked(v, count, [](int64_t *p, int n) {
    check(MPI_Allreduce(MPI_IN_PLACE, p, n, MPI_INT64_T, MPI_SUM, MPI_COMM_WORLD), "MPI_Allreduce (int64 sum)");
  });
}
void allreduce_max_f64(double *v, size_t count) {
  if (!g_world.mpi || g_world.size == 1) return;
  chunked(v, count, [](double *p, int n) {
    check(MPI_Allreduce(MPI_IN_PLACE, p, n, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD), "MPI_Allreduce (max)");
  });
}
void allreduce_sum_f64(double *v, size_t count) {
  if (!g_world.mpi || g_world.size == 1) return;
  chunked(v, count, [](double *p, int n) {
    check(MPI_Allreduce(MPI_IN_PLACE, p, n, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD), "MPI_Allreduce (double sum)");
  });
}
void allreduce_sum_f32(float *v, size_t count) {
  if (!g_world.mpi || g_world.size == 1) return;
  chunked(v, count, [](float *p, int n) {
    check(MPI_Allreduce(MPI_IN_PLACE, p, n, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD), "MPI_Allreduce (float sum)");
  });
}

}  // namespace rnnlab_dist
