#include "core/linalg.h"

#include <lapacke.h>

#include <algorithm>
#include <cmath>

#include "core/error.h"

namespace rnnlab {

double spectral_radius(const std::vector<double> &A, int n) {
  std::vector<double> a(A), wr(n), wi(n);
  lapack_int info = LAPACKE_dgeev(LAPACK_ROW_MAJOR, 'N', 'N', n, a.data(), n, wr.data(), wi.data(), nullptr, 1,
                                  nullptr, 1);
  if (info != 0) raise(RNNLAB_E_INTERNAL, "LAPACKE_dgeev failed (info %d)", static_cast<int>(info));
  double rho = 0;
  for (int i = 0; i < n; ++i) rho = std::max(rho, std::hypot(wr[i], wi[i]));
  return rho;
}

double largest_singular_value(const std::vector<double> &A, int rows, int cols) {
  std::vector<double> a(A), s(std::min(rows, cols)), superb(std::max(1, std::min(rows, cols) - 1));
  lapack_int info = LAPACKE_dgesvd(LAPACK_ROW_MAJOR, 'N', 'N', rows, cols, a.data(), cols, s.data(), nullptr, 1,
                                   nullptr, 1, superb.data());
  if (info != 0) raise(RNNLAB_E_INTERNAL, "LAPACKE_dgesvd failed (info %d)", static_cast<int>(info));
  return s.empty() ? 0.0 : s[0];
}

void orthonormalize_columns(std::vector<double> &A, int rows, int cols) {
  std::vector<double> tau(cols);
  lapack_int info = LAPACKE_dgeqrf(LAPACK_ROW_MAJOR, rows, cols, A.data(), cols, tau.data());
  if (info != 0) raise(RNNLAB_E_INTERNAL, "LAPACKE_dgeqrf failed (info %d)", static_cast<int>(info));
  std::vector<double> sign(cols);
  for (int j = 0; j < cols; ++j) sign[j] = A[static_cast<size_t>(j) * cols + j] < 0 ? -1.0 : 1.0;
  info = LAPACKE_dorgqr(LAPACK_ROW_MAJOR, rows, cols, cols, A.data(), cols, tau.data());
  if (info != 0) raise(RNNLAB_E_INTERNAL, "LAPACKE_dorgqr failed (info %d)", static_cast<int>(info));
  for (int i = 0; i < rows; ++i)
    for (int j = 0; j < cols; ++j) A[static_cast<size_t>(i) * cols + j] *= sign[j];
}

}  // namespace rnnlab
