package engine

// The transforms of F(2×2, 3×3) (winograd2), from the interpolation points 0, ±1 and ∞, in Go
// and, in the same order of operations, by the AVX2 kernels (vec_amd64.s).

// winogradInput sets, for the tiles of one tile row, V[ξ][t][·] = (Bᵀ·d·B)[ξ] where d is tile t's
// 4×4 window of c channels, which starts at src[2·t·c] and has rows line apart; V[ξ] starts at
// v[ξ·ldv] with rows of c. Each of the 16 outputs is a sum of at most four inputs with signs,
// computed column by column of B in the same order by the AVX2 kernel.
func winogradInput(src []float32, line, c, tiles int, v []float32, ldv int) {
	j0 := winogradInputVec(src, line, c, tiles, v, ldv)
	for t := range tiles {
		d := src[2*t*c:]
		for ch := j0; ch < c; ch++ {
			at := func(i, j int) float32 { return d[i*line+j*c+ch] }
			for j := range 4 {
				// e[i] = (d·B)[i][j] for row i.
				var e [4]float32
				for i := range 4 {
					switch j {
					case 0:
						e[i] = at(i, 0) - at(i, 2)
					case 1:
						e[i] = at(i, 1) + at(i, 2)
					case 2:
						e[i] = at(i, 2) - at(i, 1)
					case 3:
						e[i] = at(i, 1) - at(i, 3)
					}
				}
				out := [4]float32{e[0] - e[2], e[1] + e[2], e[2] - e[1], e[1] - e[3]}
				for i, x := range out {
					v[(4*i+j)*ldv+t*c+ch] = x
				}
			}
		}
	}
}

// winogradOutput sets, for the tiles of one tile row, the 2×2 outputs Aᵀ·M·A of tile t from
// M[ξ][t][·] (M[ξ] at m[ξ·ldm], rows of f): pixel (a, b) of the tile is y[a·line+(2t+b)·f+·].
func winogradOutput(m []float32, ldm, f, tiles int, y []float32, line int) {
	j0 := winogradOutputVec(m, ldm, f, tiles, y, line)
	for t := range tiles {
		for ch := j0; ch < f; ch++ {
			at := func(i, j int) float32 { return m[(4*i+j)*ldm+t*f+ch] }
			// s[a][j] = (Aᵀ·M)[a][j], then (·A).
			var s0, s1 [4]float32
			for j := range 4 {
				s0[j] = at(0, j) + at(1, j) + at(2, j)
				s1[j] = at(1, j) - at(2, j) - at(3, j)
			}
			y[(2*t)*f+ch] = s0[0] + s0[1] + s0[2]
			y[(2*t+1)*f+ch] = s0[1] - s0[2] - s0[3]
			y[line+(2*t)*f+ch] = s1[0] + s1[1] + s1[2]
			y[line+(2*t+1)*f+ch] = s1[1] - s1[2] - s1[3]
		}
	}
}

// winogradGradOutput sets, for the tiles of one tile row, M[ξ][t][·] = (A·dy·Aᵀ)[ξ] where dy is
// tile t's 2×2 output gradient of f channels, pixel (a, b) at dy[a·line+(2t+b)·f]: the transpose
// of winogradOutput's transform, which the weight gradient multiplies with the tiles' V.
func winogradGradOutput(dy []float32, line, f, tiles int, m []float32, ldm int) {
	j0 := winogradGradOutputVec(dy, line, f, tiles, m, ldm)
	for t := range tiles {
		for ch := j0; ch < f; ch++ {
			d00, d01 := dy[2*t*f+ch], dy[(2*t+1)*f+ch]
			d10, d11 := dy[line+2*t*f+ch], dy[line+(2*t+1)*f+ch]
			// The rows of A·dy, then each row times Aᵀ: (a, b) → (a, a+b, a−b, −b).
			rows := [4][2]float32{{d00, d01}, {d00 + d10, d01 + d11}, {d00 - d10, d01 - d11}, {-d10, -d11}}
			for i, r := range rows {
				a, b := r[0], r[1]
				for j, x := range [4]float32{a, a + b, a - b, -b} {
					m[(4*i+j)*ldm+t*f+ch] = x
				}
			}
		}
	}
}
