package engine

import (
	"fmt"
	"testing"
)

// TestWinogradKernelsMatchTheGoTwins checks the AVX2 transforms of both forms, which walk the
// tiles in the outer loop and the channels in groups of eight in the inner one, against their Go
// twins bit for bit: one tile and many, channel counts below one group, of one group, several and
// a remainder, rows padded past the tiles and strides of V and M wider than a chunk's rows.
func TestWinogradKernelsMatchTheGoTwins(t *testing.T) {
	for _, f := range []winogradForm{winograd2, winograd4} {
		m, a := f.m, f.m+2
		for _, c := range []int{1, 8, 9, 12, 16, 24, 64, 67} {
			for _, tiles := range []int{1, 2, 7, 16} {
				line := (m*tiles+2)*c + 5 // an input row, or an output (gradient) row
				ld := (tiles+3)*c + 16    // the stride of V's and M's matrices
				src := randomValues(a*line, uint64(c*tiles), true)
				mv := randomValues(a*a*ld, uint64(c*tiles+1), true)
				dy := randomValues(m*line, uint64(c*tiles+2), true)
				var out [][3][]float32
				withVec(t, func(bool) {
					v, y, g := randomValues(a*a*ld, 3, false), randomValues(m*line, 4, false), randomValues(a*a*ld, 5, false)
					f.input(src, line, c, tiles, v, ld)
					f.output(mv, ld, c, tiles, y, line)
					f.gradOutput(dy, line, c, tiles, g, ld)
					out = append(out, [3][]float32{v, y, g})
				})
				if len(out) == 2 {
					name := fmt.Sprintf("F(%d×%d), %d channels, %d tiles", m, m, c, tiles)
					sameBits(t, "input transform, "+name, out[1][0], out[0][0])
					sameBits(t, "output transform, "+name, out[1][1], out[0][1])
					sameBits(t, "output gradient transform, "+name, out[1][2], out[0][2])
				}
			}
		}
	}
}

// TestWinogradFormOf checks that each output size gets the form with fewer products per image,
// F(2×2) on a tie: tiles of 4 pad 14 rows to 16 but still take fewer products than tiles of 2.
func TestWinogradFormOf(t *testing.T) {
	for _, c := range []struct{ h, w, m int }{
		{28, 28, 4}, {14, 14, 4}, {7, 7, 4}, {32, 32, 4}, {3, 3, 4}, {6, 6, 2}, {5, 5, 2}, {2, 2, 2}, {1, 1, 2}, {2, 8, 2},
	} {
		if got := winogradFormOf(Shape{H: c.h, W: c.w, C: 8}).m; got != c.m {
			t.Errorf("%d×%d output: F(%d×%d), want F(%d×%d)", c.h, c.w, got, got, c.m, c.m)
		}
	}
}
