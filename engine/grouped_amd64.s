//go:build !purego

#include "textflag.h"

// The AVX2 and FMA forms of the grouped convolution's kernels; grouped.go documents the math of
// each and its Go twin, which sums in the same order but rounds every product, where these fuse
// the multiply-adds. A vector is eight channels: one group of 8, or two groups of 4. A tap is a
// pair of int offsets in float32s: into src from a pixel's, and into the weights (or the weight
// gradient) of a vector.

// c4Sum sets a0 to ((a0 + ρ_1(a1)) + ρ_2(a2)) + ρ_3(a3), ρ_r rotating each lane so that element
// co takes element (co−r) mod 4.
#define c4Sum(a0, a1, a2, a3) \
	VPERMILPS $0x93, a1, a1; \
	VPERMILPS $0x4E, a2, a2; \
	VPERMILPS $0x39, a3, a3; \
	VADDPS    a1, a0, a0;    \
	VADDPS    a2, a0, a0;    \
	VADDPS    a3, a0, a0

// func groupedConv4AVX2(dst []float32, ds int, src []float32, ss int, n int, taps []int, w []float32, nv int, wv int, add bool)
//
// Three pixels at a time, then one: for each vector, the four accumulators A_r of pixel p in
// Y(4p)–Y(4p+3), the pixels' inputs in Y12–Y14, a weight vector W_r in Y15. Unless add is set, a
// tail of one or two pixels is the last three pixels once more, which sets the overlapping ones
// to the same values again; with add, or fewer than three pixels in all, it is taken one pixel
// at a time.
TEXT ·groupedConv4AVX2(SB), NOSPLIT, $0-137
	MOVQ dst_base+0(FP), DI
	MOVQ ds+24(FP), R8
	SHLQ $2, R8
	MOVQ src_base+32(FP), SI
	MOVQ ss+56(FP), R9
	SHLQ $2, R9
	MOVQ n+64(FP), CX
	MOVQ taps_base+72(FP), R10
	MOVQ taps_len+80(FP), R11
	LEAQ (R10)(R11*8), R11
	MOVQ w_base+96(FP), R12
	MOVQ wv+128(FP), R14
	SHLQ $2, R14

c4Block:
	CMPQ  CX, $3
	JGE   c4Three
	TESTQ CX, CX
	JZ    c4Done
	CMPB  add+136(FP), $0
	JNE   c4Single
	CMPQ  n+64(FP), $3
	JL    c4Single
	// Step back to the last three pixels.
	MOVQ  $3, DX
	SUBQ  CX, DX
	MOVQ  DX, AX
	IMULQ R9, DX
	SUBQ  DX, SI
	IMULQ R8, AX
	SUBQ  AX, DI
	MOVQ  $3, CX

c4Three:
	MOVQ R12, AX
	MOVQ nv+120(FP), R13

c4ThreeVec:
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	VXORPS Y4, Y4, Y4
	VXORPS Y5, Y5, Y5
	VXORPS Y6, Y6, Y6
	VXORPS Y7, Y7, Y7
	VXORPS Y8, Y8, Y8
	VXORPS Y9, Y9, Y9
	VXORPS Y10, Y10, Y10
	VXORPS Y11, Y11, Y11
	MOVQ   R10, DX
	CMPQ   DX, R11
	JAE    c4ThreeSum

c4ThreeTap:
	MOVQ        (DX), R15
	MOVQ        8(DX), BX
	LEAQ        (SI)(R15*4), R15
	LEAQ        (AX)(BX*4), BX
	VMOVUPS     (R15), Y12
	VMOVUPS     (R15)(R9*1), Y13
	VMOVUPS     (R15)(R9*2), Y14
	VMOVUPS     (BX), Y15
	VFMADD231PS Y15, Y12, Y0
	VFMADD231PS Y15, Y13, Y4
	VFMADD231PS Y15, Y14, Y8
	VMOVUPS     32(BX), Y15
	VFMADD231PS Y15, Y12, Y1
	VFMADD231PS Y15, Y13, Y5
	VFMADD231PS Y15, Y14, Y9
	VMOVUPS     64(BX), Y15
	VFMADD231PS Y15, Y12, Y2
	VFMADD231PS Y15, Y13, Y6
	VFMADD231PS Y15, Y14, Y10
	VMOVUPS     96(BX), Y15
	VFMADD231PS Y15, Y12, Y3
	VFMADD231PS Y15, Y13, Y7
	VFMADD231PS Y15, Y14, Y11
	ADDQ        $16, DX
	CMPQ        DX, R11
	JB          c4ThreeTap

c4ThreeSum:
	// y = ((A_0 + ρ_1) + ρ_2) + ρ_3, ρ_r taking lane element co from (co−r) mod 4.
	c4Sum(Y0, Y1, Y2, Y3)
	c4Sum(Y4, Y5, Y6, Y7)
	c4Sum(Y8, Y9, Y10, Y11)
	CMPB   add+136(FP), $0
	JE     c4ThreeStore
	VADDPS (DI), Y0, Y0
	VADDPS (DI)(R8*1), Y4, Y4
	VADDPS (DI)(R8*2), Y8, Y8

c4ThreeStore:
	VMOVUPS Y0, (DI)
	VMOVUPS Y4, (DI)(R8*1)
	VMOVUPS Y8, (DI)(R8*2)
	ADDQ    $32, SI
	ADDQ    $32, DI
	ADDQ    R14, AX
	DECQ    R13
	JNZ     c4ThreeVec
	MOVQ    nv+120(FP), R13
	SHLQ    $5, R13
	SUBQ    R13, SI
	SUBQ    R13, DI
	LEAQ    (SI)(R9*2), SI
	ADDQ    R9, SI
	LEAQ    (DI)(R8*2), DI
	ADDQ    R8, DI
	SUBQ    $3, CX
	JMP     c4Block

c4Single:
	MOVQ R12, AX
	MOVQ nv+120(FP), R13

c4SingleVec:
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	MOVQ   R10, DX
	CMPQ   DX, R11
	JAE    c4SingleSum

c4SingleTap:
	MOVQ        (DX), R15
	MOVQ        8(DX), BX
	VMOVUPS     (SI)(R15*4), Y8
	LEAQ        (AX)(BX*4), BX
	VFMADD231PS (BX), Y8, Y0
	VFMADD231PS 32(BX), Y8, Y1
	VFMADD231PS 64(BX), Y8, Y2
	VFMADD231PS 96(BX), Y8, Y3
	ADDQ        $16, DX
	CMPQ        DX, R11
	JB          c4SingleTap

c4SingleSum:
	c4Sum(Y0, Y1, Y2, Y3)
	CMPB      add+136(FP), $0
	JE        c4SingleStore
	VADDPS    (DI), Y0, Y0

c4SingleStore:
	VMOVUPS Y0, (DI)
	ADDQ    $32, SI
	ADDQ    $32, DI
	ADDQ    R14, AX
	DECQ    R13
	JNZ     c4SingleVec
	MOVQ    nv+120(FP), R13
	SHLQ    $5, R13
	SUBQ    R13, SI
	SUBQ    R13, DI
	ADDQ    R9, SI
	ADDQ    R8, DI
	DECQ    CX
	JNZ     c4Single

c4Done:
	VZEROUPPER
	RET

// c8Input adds an input channel's term for eight pixels: the weights' row at w(BX) times the
// channel at x broadcast from each pixel, pixel p at R15 + p·ss (R12 = R15 + 3·ss, R9 = ss, R10 = 3·ss).
#define c8Input(w, x) \
	VMOVUPS      w(BX), Y8;          \
	VBROADCASTSS x(R15), Y9;         \
	VFMADD231PS  Y8, Y9, Y0;         \
	VBROADCASTSS x(R15)(R9*1), Y10;  \
	VFMADD231PS  Y8, Y10, Y1;        \
	VBROADCASTSS x(R15)(R9*2), Y11;  \
	VFMADD231PS  Y8, Y11, Y2;        \
	VBROADCASTSS x(R12), Y12;        \
	VFMADD231PS  Y8, Y12, Y3;        \
	VBROADCASTSS x(R15)(R9*4), Y13;  \
	VFMADD231PS  Y8, Y13, Y4;        \
	VBROADCASTSS x(R12)(R9*2), Y14;  \
	VFMADD231PS  Y8, Y14, Y5;        \
	VBROADCASTSS x(R15)(R10*2), Y15; \
	VFMADD231PS  Y8, Y15, Y6;        \
	VBROADCASTSS x(R12)(R9*4), Y9;   \
	VFMADD231PS  Y8, Y9, Y7

// c8Input1 adds an input channel's term, at x, for one pixel at R15: the weights' row at w(BX).
#define c8Input1(w, x) \
	VBROADCASTSS x(R15), Y9; \
	VFMADD231PS  w(BX), Y9, Y0

// c8Octa adds an input channel's term for one pixel of eight groups, each in its own
// accumulator Y0–Y7: group g's channel at x+32g(R15) broadcast times its weights' row w, at BX,
// BX + wv, BX + 2wv, BX + 3wv (R12 = 3·wv, R14 = wv), then from R10 = BX + 4wv on.
#define c8Octa(w, x) \
	VBROADCASTSS x(R15), Y8;               \
	VFMADD231PS  w(BX), Y8, Y0;            \
	VBROADCASTSS x+32(R15), Y9;            \
	VFMADD231PS  w(BX)(R14*1), Y9, Y1;     \
	VBROADCASTSS x+64(R15), Y10;           \
	VFMADD231PS  w(BX)(R14*2), Y10, Y2;    \
	VBROADCASTSS x+96(R15), Y11;           \
	VFMADD231PS  w(BX)(R12*1), Y11, Y3;    \
	VBROADCASTSS x+128(R15), Y12;          \
	VFMADD231PS  w(R10), Y12, Y4;          \
	VBROADCASTSS x+160(R15), Y13;          \
	VFMADD231PS  w(R10)(R14*1), Y13, Y5;   \
	VBROADCASTSS x+192(R15), Y14;          \
	VFMADD231PS  w(R10)(R14*2), Y14, Y6;   \
	VBROADCASTSS x+224(R15), Y15;          \
	VFMADD231PS  w(R10)(R12*1), Y15, Y7

// func groupedConv8AVX2(dst []float32, ds int, src []float32, ss int, n int, taps []int, w []float32, nv int, wv int, add bool)
//
// Eight pixels at a time, in Y0–Y7, then one pixel at a time, eight groups at a time in Y0–Y7
// (so that eight sums are in flight), then one. With fewer than eight groups, unless add is set,
// a tail of fewer than eight pixels is instead the last eight pixels once more, which sets the
// overlapping ones to the same values again.
TEXT ·groupedConv8AVX2(SB), NOSPLIT, $0-137
	MOVQ dst_base+0(FP), DI
	MOVQ ds+24(FP), R8
	SHLQ $2, R8
	MOVQ src_base+32(FP), SI
	MOVQ ss+56(FP), R9
	SHLQ $2, R9
	LEAQ (R9)(R9*2), R10
	MOVQ n+64(FP), CX
	MOVQ taps_base+72(FP), R11
	MOVQ taps_len+80(FP), DX
	LEAQ (R11)(DX*8), R11
	MOVQ wv+128(FP), R14
	SHLQ $2, R14

c8Block:
	CMPQ CX, $8
	JGE  c8Eight
	TESTQ CX, CX
	JZ   c8Done
	CMPB add+136(FP), $0
	JNE  c8Single
	CMPQ n+64(FP), $8
	JL   c8Single
	CMPQ nv+120(FP), $8
	JGE  c8Single
	// Step back to the last eight pixels.
	MOVQ  $8, DX
	SUBQ  CX, DX
	IMULQ R9, DX
	SUBQ  DX, SI
	MOVQ  $8, DX
	SUBQ  CX, DX
	IMULQ R8, DX
	SUBQ  DX, DI
	MOVQ  $8, CX

c8Eight:
	MOVQ w_base+96(FP), AX
	MOVQ nv+120(FP), R13

c8EightVec:
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	VXORPS Y4, Y4, Y4
	VXORPS Y5, Y5, Y5
	VXORPS Y6, Y6, Y6
	VXORPS Y7, Y7, Y7
	MOVQ   taps_base+72(FP), DX
	CMPQ   DX, R11
	JAE    c8EightStore

c8EightTap:
	MOVQ (DX), R15
	MOVQ 8(DX), BX
	LEAQ (SI)(R15*4), R15
	LEAQ (AX)(BX*4), BX
	LEAQ (R15)(R10*1), R12
	c8Input(0, 0)
	c8Input(32, 4)
	c8Input(64, 8)
	c8Input(96, 12)
	c8Input(128, 16)
	c8Input(160, 20)
	c8Input(192, 24)
	c8Input(224, 28)
	ADDQ $16, DX
	CMPQ DX, R11
	JB   c8EightTap

c8EightStore:
	// Pixel p at DI + p·ds, R15 = DI + 3·ds, DX = 3·ds.
	LEAQ   (R8)(R8*2), DX
	LEAQ   (DI)(DX*1), R15
	CMPB   add+136(FP), $0
	JE     c8EightSet
	VADDPS (DI), Y0, Y0
	VADDPS (DI)(R8*1), Y1, Y1
	VADDPS (DI)(R8*2), Y2, Y2
	VADDPS (R15), Y3, Y3
	VADDPS (DI)(R8*4), Y4, Y4
	VADDPS (R15)(R8*2), Y5, Y5
	VADDPS (DI)(DX*2), Y6, Y6
	VADDPS (R15)(R8*4), Y7, Y7

c8EightSet:
	VMOVUPS Y0, (DI)
	VMOVUPS Y1, (DI)(R8*1)
	VMOVUPS Y2, (DI)(R8*2)
	VMOVUPS Y3, (R15)
	VMOVUPS Y4, (DI)(R8*4)
	VMOVUPS Y5, (R15)(R8*2)
	VMOVUPS Y6, (DI)(DX*2)
	VMOVUPS Y7, (R15)(R8*4)
	ADDQ    $32, SI
	ADDQ    $32, DI
	ADDQ    R14, AX
	DECQ    R13
	JNZ     c8EightVec
	MOVQ    nv+120(FP), R13
	SHLQ    $5, R13
	SUBQ    R13, SI
	SUBQ    R13, DI
	LEAQ    (SI)(R9*8), SI
	LEAQ    (DI)(R8*8), DI
	SUBQ    $8, CX
	JMP     c8Block

c8Single:
	MOVQ w_base+96(FP), AX
	MOVQ nv+120(FP), R13
	LEAQ (R14)(R14*2), R12

c8Groups8:
	CMPQ   R13, $8
	JL     c8SingleVec
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	VXORPS Y4, Y4, Y4
	VXORPS Y5, Y5, Y5
	VXORPS Y6, Y6, Y6
	VXORPS Y7, Y7, Y7
	MOVQ   taps_base+72(FP), DX
	CMPQ   DX, R11
	JAE    c8Groups8Store

c8Groups8Tap:
	MOVQ (DX), R15
	MOVQ 8(DX), BX
	LEAQ (SI)(R15*4), R15
	LEAQ (AX)(BX*4), BX
	LEAQ (BX)(R14*4), R10
	c8Octa(0, 0)
	c8Octa(32, 4)
	c8Octa(64, 8)
	c8Octa(96, 12)
	c8Octa(128, 16)
	c8Octa(160, 20)
	c8Octa(192, 24)
	c8Octa(224, 28)
	ADDQ $16, DX
	CMPQ DX, R11
	JB   c8Groups8Tap

c8Groups8Store:
	CMPB   add+136(FP), $0
	JE     c8Groups8Set
	VADDPS (DI), Y0, Y0
	VADDPS 32(DI), Y1, Y1
	VADDPS 64(DI), Y2, Y2
	VADDPS 96(DI), Y3, Y3
	VADDPS 128(DI), Y4, Y4
	VADDPS 160(DI), Y5, Y5
	VADDPS 192(DI), Y6, Y6
	VADDPS 224(DI), Y7, Y7

c8Groups8Set:
	VMOVUPS Y0, (DI)
	VMOVUPS Y1, 32(DI)
	VMOVUPS Y2, 64(DI)
	VMOVUPS Y3, 96(DI)
	VMOVUPS Y4, 128(DI)
	VMOVUPS Y5, 160(DI)
	VMOVUPS Y6, 192(DI)
	VMOVUPS Y7, 224(DI)
	ADDQ    $256, SI
	ADDQ    $256, DI
	LEAQ    (AX)(R14*8), AX
	SUBQ    $8, R13
	JMP     c8Groups8

c8SingleVec:
	TESTQ  R13, R13
	JZ     c8SingleNext
	VXORPS Y0, Y0, Y0
	MOVQ   taps_base+72(FP), DX
	CMPQ   DX, R11
	JAE    c8SingleStore

c8SingleTap:
	MOVQ (DX), R15
	MOVQ 8(DX), BX
	LEAQ (SI)(R15*4), R15
	LEAQ (AX)(BX*4), BX
	c8Input1(0, 0)
	c8Input1(32, 4)
	c8Input1(64, 8)
	c8Input1(96, 12)
	c8Input1(128, 16)
	c8Input1(160, 20)
	c8Input1(192, 24)
	c8Input1(224, 28)
	ADDQ $16, DX
	CMPQ DX, R11
	JB   c8SingleTap

c8SingleStore:
	CMPB   add+136(FP), $0
	JE     c8SingleSet
	VADDPS (DI), Y0, Y0

c8SingleSet:
	VMOVUPS Y0, (DI)
	ADDQ    $32, SI
	ADDQ    $32, DI
	ADDQ    R14, AX
	DECQ    R13
	JMP     c8SingleVec

c8SingleNext:
	MOVQ nv+120(FP), R13
	SHLQ $5, R13
	SUBQ R13, SI
	SUBQ R13, DI
	ADDQ R9, SI
	ADDQ R8, DI
	DECQ CX
	JNZ  c8Single

c8Done:
	VZEROUPPER
	RET

// g8Input adds the input channel at x(R15) times the pixel's gradient Y8 to acc.
#define g8Input(x, acc) \
	VBROADCASTSS x(R15), Y9; \
	VFMADD231PS  Y8, Y9, acc

// g8Add adds acc to the gradient row at w(BX).
#define g8Add(w, acc) \
	VADDPS  w(BX), acc, acc; \
	VMOVUPS acc, w(BX)

// func groupedGrad8AVX2(dw []float32, src []float32, ss int, dy []float32, dys int, n int, taps []int, nv int, wv int)
//
// For each group and tap, the 8×8 products summed over the pixels in Y0–Y7 (row ci), then added
// to the gradient.
TEXT ·groupedGrad8AVX2(SB), NOSPLIT, $0-136
	MOVQ dw_base+0(FP), AX
	MOVQ src_base+24(FP), SI
	MOVQ ss+48(FP), R8
	SHLQ $2, R8
	MOVQ dy_base+56(FP), DI
	MOVQ dys+80(FP), R9
	SHLQ $2, R9
	MOVQ taps_base+96(FP), R10
	MOVQ taps_len+104(FP), R11
	LEAQ (R10)(R11*8), R11
	MOVQ wv+128(FP), R14
	SHLQ $2, R14
	MOVQ nv+120(FP), R13
	TESTQ R13, R13
	JZ   g8Done

g8Vec:
	MOVQ R10, DX
	CMPQ DX, R11
	JAE  g8NextVec

g8Tap:
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	VXORPS Y4, Y4, Y4
	VXORPS Y5, Y5, Y5
	VXORPS Y6, Y6, Y6
	VXORPS Y7, Y7, Y7
	MOVQ   (DX), R15
	LEAQ   (SI)(R15*4), R15
	MOVQ   DI, R12
	MOVQ   n+88(FP), CX
	TESTQ  CX, CX
	JZ     g8TapDone

g8Pixel:
	VMOVUPS (R12), Y8
	g8Input(0, Y0)
	g8Input(4, Y1)
	g8Input(8, Y2)
	g8Input(12, Y3)
	g8Input(16, Y4)
	g8Input(20, Y5)
	g8Input(24, Y6)
	g8Input(28, Y7)
	ADDQ    R8, R15
	ADDQ    R9, R12
	DECQ    CX
	JNZ     g8Pixel

g8TapDone:
	MOVQ 8(DX), BX
	LEAQ (AX)(BX*4), BX
	g8Add(0, Y0)
	g8Add(32, Y1)
	g8Add(64, Y2)
	g8Add(96, Y3)
	g8Add(128, Y4)
	g8Add(160, Y5)
	g8Add(192, Y6)
	g8Add(224, Y7)
	ADDQ $16, DX
	CMPQ DX, R11
	JB   g8Tap

g8NextVec:
	ADDQ $32, SI
	ADDQ $32, DI
	ADDQ R14, AX
	DECQ R13
	JNZ  g8Vec

g8Done:
	VZEROUPPER
	RET

// g4Tap adds the products of the tap's input at p with the rotated gradients Y12–Y15 to the
// accumulators a0–a3.
#define g4Tap(p, a0, a1, a2, a3) \
	VFMADD231PS (p), Y12, a0; \
	VFMADD231PS (p), Y13, a1; \
	VFMADD231PS (p), Y14, a2; \
	VFMADD231PS (p), Y15, a3

// g4Add adds the accumulators a0–a3 to the gradient at BX.
#define g4Add(a0, a1, a2, a3) \
	VADDPS  (BX), a0, a0;   \
	VMOVUPS a0, (BX);       \
	VADDPS  32(BX), a1, a1; \
	VMOVUPS a1, 32(BX);     \
	VADDPS  64(BX), a2, a2; \
	VMOVUPS a2, 64(BX);     \
	VADDPS  96(BX), a3, a3; \
	VMOVUPS a3, 96(BX)

// func groupedGrad4AVX2(dw []float32, src []float32, ss int, dy []float32, dys int, n int, taps []int, nv int, wv int)
//
// For each pair of groups, three taps at a time: the accumulators R_r of tap j in Y(4j)–Y(4j+3),
// summed over the pixels with the pixel's gradient rotated by r in Y12–Y15 (dY[(ci+r) mod 4] at
// lane element ci), the taps' inputs read from memory at R10, BX and R15. A last group of fewer
// than three taps reads the first tap's input in place of the missing ones and adds only its own.
TEXT ·groupedGrad4AVX2(SB), NOSPLIT, $0-136
	MOVQ dw_base+0(FP), AX
	MOVQ src_base+24(FP), SI
	MOVQ ss+48(FP), R8
	SHLQ $2, R8
	MOVQ dy_base+56(FP), DI
	MOVQ dys+80(FP), R9
	SHLQ $2, R9
	MOVQ taps_len+104(FP), R11
	MOVQ taps_base+96(FP), DX
	LEAQ (DX)(R11*8), R11
	MOVQ wv+128(FP), R14
	SHLQ $2, R14
	MOVQ nv+120(FP), R13
	TESTQ R13, R13
	JZ   g4Done

g4Vec:
	MOVQ taps_base+96(FP), DX
	CMPQ DX, R11
	JAE  g4NextVec

g4Triple:
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	VXORPS Y4, Y4, Y4
	VXORPS Y5, Y5, Y5
	VXORPS Y6, Y6, Y6
	VXORPS Y7, Y7, Y7
	VXORPS Y8, Y8, Y8
	VXORPS Y9, Y9, Y9
	VXORPS Y10, Y10, Y10
	VXORPS Y11, Y11, Y11
	// The taps' inputs: R10, then BX and R15, the first tap's where the group has no such tap.
	MOVQ   (DX), R10
	LEAQ   (SI)(R10*4), R10
	MOVQ   R10, BX
	MOVQ   R10, R15
	LEAQ   16(DX), CX
	CMPQ   CX, R11
	JAE    g4Inputs
	MOVQ   16(DX), BX
	LEAQ   (SI)(BX*4), BX
	LEAQ   32(DX), CX
	CMPQ   CX, R11
	JAE    g4Inputs
	MOVQ   32(DX), R15
	LEAQ   (SI)(R15*4), R15

g4Inputs:
	MOVQ  DI, R12
	MOVQ  n+88(FP), CX
	TESTQ CX, CX
	JZ    g4TripleDone

g4Pixel:
	VMOVUPS   (R12), Y12
	VPERMILPS $0x39, Y12, Y13
	VPERMILPS $0x4E, Y12, Y14
	VPERMILPS $0x93, Y12, Y15
	g4Tap(R10, Y0, Y1, Y2, Y3)
	g4Tap(BX, Y4, Y5, Y6, Y7)
	g4Tap(R15, Y8, Y9, Y10, Y11)
	ADDQ      R8, R10
	ADDQ      R8, BX
	ADDQ      R8, R15
	ADDQ      R9, R12
	DECQ      CX
	JNZ       g4Pixel

g4TripleDone:
	MOVQ 8(DX), BX
	LEAQ (AX)(BX*4), BX
	g4Add(Y0, Y1, Y2, Y3)
	ADDQ $16, DX
	CMPQ DX, R11
	JAE  g4NextVec
	MOVQ 8(DX), BX
	LEAQ (AX)(BX*4), BX
	g4Add(Y4, Y5, Y6, Y7)
	ADDQ $16, DX
	CMPQ DX, R11
	JAE  g4NextVec
	MOVQ 8(DX), BX
	LEAQ (AX)(BX*4), BX
	g4Add(Y8, Y9, Y10, Y11)
	ADDQ $16, DX
	CMPQ DX, R11
	JB   g4Triple

g4NextVec:
	ADDQ $32, SI
	ADDQ $32, DI
	ADDQ R14, AX
	DECQ R13
	JNZ  g4Vec

g4Done:
	VZEROUPPER
	RET

// func prefetchAVX2(x []float32)
TEXT ·prefetchAVX2(SB), NOSPLIT, $0-24
	MOVQ x_base+0(FP), SI
	MOVQ x_len+8(FP), CX
	LEAQ (SI)(CX*4), CX

prefetchLine:
	PREFETCHT0 (SI)
	ADDQ       $64, SI
	CMPQ       SI, CX
	JB         prefetchLine
	RET
