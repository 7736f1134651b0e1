// Command _asm generates the AVX2 kernels of Winograd's F(4×4, 3×3) for package engine with avo.
//
// Each kernel handles one tile row, tile by tile and within a tile eight channels at a time: it
// applies a 1-D transform to the rows of the tile, storing the results on the stack, and then to
// their columns. The 1-D transforms (bt6, at6, a4) do the operations of the Go twins of the same
// names in engine/winograd4.go in the same order; every multiplication there is by a power of two,
// exact, so a fused multiply-add rounds as the Go code's product and sum do, and both give the
// same bits.
package main

//go:generate go run . -out ../winograd4_amd64.s -stubs ../winograd4_amd64_stub.go -pkg engine

import (
	"math"

	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

func main() {
	ConstraintExpr("amd64,!purego")
	input()
	output()
	gradOutput()
	Generate()
}

// constant returns a ymm register holding x in every lane.
func constant(x float32) VecVirtual {
	r, v := GP32(), YMM()
	MOVL(U32(math.Float32bits(x)), r)
	x0 := XMM()
	MOVD(r, x0)
	VBROADCASTSS(x0, v)
	return v
}

// load returns a new register holding the eight floats at m.
func load(m Mem) VecVirtual {
	v := YMM()
	VMOVUPS(m, v)
	return v
}

// strided returns the addresses base + k·stride for k < n (n ≤ 6), through scaled-index addressing
// from base and, for k ≥ 3, from a second register it sets to base + 3·stride.
func strided(base, stride Register, n int) []Mem {
	ms := []Mem{{Base: base}, {Base: base, Index: stride, Scale: 1}, {Base: base, Index: stride, Scale: 2}}
	if n > 3 {
		b3 := GP64()
		LEAQ(Mem{Base: base, Index: stride, Scale: 2}, b3)
		ADDQ(stride, b3)
		ms = append(ms, Mem{Base: b3}, Mem{Base: b3, Index: stride, Scale: 1}, Mem{Base: b3, Index: stride, Scale: 2})
	}
	return ms[:n]
}

// consts are the ymm constants the transforms multiply by.
type consts struct{ two, four, eight VecVirtual }

// bt6 stores Bᵀ·d to out, for d read from in.
func (k consts) bt6(in, out []Mem) {
	d2, t0 := load(in[2]), load(in[4])
	VFNMADD231PS(d2, k.four, t0) // t0 = d4 − 4·d2
	d1, t1 := load(in[1]), load(in[3])
	VFNMADD231PS(d1, k.four, t1) // t1 = d3 − 4·d1
	a := load(in[0])
	VFMSUB213PS(d2, k.four, a) // 4·d0 − d2
	e := YMM()
	VADDPS(a, t0, e)
	VMOVUPS(e, out[0])
	VADDPS(t1, t0, e)
	VMOVUPS(e, out[1])
	VSUBPS(t1, t0, e)
	VMOVUPS(e, out[2])
	t2, s := load(in[4]), load(in[3])
	VSUBPS(d2, t2, t2) // t2 = d4 − d2
	VSUBPS(d1, s, s)   // s = d3 − d1
	VMOVAPS(t2, e)
	VFMADD231PS(s, k.two, e)
	VMOVUPS(e, out[3])
	VFNMADD231PS(s, k.two, t2)
	VMOVUPS(t2, out[4])
	b := load(in[5])
	VFNMADD231PS(in[3], k.four, b) // d5 − 4·d3
	VFMSUB213PS(in[3], k.four, d1) // 4·d1 − d3
	VADDPS(d1, b, b)
	VMOVUPS(b, out[5])
}

// at6 stores Aᵀ·m to out, for m read from in.
func (k consts) at6(in, out []Mem) {
	d12, s12 := load(in[1]), YMM()
	VADDPS(in[2], d12, s12)
	VSUBPS(in[2], d12, d12)
	d34, s34 := load(in[3]), YMM()
	VADDPS(in[4], d34, s34)
	VSUBPS(in[4], d34, d34)
	y := load(in[0])
	VADDPS(s12, y, y)
	VADDPS(s34, y, y)
	VMOVUPS(y, out[0])
	VMOVAPS(d12, y)
	VFMADD231PS(d34, k.two, y)
	VMOVUPS(y, out[1])
	VFMADD231PS(s34, k.four, s12)
	VMOVUPS(s12, out[2])
	VFMADD231PS(d34, k.eight, d12)
	VADDPS(in[5], d12, d12)
	VMOVUPS(d12, out[3])
}

// a4 stores A·d to out, for d read from in.
func (k consts) a4(in, out []Mem) {
	d0, e := load(in[0]), YMM()
	VMOVUPS(d0, out[0])
	VADDPS(in[2], d0, e)
	d1, o := load(in[1]), YMM()
	VADDPS(in[3], d1, o)
	g := YMM()
	VADDPS(o, e, g)
	VMOVUPS(g, out[1])
	VSUBPS(o, e, e)
	VMOVUPS(e, out[2])
	VFMADD231PS(in[2], k.four, d0) // d0 + 4·d2
	VFMADD231PS(in[3], k.four, d1) // d1 + 4·d3
	VMOVAPS(d0, g)
	VFMADD231PS(d1, k.two, g)
	VMOVUPS(g, out[3])
	VFNMADD231PS(d1, k.two, d0)
	VMOVUPS(d0, out[4])
	d3 := load(in[3])
	VMOVUPS(d3, out[5])
}

// kernel emits the loops over the tiles of a tile row and the channels of a tile shared by the
// three kernels: for each group of eight channels of a tile it calls body with their addresses in
// the source and the destination (registers body may change) and the channel count in bytes; it
// advances from tile to tile by srcStep and dstStep times the channel count.
// Parameters: the source and destination slices, the channel count and its multiple of eight
// (in, bytes after scaling), the tile count.
func kernel(src, dst, c, c8 string, srcStep, dstStep int, body func(s, d, cb Register)) {
	sp := Load(Param(src).Base(), GP64())
	dp := Load(Param(dst).Base(), GP64())
	cb := Load(Param(c), GP64())
	SHLQ(U8(2), cb)
	c8b := Load(Param(c8), GP64())
	SHLQ(U8(2), c8b)
	tiles := Load(Param("tiles"), GP64())
	ch := GP64()
	Label("tile")
	TESTQ(tiles, tiles)
	JZ(LabelRef("done"))
	XORQ(ch, ch)
	Label("channel")
	s, d := GP64(), GP64()
	LEAQ(Mem{Base: sp, Index: ch, Scale: 1}, s)
	LEAQ(Mem{Base: dp, Index: ch, Scale: 1}, d)
	body(s, d, cb)
	ADDQ(U8(32), ch)
	CMPQ(ch, c8b)
	JL(LabelRef("channel"))
	for range srcStep {
		ADDQ(cb, sp)
	}
	for range dstStep {
		ADDQ(cb, dp)
	}
	DECQ(tiles)
	JMP(LabelRef("tile"))
	Label("done")
	VZEROUPPER()
	RET()
}

// stack returns the addresses of a 6-column matrix of ymm values on the stack, row major.
func stack(tmp Mem) func(i, j int) Mem {
	return func(i, j int) Mem { return tmp.Offset(32 * (6*i + j)) }
}

// scaled returns a register holding the parameter times 4·times, bytes in times rows.
func scaled(param string, times int) Register {
	r := Load(Param(param), GP64())
	SHLQ(U8(2), r)
	if times > 1 {
		IMUL3Q(U32(times), r, r)
	}
	return r
}

func input() {
	TEXT("winoInput4AVX2", 0, "func(src []float32, line, c, c8, tiles int, v []float32, ldv int)")
	Pragma("noescape")
	Doc("winoInput4AVX2 is winograd4Input for the channels below c8, a multiple of 8.")
	k := consts{two: constant(2), four: constant(4)}
	line, ldv, ldv6 := scaled("line", 1), scaled("ldv", 1), scaled("ldv", 6)
	tmp := stack(AllocLocal(36 * 32))
	kernel("src", "v", "c", "c8", 4, 1, func(row, col, cb Register) {
		for i := range 6 {
			out := make([]Mem, 6)
			for j := range out {
				out[j] = tmp(i, j)
			}
			k.bt6(strided(row, cb, 6), out)
			if i < 5 {
				ADDQ(line, row)
			}
		}
		for j := range 6 {
			in := make([]Mem, 6)
			for i := range in {
				in[i] = tmp(i, j)
			}
			k.bt6(in, strided(col, ldv6, 6))
			if j < 5 {
				ADDQ(ldv, col)
			}
		}
	})
}

func output() {
	TEXT("winoOutput4AVX2", 0, "func(m []float32, ldm, f, f8, tiles int, y []float32, line int)")
	Pragma("noescape")
	Doc("winoOutput4AVX2 is winograd4Output for the filters below f8, a multiple of 8.")
	k := consts{two: constant(2), four: constant(4), eight: constant(8)}
	line, ldm, ldm6 := scaled("line", 1), scaled("ldm", 1), scaled("ldm", 6)
	tmp := stack(AllocLocal(24 * 32))
	kernel("m", "y", "f", "f8", 1, 4, func(col, row, fb Register) {
		for j := range 6 {
			out := make([]Mem, 4)
			for a := range out {
				out[a] = tmp(a, j)
			}
			k.at6(strided(col, ldm6, 6), out)
			if j < 5 {
				ADDQ(ldm, col)
			}
		}
		for a := range 4 {
			in := make([]Mem, 6)
			for j := range in {
				in[j] = tmp(a, j)
			}
			k.at6(in, strided(row, fb, 4))
			if a < 3 {
				ADDQ(line, row)
			}
		}
	})
}

func gradOutput() {
	TEXT("winoGradOut4AVX2", 0, "func(dy []float32, line, f, f8, tiles int, m []float32, ldm int)")
	Pragma("noescape")
	Doc("winoGradOut4AVX2 is winograd4GradOutput for the filters below f8, a multiple of 8.")
	k := consts{two: constant(2), four: constant(4)}
	line, ldm, ldm6 := scaled("line", 1), scaled("ldm", 1), scaled("ldm", 6)
	tmp := stack(AllocLocal(24 * 32))
	kernel("dy", "m", "f", "f8", 4, 1, func(row, col, fb Register) {
		for a := range 4 {
			out := make([]Mem, 6)
			for j := range out {
				out[j] = tmp(a, j)
			}
			k.a4(strided(row, fb, 4), out)
			if a < 3 {
				ADDQ(line, row)
			}
		}
		for j := range 6 {
			in := make([]Mem, 4)
			for a := range in {
				in[a] = tmp(a, j)
			}
			k.a4(in, strided(col, ldm6, 6))
			if j < 5 {
				ADDQ(ldm, col)
			}
		}
	})
}
