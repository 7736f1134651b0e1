package gemm

// kernelGeneric is the 4×4 microkernel in plain Go (see kernel for the contract). Its sixteen
// accumulators are scalars so that the compiler can keep them in registers.
func kernelGeneric(k int, a []float32, rsA, csA int, b []float32, rsB int, c []float32, ldc int, alpha, beta float32) {
	var c00, c01, c02, c03, c10, c11, c12, c13, c20, c21, c22, c23, c30, c31, c32, c33 float32
	for p, ap, bp := 0, 0, 0; p < k; p, ap, bp = p+1, ap+csA, bp+rsB {
		a0, a1, a2, a3 := a[ap], a[ap+rsA], a[ap+2*rsA], a[ap+3*rsA]
		bv := b[bp : bp+4 : bp+4]
		b0, b1, b2, b3 := bv[0], bv[1], bv[2], bv[3]
		c00 += a0 * b0
		c01 += a0 * b1
		c02 += a0 * b2
		c03 += a0 * b3
		c10 += a1 * b0
		c11 += a1 * b1
		c12 += a1 * b2
		c13 += a1 * b3
		c20 += a2 * b0
		c21 += a2 * b1
		c22 += a2 * b2
		c23 += a2 * b3
		c30 += a3 * b0
		c31 += a3 * b1
		c32 += a3 * b2
		c33 += a3 * b3
	}
	updateRow(c[:4], alpha, beta, c00, c01, c02, c03)
	updateRow(c[ldc:ldc+4], alpha, beta, c10, c11, c12, c13)
	updateRow(c[2*ldc:2*ldc+4], alpha, beta, c20, c21, c22, c23)
	updateRow(c[3*ldc:3*ldc+4], alpha, beta, c30, c31, c32, c33)
}

// updateRow sets row = alpha·acc + beta·row, not reading row when beta == 0.
func updateRow(row []float32, alpha, beta, acc0, acc1, acc2, acc3 float32) {
	row = row[:4]
	if beta == 0 {
		row[0], row[1], row[2], row[3] = alpha*acc0, alpha*acc1, alpha*acc2, alpha*acc3
		return
	}
	row[0] = alpha*acc0 + beta*row[0]
	row[1] = alpha*acc1 + beta*row[1]
	row[2] = alpha*acc2 + beta*row[2]
	row[3] = alpha*acc3 + beta*row[3]
}
