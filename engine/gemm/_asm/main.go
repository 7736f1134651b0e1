// Command _asm generates the amd64 microkernels of package gemm with avo.
package main

//go:generate go run . -out ../kernel_amd64.s -stubs ../kernel_amd64_stub.go -pkg gemm

import (
	"fmt"
	"strings"

	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

func main() {
	ConstraintExpr("amd64,!purego")
	for _, rowsA := range []bool{false, true} {
		for _, masked := range []bool{false, true} {
			microkernel("kernelAVX512", 24, 1, true, rowsA, masked)
			microkernel("kernelAVX512M16", 16, 1, true, rowsA, masked)
		}
		microkernel("kernelAVX2", 6, 2, false, rowsA, false)
		microkernel("kernelAVX2N8", 8, 1, false, rowsA, false)
	}
	packCopy()
	packTranspose()
	Generate()
}

// microkernel emits the kernel contract of package gemm (see its type kernel) for an mr×nr tile of
// C held in mr·vecs vector registers, nr = vecs·lanes, with lanes = 16 (zmm, AVX-512) when wide is
// set and 8 (ymm, AVX2+FMA) otherwise. Each k step loads one row of the B sliver and multiplies it
// by each broadcast element of a column of A, so every lane of an accumulator is one C element
// summed in increasing k with one FMA per term. A and B are addressed through strides, so the same
// code reads packed slivers and operands in place.
//
// With rowsA set the kernel (named with suffix Rows) requires csA = 1: it reads A's rows where they
// lie in a row-major matrix and prefetches them prefetchAhead elements ahead. The hardware
// prefetcher does not follow mr streams read a column at a time, and without this the kernel waits
// on memory whenever A is not already in cache.
//
// With masked set (AVX-512 with one vector per row only) the kernel (named with suffix Cols) takes
// one more argument, cols ≤ nr, and reads and writes only the first cols columns of C, through an
// opmask: a microtile cut by C's right edge is computed in place rather than staged.
func microkernel(name string, mr, vecs int, wide, rowsA, masked bool) {
	if rowsA {
		name += "Rows"
	}
	if masked {
		name += "Cols"
	}
	lanes, total := 8, 16
	if wide {
		lanes, total = 16, 32
	}
	vec := func(i int) VecPhysical {
		if wide {
			return []VecPhysical{Z0, Z1, Z2, Z3, Z4, Z5, Z6, Z7, Z8, Z9, Z10, Z11, Z12, Z13, Z14, Z15,
				Z16, Z17, Z18, Z19, Z20, Z21, Z22, Z23, Z24, Z25, Z26, Z27, Z28, Z29, Z30, Z31}[i]
		}
		return []VecPhysical{Y0, Y1, Y2, Y3, Y4, Y5, Y6, Y7, Y8, Y9, Y10, Y11, Y12, Y13, Y14, Y15}[i]
	}
	nr := lanes * vecs
	const unroll = 4

	signature := "func(k int, a []float32, rsA, csA int, b []float32, rsB int, c []float32, ldc int, alpha, beta float32)"
	cols := fmt.Sprint(nr)
	if masked {
		signature = strings.TrimSuffix(signature, ")") + ", cols int)"
		cols = "cols"
	}
	TEXT(name, NOSPLIT, signature)
	Pragma("noescape")
	doc := []string{
		fmt.Sprintf("%s is the %d×%d form of kernelGeneric: for i < %d and j < %s it sets", name, mr, nr, mr, cols),
		"c[i*ldc+j] = alpha·Σ_{p<k} a[i*rsA+p*csA]·b[p*rsB+j] + beta·c[i*ldc+j], summing with FMAs",
		"in increasing p and reading c only when beta != 0. It does not check the slices' lengths.",
	}
	if rowsA {
		doc = append(doc, "csA must be 1: A is read row by row, with prefetching.")
	}
	Doc(doc...)

	// Register plan: accumulators first, then (without embedded broadcast) two broadcast
	// registers, then B registers: two sets where they fit, so that consecutive k steps do not wait
	// on each other's loads.
	embedded := wide && vecs == 1
	next := mr * vecs
	var bcast [2]VecPhysical
	if !embedded {
		bcast = [2]VecPhysical{vec(next), vec(next + 1)}
		next += 2
	}
	sets := min(2, (total-next)/vecs)
	if sets == 0 {
		panic(fmt.Sprintf("%s: %d accumulators leave no room for B in %d registers", name, mr*vecs, total))
	}
	bregs := make([][]VecPhysical, sets)
	for s := range bregs {
		for range vecs {
			bregs[s] = append(bregs[s], vec(next))
			next++
		}
	}
	acc := func(i, v int) VecPhysical { return vec(i*vecs + v) }

	k := Load(Param("k"), GP64())
	rs := Load(Param("rsA"), GP64())
	SHLQ(U8(2), rs)
	rs3 := GP64()
	LEAQ(Mem{Base: rs, Index: rs, Scale: 2}, rs3)
	var cs Register // csA in bytes; a Rows kernel knows it is 4
	if !rowsA {
		cs = Load(Param("csA"), GP64())
		SHLQ(U8(2), cs)
	}
	rsB := Load(Param("rsB"), GP64())
	SHLQ(U8(2), rsB)
	b := Mem{Base: Load(Param("b").Base(), GP64())}

	// Row i of A is read at bases[i/5] + (i%5)·rs: scaled-index addressing with rs and 3·rs reaches
	// five rows from each base, so a k step advances one register per five rows.
	bases := make([]GPVirtual, (mr+4)/5)
	bases[0] = GP64()
	Load(Param("a").Base(), bases[0])
	for t := 1; t < len(bases); t++ {
		bases[t] = GP64()
		LEAQ(Mem{Base: bases[t-1], Index: rs, Scale: 4}, bases[t])
		ADDQ(rs, bases[t])
	}
	row := func(i int) Mem {
		m := Mem{Base: bases[i/5]}
		switch i % 5 {
		case 1, 2, 4:
			m.Index, m.Scale = rs, uint8(i%5)
		case 3:
			m.Index, m.Scale = rs3, 1
		}
		return m
	}

	if rowsA {
		// The next call usually takes the next mr rows: start fetching their first
		// prefetchAhead elements, which the loop's prefetches do not reach.
		next, row0 := GP64(), GP64()
		IMUL3Q(U32(mr), rs, next)
		for t, base := range bases {
			LEAQ(Mem{Base: base, Index: next, Scale: 1}, row0)
			for i := 5 * t; i < min(mr, 5*t+5); i++ {
				m := row(i)
				m.Base = row0
				for off := 0; off < prefetchAhead; off += 16 {
					PREFETCHT0(m.Offset(4 * off))
				}
			}
		}
	}

	for i := range mr {
		for v := range vecs {
			r := acc(i, v)
			if wide {
				VPXORD(r, r, r) // VXORPS on zmm would need AVX512DQ
			} else {
				VXORPS(r, r, r)
			}
		}
	}

	// step emits k step u of an unrolled group. A row-major A is addressed by displacement within
	// the group and its bases advance once per group (by advance); otherwise they advance by csA
	// every step.
	step := func(u int) {
		bs := bregs[u%len(bregs)]
		for v := range vecs {
			VMOVUPS(b.Offset(v*lanes*4), bs[v])
		}
		for i := range mr {
			ai := row(i)
			if rowsA {
				ai = ai.Offset(4 * u)
				if i%unroll == u {
					PREFETCHT0(ai.Offset(4 * prefetchAhead))
				}
			}
			if embedded {
				VFMADD231PS_BCST(ai, bs[0], acc(i, 0))
				continue
			}
			bc := bcast[i%2]
			VBROADCASTSS(ai, bc)
			for v := range vecs {
				VFMADD231PS(bs[v], bc, acc(i, v))
			}
		}
		if !rowsA {
			for _, base := range bases {
				ADDQ(cs, base)
			}
		}
		ADDQ(rsB, b.Base)
	}
	advance := func(steps int) {
		if rowsA {
			for _, base := range bases {
				ADDQ(U8(4*steps), base)
			}
		}
	}

	n := GP64()
	MOVQ(k, n)
	SHRQ(U8(2), n)
	JZ(LabelRef("tail"))
	Label("loop")
	for u := range unroll {
		step(u)
	}
	advance(unroll)
	DECQ(n)
	JNZ(LabelRef("loop"))

	Label("tail")
	ANDQ(U8(unroll-1), k)
	JZ(LabelRef("update"))
	Label("tailloop")
	step(0)
	advance(1)
	DECQ(k)
	JNZ(LabelRef("tailloop"))

	// C = alpha·acc, then C += beta·C_old fused, skipping the read of C when beta is ±0. Every
	// vector register but the accumulators is free now.
	Label("update")
	c := Mem{Base: Load(Param("c").Base(), GP64())}
	ldc := Load(Param("ldc"), GP64())
	SHLQ(U8(2), ldc)
	valpha, vbeta := vec(mr*vecs), vec(mr*vecs+1)
	// alpha = 1, the convolutions' only alpha, leaves the sums as they are: skip the products,
	// which would take FMA-port slots from short k loops.
	alphaBits := GP32()
	MOVL(param("alpha"), alphaBits)
	CMPL(alphaBits, U32(0x3f800000))
	JE(LabelRef("scaled"))
	VBROADCASTSS(param("alpha"), valpha)
	for i := range mr {
		for v := range vecs {
			VMULPS(valpha, acc(i, v), acc(i, v))
		}
	}
	Label("scaled")
	if masked {
		// K1 = the low cols bits.
		n, ones := GP64(), GP64()
		MOVQ(param("cols"), n)
		MOVQ(U32(0xffff), ones)
		BZHIQ(n, ones, ones)
		KMOVW(ones.As32(), K1)
	}
	rows := func(withBeta bool) {
		for i := range mr {
			for v := range vecs {
				if withBeta {
					if masked {
						VMOVUPS_Z(c.Offset(v*lanes*4), K1, valpha)
						VFMADD231PS(valpha, vbeta, acc(i, v))
					} else {
						VFMADD231PS(c.Offset(v*lanes*4), vbeta, acc(i, v))
					}
				}
				if masked {
					VMOVUPS(acc(i, v), K1, c.Offset(v*lanes*4))
				} else {
					VMOVUPS(acc(i, v), c.Offset(v*lanes*4))
				}
			}
			if i < mr-1 {
				ADDQ(ldc, c.Base)
			}
		}
		VZEROUPPER()
		RET()
	}
	betaBits := GP32()
	MOVL(param("beta"), betaBits)
	SHLL(U8(1), betaBits) // drop the sign so that -0 counts as zero
	JZ(LabelRef("overwrite"))
	VBROADCASTSS(param("beta"), vbeta)
	rows(true)
	Label("overwrite")
	rows(false)
}

// prefetchAhead is how many elements ahead a Rows kernel prefetches each row of A: 32 k steps
// take some 800 cycles, about a trip to memory; farther measured slower on Zen 4.
const prefetchAhead = 32

// param returns the stack address of a scalar argument.
func param(name string) Mem {
	p, err := Param(name).Resolve()
	if err != nil {
		panic(err)
	}
	return p.Addr
}
