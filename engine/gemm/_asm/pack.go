package main

import (
	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

// packCopy emits the copying loop of package gemm's pack (its !oMajor case) for whole slivers: for
// p < n and q < slivers it copies w floats from src[p*ld+q*w:] to dst[q*w*n+p*w:], w a multiple of
// 8. It runs along the rows of src, which the hardware prefetcher follows, rather than down one
// sliver at a time.
func packCopy() {
	TEXT("packCopyAVX2", NOSPLIT, "func(n int, src []float32, ld int, dst []float32, w, slivers int)")
	Pragma("noescape")
	Doc("packCopyAVX2 is the copying case of packGeneric for whole slivers: for p < n, q < slivers",
		"and o < w it sets dst[q*w*n+p*w+o] = src[p*ld+q*w+o]. w must be a positive multiple of 8 and",
		"slivers positive; it does not check the slices' lengths.")
	n := Load(Param("n"), GP64())
	src := Load(Param("src").Base(), GP64())
	ld := Load(Param("ld"), GP64())
	SHLQ(U8(2), ld)
	dst := Load(Param("dst").Base(), GP64())
	w := Load(Param("w"), GP64())
	SHLQ(U8(2), w) // bytes per packed row
	wn := GP64()   // bytes per sliver
	MOVQ(w, wn)
	IMULQ(n, wn)
	TESTQ(n, n)
	JZ(LabelRef("done"))

	Label("row")
	q, s, d := GP64(), GP64(), GP64()
	Load(Param("slivers"), q)
	MOVQ(src, s)
	MOVQ(dst, d)
	Label("sliver")
	o := GP64()
	XORQ(o, o)
	Label("vec")
	y := YMM()
	VMOVUPS(Mem{Base: s, Index: o, Scale: 1}, y)
	VMOVUPS(y, Mem{Base: d, Index: o, Scale: 1})
	ADDQ(U8(32), o)
	CMPQ(o, w)
	JB(LabelRef("vec"))
	ADDQ(w, s)
	ADDQ(wn, d)
	DECQ(q)
	JNZ(LabelRef("sliver"))
	ADDQ(ld, src)
	ADDQ(w, dst)
	DECQ(n)
	JNZ(LabelRef("row"))

	Label("done")
	VZEROUPPER()
	RET()
}

// packTranspose emits the transposing loop of package gemm's pack (its oMajor case, for one whole
// sliver) with 8×8 in-register transposes: for p < n and o < w it sets dst[p*w+o] = src[o*ld+p],
// w and n multiples of 8.
func packTranspose() {
	TEXT("packTransposeAVX2", NOSPLIT, "func(n int, src []float32, ld int, dst []float32, w int)")
	Pragma("noescape")
	Doc("packTransposeAVX2 is the transposing case of packGeneric for one sliver: for p < n and o < w",
		"it sets dst[p*w+o] = src[o*ld+p]. n and w must be positive multiples of 8; it does not check",
		"the slices' lengths.")
	n := Load(Param("n"), GP64())
	SHRQ(U8(3), n) // 8-column blocks
	src := Load(Param("src").Base(), GP64())
	ld := Load(Param("ld"), GP64())
	SHLQ(U8(2), ld)
	ld3 := GP64()
	LEAQ(Mem{Base: ld, Index: ld, Scale: 2}, ld3)
	dst := Load(Param("dst").Base(), GP64())
	w := Load(Param("w"), GP64())
	SHLQ(U8(2), w) // bytes per packed row
	w3 := GP64()
	LEAQ(Mem{Base: w, Index: w, Scale: 2}, w3)
	TESTQ(n, n)
	JZ(LabelRef("done"))

	// Each 8×8 block reads rows o..o+7, columns p..p+7 of src and writes packed rows p..p+7,
	// columns o..o+7 of dst. Rows are reached from two bases four rows apart.
	Label("colblock")
	o := GP64()
	Load(Param("w"), o)
	SHRQ(U8(3), o)
	s0, d0 := GP64(), GP64()
	MOVQ(src, s0)
	MOVQ(dst, d0)
	Label("rowblock")
	s4, d4 := GP64(), GP64()
	LEAQ(Mem{Base: s0, Index: ld, Scale: 4}, s4)
	LEAQ(Mem{Base: d0, Index: w, Scale: 4}, d4)
	at := func(base, stride, stride3 Register, i int) Mem {
		switch i {
		case 0:
			return Mem{Base: base}
		case 1, 2:
			return Mem{Base: base, Index: stride, Scale: uint8(i)}
		default:
			return Mem{Base: base, Index: stride3, Scale: 1}
		}
	}
	row := func(i int) Mem {
		if i < 4 {
			return at(s0, ld, ld3, i)
		}
		return at(s4, ld, ld3, i-4)
	}
	out := func(j int) Mem {
		if j < 4 {
			return at(d0, w, w3, j)
		}
		return at(d4, w, w3, j-4)
	}
	var r, t, sh [8]VecVirtual
	for i := range r {
		r[i] = YMM()
		VMOVUPS(row(i), r[i])
	}
	for i := 0; i < 8; i += 2 {
		t[i], t[i+1] = YMM(), YMM()
		VUNPCKLPS(r[i+1], r[i], t[i])
		VUNPCKHPS(r[i+1], r[i], t[i+1])
	}
	for h := 0; h < 8; h += 4 {
		for i, imm := range []uint8{0x44, 0xee, 0x44, 0xee} {
			sh[h+i] = YMM()
			VSHUFPS(U8(imm), t[h+2+i/2], t[h+i/2], sh[h+i])
		}
	}
	for j := range 4 {
		lo, hi := YMM(), YMM()
		VPERM2F128(U8(0x20), sh[4+j], sh[j], lo)
		VPERM2F128(U8(0x31), sh[4+j], sh[j], hi)
		VMOVUPS(lo, out(j))
		VMOVUPS(hi, out(j+4))
	}
	LEAQ(Mem{Base: s0, Index: ld, Scale: 8}, s0)
	ADDQ(U8(32), d0)
	DECQ(o)
	JNZ(LabelRef("rowblock"))

	ADDQ(U8(32), src)
	LEAQ(Mem{Base: dst, Index: w, Scale: 8}, dst)
	DECQ(n)
	JNZ(LabelRef("colblock"))

	Label("done")
	VZEROUPPER()
	RET()
}
