// Small dense linear algebra on LAPACKE (OpenBLAS): spectra for diagnostics, QR for initialisation.
#ifndef RNNLAB_CORE_LINALG_H
#define RNNLAB_CORE_LINALG_H

#include <vector>

namespace rnnlab {

// max |eigenvalue| of the n x n row-major matrix A.
double spectral_radius(const std::vector<double> &A, int n);
// Largest singular value of the rows x cols row-major matrix A.
double largest_singular_value(const std::vector<double> &A, int rows, int cols);
// Replaces the rows x cols (rows >= cols) row-major A by the Q of its QR decomposition with the
// signs of R's diagonal folded in (so Q is uniformly distributed when A is Gaussian).
void orthonormalize_columns(std::vector<double> &A, int rows, int cols);

}  // namespace rnnlab

#endif
