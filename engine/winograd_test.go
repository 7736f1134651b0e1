package engine

import (
	"fmt"
	"testing"
)

// TestWinogradKernelsTileByTile checks the AVX2 input and output-gradient transforms, which walk
// the tiles in the outer loop and the channels in groups of eight in the inner one, against their
// Go twins bit for bit: one tile and many, channel counts of one group, several and a remainder,
// rows padded past the tiles and strides of V and M wider than a chunk's rows.
func TestWinogradKernelsTileByTile(t *testing.T) {
	for _, c := range []int{8, 9, 16, 24, 64, 67} {
		for _, tiles := range []int{1, 2, 7, 16} {
			line := (2*tiles+2)*c + 5
			ldv := (tiles+3)*c + 16
			src := randomValues(4*line, uint64(c*tiles), true)
			dy := randomValues(2*line, uint64(c*tiles+1), true)
			var v, m [][]float32
			withVec(t, func(bool) {
				vi, mi := randomValues(16*ldv, 3, false), randomValues(16*ldv, 3, false)
				winogradInput(src, line, c, tiles, vi, ldv)
				winogradGradOutput(dy, line, c, tiles, mi, ldv)
				v, m = append(v, vi), append(m, mi)
			})
			if len(v) == 2 {
				name := fmt.Sprintf("%d channels, %d tiles", c, tiles)
				sameBits(t, "input transform, "+name, v[1], v[0])
				sameBits(t, "output gradient transform, "+name, m[1], m[0])
			}
		}
	}
}
