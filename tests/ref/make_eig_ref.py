#!/usr/bin/python3
"""Reference eigenvalues for tests/test_heads.c (run once; output pasted into the test).

tests/ref/eig_stall.npy is a 16x16 float64 matrix: the reduced OV circuit B*A (d_head x d_head,
see heads_copying) of one head of a 1-layer model trained by `mechlab run induction`, dumped when
heads_eigvals' first exceptional shift (centred on 0 instead of the trailing diagonal) stalled on
it: its eigenvalues come in close clusters and near-real complex pairs. numpy.linalg.eigvals
(LAPACK dgeev) gives the reference, printed sorted by real then imaginary part as a C initialiser.
"""
import numpy as np

A = np.load("tests/ref/eig_stall.npy")
w = np.linalg.eigvals(A)
w = sorted(w, key=lambda z: (z.real, z.imag))
print("static const double EIG_STALL[16][2] = {")
for z in w:
    print("    {%.17g, %.17g}," % (z.real, z.imag))
print("};")
