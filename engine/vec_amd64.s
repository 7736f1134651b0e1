//go:build !purego

#include "textflag.h"

// The AVX2 forms of the BatchNorm, ReLU and sum kernels; vec_amd64.go documents each. Every one
// does the same float32 operations in the same order as its Go twin (no fused multiply-adds), so
// the two give bitwise the same results. The BatchNorm kernels walk a chunk row by row, taking each
// row's channels in groups of eight with their constants and float32 sums read from memory, which
// stays in L1: walking the rows of one group at a time instead strides through memory and runs
// at a third of the speed from 64 channels on.

// func bnStatsAVX2(xs []float32, c int, c8 int, shift []float32, acc []float32)
TEXT ·bnStatsAVX2(SB), NOSPLIT, $0-88
	MOVQ   xs_base+0(FP), SI
	MOVQ   xs_len+8(FP), DX
	MOVQ   c+24(FP), CX
	MOVQ   c8+32(FP), R8
	MOVQ   shift_base+40(FP), R9
	MOVQ   acc_base+64(FP), R10
	SHLQ   $2, CX
	SHLQ   $2, R8
	LEAQ   (R10)(CX*1), R11
	LEAQ   (SI)(DX*4), R12
	VXORPS Y0, Y0, Y0
	XORQ   BX, BX

statsZero:
	CMPQ    BX, R8
	JGE     statsRow
	VMOVUPS Y0, (R10)(BX*1)
	VMOVUPS Y0, (R11)(BX*1)
	ADDQ    $32, BX
	JMP     statsZero

statsRow:
	CMPQ SI, R12
	JAE  statsDone
	XORQ BX, BX

statsGroup:
	CMPQ    BX, R8
	JGE     statsNext
	VMOVUPS (SI)(BX*1), Y3
	VSUBPS  (R9)(BX*1), Y3, Y3
	VADDPS  (R10)(BX*1), Y3, Y1
	VMOVUPS Y1, (R10)(BX*1)
	VMULPS  Y3, Y3, Y4
	VADDPS  (R11)(BX*1), Y4, Y2
	VMOVUPS Y2, (R11)(BX*1)
	ADDQ    $32, BX
	JMP     statsGroup

statsNext:
	ADDQ CX, SI
	JMP  statsRow

statsDone:
	VZEROUPPER
	RET

// func bnGradSumsAVX2(xs []float32, dys []float32, c int, c8 int, m []float32, acc []float32, scale []float32, shift []float32, relu bool)
TEXT ·bnGradSumsAVX2(SB), NOSPLIT, $0-161
	MOVQ    xs_base+0(FP), SI
	MOVQ    xs_len+8(FP), DX
	MOVQ    dys_base+24(FP), R13
	MOVQ    c+48(FP), CX
	MOVQ    c8+56(FP), R8
	MOVQ    m_base+64(FP), R9
	MOVQ    acc_base+88(FP), R10
	MOVQ    scale_base+112(FP), AX
	MOVBLZX relu+160(FP), R14
	SHLQ    $2, CX
	SHLQ    $2, R8
	LEAQ    (R10)(CX*1), R11
	LEAQ    (SI)(DX*4), R12
	MOVQ    shift_base+136(FP), DX
	SUBQ    SI, R13
	VXORPS  Y0, Y0, Y0
	XORQ    BX, BX

gradZero:
	CMPQ    BX, R8
	JGE     gradRow
	VMOVUPS Y0, (R10)(BX*1)
	VMOVUPS Y0, (R11)(BX*1)
	ADDQ    $32, BX
	JMP     gradZero

gradRow:
	CMPQ SI, R12
	JAE  gradDone
	LEAQ (SI)(R13*1), DI
	XORQ BX, BX

gradGroup:
	CMPQ    BX, R8
	JGE     gradNext
	VMOVUPS (DI)(BX*1), Y4
	TESTQ   R14, R14
	JZ      gradSum

	// dy where x·scale + shift > 0, else 0: the gradient through the ReLU (Y0 holds zeros).
	VMOVUPS (SI)(BX*1), Y6
	VMULPS  (AX)(BX*1), Y6, Y6
	VADDPS  (DX)(BX*1), Y6, Y6
	VCMPPS  $0x1e, Y0, Y6, Y6
	VANDPS  Y6, Y4, Y4

gradSum:
	VADDPS  (R10)(BX*1), Y4, Y1
	VMOVUPS Y1, (R10)(BX*1)
	VMOVUPS (SI)(BX*1), Y3
	VSUBPS  (R9)(BX*1), Y3, Y3
	VMULPS  Y3, Y4, Y3
	VADDPS  (R11)(BX*1), Y3, Y2
	VMOVUPS Y2, (R11)(BX*1)
	ADDQ    $32, BX
	JMP     gradGroup

gradNext:
	ADDQ CX, SI
	JMP  gradRow

gradDone:
	VZEROUPPER
	RET

// func bnNormalizeAVX2(xs []float32, ys []float32, c int, c8 int, scale []float32, shift []float32, relu bool)
TEXT ·bnNormalizeAVX2(SB), NOSPLIT, $0-113
	MOVQ    xs_base+0(FP), SI
	MOVQ    xs_len+8(FP), DX
	MOVQ    ys_base+24(FP), R13
	MOVQ    c+48(FP), CX
	MOVQ    c8+56(FP), R8
	MOVQ    scale_base+64(FP), R9
	MOVQ    shift_base+88(FP), R10
	MOVBLZX relu+112(FP), R11
	SHLQ    $2, CX
	SHLQ    $2, R8
	LEAQ    (SI)(DX*4), R12
	SUBQ    SI, R13
	VXORPS  Y5, Y5, Y5

normRow:
	CMPQ SI, R12
	JAE  normDone
	LEAQ (SI)(R13*1), DI
	XORQ BX, BX

normGroup:
	CMPQ    BX, R8
	JGE     normNext
	VMOVUPS (SI)(BX*1), Y3
	VMULPS  (R9)(BX*1), Y3, Y3
	VADDPS  (R10)(BX*1), Y3, Y3
	TESTQ   R11, R11
	JZ      normStore
	VMAXPS  Y3, Y5, Y3

normStore:
	VMOVUPS Y3, (DI)(BX*1)
	ADDQ    $32, BX
	JMP     normGroup

normNext:
	ADDQ CX, SI
	JMP  normRow

normDone:
	VZEROUPPER
	RET

// func bnInputGradAVX2(xs []float32, dys []float32, dxs []float32, c int, c8 int, a []float32, b []float32, k []float32, m []float32, scale []float32, shift []float32, accumulate bool, relu bool)
TEXT ·bnInputGradAVX2(SB), NOSPLIT, $0-234
	MOVQ    xs_base+0(FP), SI
	MOVQ    xs_len+8(FP), DX
	MOVQ    dys_base+24(FP), R13
	MOVQ    dxs_base+48(FP), R14
	MOVQ    c+72(FP), CX
	MOVQ    c8+80(FP), R8
	MOVQ    a_base+88(FP), R9
	MOVQ    b_base+112(FP), R10
	MOVQ    k_base+136(FP), R11
	MOVQ    m_base+160(FP), AX
	MOVQ    scale_base+184(FP), R15
	SHLQ    $2, CX
	SHLQ    $2, R8
	LEAQ    (SI)(DX*4), R12
	MOVQ    shift_base+208(FP), DX
	SUBQ    SI, R13
	SUBQ    SI, R14
	VXORPS  Y7, Y7, Y7

dxRow:
	CMPQ SI, R12
	JAE  dxDone
	XORQ BX, BX

dxGroup:
	CMPQ    BX, R8
	JGE     dxNext
	LEAQ    (SI)(R13*1), DI
	VMOVUPS (DI)(BX*1), Y4
	CMPB    relu+233(FP), $0
	JEQ     dxAffine

	// dy where x·scale + shift > 0, else 0: the gradient through the ReLU.
	VMOVUPS (SI)(BX*1), Y6
	VMULPS  (R15)(BX*1), Y6, Y6
	VADDPS  (DX)(BX*1), Y6, Y6
	VCMPPS  $0x1e, Y7, Y6, Y6
	VANDPS  Y6, Y4, Y4

dxAffine:
	VMULPS  (R9)(BX*1), Y4, Y4
	VSUBPS  (R10)(BX*1), Y4, Y4
	VMOVUPS (SI)(BX*1), Y5
	VSUBPS  (AX)(BX*1), Y5, Y5
	VMULPS  (R11)(BX*1), Y5, Y5
	VSUBPS  Y5, Y4, Y4
	LEAQ    (SI)(R14*1), DI
	CMPB    accumulate+232(FP), $0
	JEQ     dxSet
	VADDPS  (DI)(BX*1), Y4, Y4

dxSet:
	VMOVUPS Y4, (DI)(BX*1)
	ADDQ    $32, BX
	JMP     dxGroup

dxNext:
	ADDQ CX, SI
	JMP  dxRow

dxDone:
	VZEROUPPER
	RET

// func reluAVX2(x []float32, y []float32)
TEXT ·reluAVX2(SB), NOSPLIT, $0-48
	MOVQ   x_base+0(FP), SI
	MOVQ   x_len+8(FP), CX
	MOVQ   y_base+24(FP), DI
	SHRQ   $3, CX
	VXORPS Y5, Y5, Y5

reluLoop:
	TESTQ   CX, CX
	JZ      reluDone
	VMOVUPS (SI), Y0
	VMAXPS  Y0, Y5, Y0
	VMOVUPS Y0, (DI)
	ADDQ    $32, SI
	ADDQ    $32, DI
	DECQ    CX
	JMP     reluLoop

reluDone:
	VZEROUPPER
	RET

// func reluGradAVX2(y []float32, dy []float32, dx []float32, accumulate bool)
TEXT ·reluGradAVX2(SB), NOSPLIT, $0-73
	MOVQ    y_base+0(FP), SI
	MOVQ    y_len+8(FP), CX
	MOVQ    dy_base+24(FP), R8
	MOVQ    dx_base+48(FP), DI
	MOVBLZX accumulate+72(FP), R9
	SHRQ    $3, CX
	VXORPS  Y5, Y5, Y5
	TESTQ   R9, R9
	JNZ     maskAddLoop

maskLoop:
	TESTQ   CX, CX
	JZ      maskDone
	VMOVUPS (SI), Y0
	VCMPPS  $0x1e, Y5, Y0, Y0
	VANDPS  (R8), Y0, Y0
	VMOVUPS Y0, (DI)
	ADDQ    $32, SI
	ADDQ    $32, R8
	ADDQ    $32, DI
	DECQ    CX
	JMP     maskLoop

maskAddLoop:
	TESTQ   CX, CX
	JZ      maskDone
	VMOVUPS (SI), Y0
	VCMPPS  $0x1e, Y5, Y0, Y0
	VANDPS  (R8), Y0, Y0
	VADDPS  (DI), Y0, Y0
	VMOVUPS Y0, (DI)
	ADDQ    $32, SI
	ADDQ    $32, R8
	ADDQ    $32, DI
	DECQ    CX
	JMP     maskAddLoop

maskDone:
	VZEROUPPER
	RET

// func addScaledAVX2(y []float32, a []float32, b []float32, s float32)
TEXT ·addScaledAVX2(SB), NOSPLIT, $0-76
	MOVQ         y_base+0(FP), DI
	MOVQ         y_len+8(FP), CX
	MOVQ         a_base+24(FP), SI
	MOVQ         b_base+48(FP), R8
	VBROADCASTSS s+72(FP), Y5
	SHRQ         $3, CX

addLoop:
	TESTQ   CX, CX
	JZ      addDone
	VMULPS  (R8), Y5, Y0
	VADDPS  (SI), Y0, Y0
	VMOVUPS Y0, (DI)
	ADDQ    $32, SI
	ADDQ    $32, R8
	ADDQ    $32, DI
	DECQ    CX
	JMP     addLoop

addDone:
	VZEROUPPER
	RET

// func copyRowsAVX2(dst []float32, dstStride int, src []float32, srcStride int, n int, rows int)
TEXT ·copyRowsAVX2(SB), NOSPLIT, $0-80
	MOVQ dst_base+0(FP), DI
	MOVQ dstStride+24(FP), R8
	MOVQ src_base+32(FP), SI
	MOVQ srcStride+56(FP), R9
	MOVQ n+64(FP), CX
	MOVQ rows+72(FP), R10
	SHLQ $2, R8
	SHLQ $2, R9
	MOVQ CX, R11
	SHRQ $3, R11
	ANDQ $7, CX

rowLoop:
	TESTQ R10, R10
	JZ    rowsDone
	XORQ  AX, AX
	MOVQ  R11, DX

vecLoop:
	TESTQ   DX, DX
	JZ      tail
	VMOVUPS (SI)(AX*1), Y0
	VMOVUPS Y0, (DI)(AX*1)
	ADDQ    $32, AX
	DECQ    DX
	JMP     vecLoop

tail:
	MOVQ CX, DX

tailLoop:
	TESTQ DX, DX
	JZ    nextRow
	MOVL  (SI)(AX*1), BX
	MOVL  BX, (DI)(AX*1)
	ADDQ  $4, AX
	DECQ  DX
	JMP   tailLoop

nextRow:
	ADDQ R8, DI
	ADDQ R9, SI
	DECQ R10
	JMP  rowLoop

rowsDone:
	VZEROUPPER
	RET

// func winoInputAVX2(src []float32, line int, c int, c8 int, tiles int, v []float32, ldv int)
//
// Tile by tile, and within a tile eight channels at a time, so that a tile's window is read as
// four runs of 4·c contiguous floats, in L1 still for the next tile, which shares half of it,
// and V is written in 16 runs of c floats per tile.
TEXT ·winoInputAVX2(SB), NOSPLIT, $0-88
	MOVQ line+24(FP), R8
	SHLQ $2, R8
	MOVQ c+32(FP), BX
	SHLQ $2, BX
	LEAQ (BX)(BX*2), AX
	MOVQ c8+40(FP), DX
	SHLQ $2, DX
	MOVQ ldv+80(FP), R12
	SHLQ $2, R12
	MOVQ src_base+0(FP), R9
	MOVQ v_base+56(FP), DI
	MOVQ tiles+48(FP), R10

inTile:
	TESTQ R10, R10
	JZ    inDone
	XORQ  CX, CX

inChan:
	LEAQ (R9)(CX*1), SI
	LEAQ (SI)(R8*1), R13
	LEAQ (SI)(R8*2), R14
	LEAQ (R13)(R8*2), R15

	// Column 0 of d·B: d[i][0] − d[i][2]; V[4i+j] is at ldv·j + 4·ldv·i.
	VMOVUPS (SI), Y0
	VSUBPS  (SI)(BX*2), Y0, Y0
	VMOVUPS (R13), Y1
	VSUBPS  (R13)(BX*2), Y1, Y1
	VMOVUPS (R14), Y2
	VSUBPS  (R14)(BX*2), Y2, Y2
	VMOVUPS (R15), Y3
	VSUBPS  (R15)(BX*2), Y3, Y3
	LEAQ    (DI)(CX*1), R11
	VSUBPS  Y2, Y0, Y4
	VMOVUPS Y4, (R11)
	VADDPS  Y2, Y1, Y4
	VMOVUPS Y4, (R11)(R12*4)
	VSUBPS  Y1, Y2, Y4
	VMOVUPS Y4, (R11)(R12*8)
	LEAQ    (R11)(R12*8), R11
	VSUBPS  Y3, Y1, Y4
	VMOVUPS Y4, (R11)(R12*4)

	// Column 1: d[i][1] + d[i][2].
	VMOVUPS (SI)(BX*1), Y0
	VADDPS  (SI)(BX*2), Y0, Y0
	VMOVUPS (R13)(BX*1), Y1
	VADDPS  (R13)(BX*2), Y1, Y1
	VMOVUPS (R14)(BX*1), Y2
	VADDPS  (R14)(BX*2), Y2, Y2
	VMOVUPS (R15)(BX*1), Y3
	VADDPS  (R15)(BX*2), Y3, Y3
	LEAQ    (DI)(CX*1), R11
	ADDQ    R12, R11
	VSUBPS  Y2, Y0, Y4
	VMOVUPS Y4, (R11)
	VADDPS  Y2, Y1, Y4
	VMOVUPS Y4, (R11)(R12*4)
	VSUBPS  Y1, Y2, Y4
	VMOVUPS Y4, (R11)(R12*8)
	LEAQ    (R11)(R12*8), R11
	VSUBPS  Y3, Y1, Y4
	VMOVUPS Y4, (R11)(R12*4)

	// Column 2: d[i][2] − d[i][1].
	VMOVUPS (SI)(BX*2), Y0
	VSUBPS  (SI)(BX*1), Y0, Y0
	VMOVUPS (R13)(BX*2), Y1
	VSUBPS  (R13)(BX*1), Y1, Y1
	VMOVUPS (R14)(BX*2), Y2
	VSUBPS  (R14)(BX*1), Y2, Y2
	VMOVUPS (R15)(BX*2), Y3
	VSUBPS  (R15)(BX*1), Y3, Y3
	LEAQ    (DI)(CX*1), R11
	LEAQ    (R11)(R12*2), R11
	VSUBPS  Y2, Y0, Y4
	VMOVUPS Y4, (R11)
	VADDPS  Y2, Y1, Y4
	VMOVUPS Y4, (R11)(R12*4)
	VSUBPS  Y1, Y2, Y4
	VMOVUPS Y4, (R11)(R12*8)
	LEAQ    (R11)(R12*8), R11
	VSUBPS  Y3, Y1, Y4
	VMOVUPS Y4, (R11)(R12*4)

	// Column 3: d[i][1] − d[i][3].
	VMOVUPS (SI)(BX*1), Y0
	VSUBPS  (SI)(AX*1), Y0, Y0
	VMOVUPS (R13)(BX*1), Y1
	VSUBPS  (R13)(AX*1), Y1, Y1
	VMOVUPS (R14)(BX*1), Y2
	VSUBPS  (R14)(AX*1), Y2, Y2
	VMOVUPS (R15)(BX*1), Y3
	VSUBPS  (R15)(AX*1), Y3, Y3
	LEAQ    (DI)(CX*1), R11
	LEAQ    (R11)(R12*2), R11
	ADDQ    R12, R11
	VSUBPS  Y2, Y0, Y4
	VMOVUPS Y4, (R11)
	VADDPS  Y2, Y1, Y4
	VMOVUPS Y4, (R11)(R12*4)
	VSUBPS  Y1, Y2, Y4
	VMOVUPS Y4, (R11)(R12*8)
	LEAQ    (R11)(R12*8), R11
	VSUBPS  Y3, Y1, Y4
	VMOVUPS Y4, (R11)(R12*4)

	ADDQ $32, CX
	CMPQ CX, DX
	JLT  inChan

	ADDQ BX, R9
	ADDQ BX, R9
	ADDQ BX, DI
	DECQ R10
	JMP  inTile

inDone:
	VZEROUPPER
	RET

// func winoOutputAVX2(m []float32, ldm int, f int, f8 int, tiles int, y []float32, line int)
TEXT ·winoOutputAVX2(SB), NOSPLIT, $0-88
	MOVQ ldm+24(FP), R12
	SHLQ $2, R12
	LEAQ (R12)(R12*2), AX
	MOVQ R12, R10
	SHLQ $2, R10
	MOVQ f+32(FP), BX
	SHLQ $2, BX
	MOVQ line+80(FP), R8
	SHLQ $2, R8
	XORQ CX, CX

outChan:
	MOVQ f8+40(FP), DX
	SHLQ $2, DX
	CMPQ CX, DX
	JGE  outDone
	MOVQ m_base+0(FP), SI
	ADDQ CX, SI
	MOVQ y_base+56(FP), DI
	ADDQ CX, DI
	MOVQ tiles+48(FP), DX

outTile:
	TESTQ DX, DX
	JZ    outNextChan
	MOVQ  SI, R9
	LEAQ  (SI)(R10*1), R13
	LEAQ  (SI)(R10*2), R14
	LEAQ  (R13)(R10*2), R15

	// s0[j] = m[0][j] + m[1][j] + m[2][j] in Y0..Y3; s1[j] = m[1][j] − m[2][j] − m[3][j] in Y4..Y7.
	VMOVUPS (R9), Y0
	VADDPS  (R13), Y0, Y0
	VADDPS  (R14), Y0, Y0
	VMOVUPS (R13), Y4
	VSUBPS  (R14), Y4, Y4
	VSUBPS  (R15), Y4, Y4
	VMOVUPS (R9)(R12*1), Y1
	VADDPS  (R13)(R12*1), Y1, Y1
	VADDPS  (R14)(R12*1), Y1, Y1
	VMOVUPS (R13)(R12*1), Y5
	VSUBPS  (R14)(R12*1), Y5, Y5
	VSUBPS  (R15)(R12*1), Y5, Y5
	VMOVUPS (R9)(R12*2), Y2
	VADDPS  (R13)(R12*2), Y2, Y2
	VADDPS  (R14)(R12*2), Y2, Y2
	VMOVUPS (R13)(R12*2), Y6
	VSUBPS  (R14)(R12*2), Y6, Y6
	VSUBPS  (R15)(R12*2), Y6, Y6
	VMOVUPS (R9)(AX*1), Y3
	VADDPS  (R13)(AX*1), Y3, Y3
	VADDPS  (R14)(AX*1), Y3, Y3
	VMOVUPS (R13)(AX*1), Y7
	VSUBPS  (R14)(AX*1), Y7, Y7
	VSUBPS  (R15)(AX*1), Y7, Y7

	// y[a][0] = s[0] + s[1] + s[2]; y[a][1] = s[1] − s[2] − s[3].
	VADDPS  Y1, Y0, Y8
	VADDPS  Y2, Y8, Y8
	VMOVUPS Y8, (DI)
	VSUBPS  Y2, Y1, Y8
	VSUBPS  Y3, Y8, Y8
	VMOVUPS Y8, (DI)(BX*1)
	LEAQ    (DI)(R8*1), R11
	VADDPS  Y5, Y4, Y8
	VADDPS  Y6, Y8, Y8
	VMOVUPS Y8, (R11)
	VSUBPS  Y6, Y5, Y8
	VSUBPS  Y7, Y8, Y8
	VMOVUPS Y8, (R11)(BX*1)

	ADDQ BX, SI
	ADDQ BX, DI
	ADDQ BX, DI
	DECQ DX
	JMP  outTile

outNextChan:
	ADDQ $32, CX
	JMP  outChan

outDone:
	VZEROUPPER
	RET

// func winoGradOutAVX2(dy []float32, line int, f int, f8 int, tiles int, m []float32, ldm int)
//
// Tile by tile, and within a tile eight filters at a time, so that dy is read in two runs of
// 2·f contiguous floats per tile, and M written in 16 runs of f floats.
TEXT ·winoGradOutAVX2(SB), NOSPLIT, $0-88
	MOVQ      line+24(FP), R8
	SHLQ      $2, R8
	MOVQ      f+32(FP), BX
	SHLQ      $2, BX
	MOVQ      ldm+80(FP), R12
	SHLQ      $2, R12
	LEAQ      (R12)(R12*2), AX
	MOVQ      R12, R10
	SHLQ      $2, R10
	VPCMPEQD  Y15, Y15, Y15
	VPSLLD    $31, Y15, Y15
	MOVQ      f8+40(FP), DX
	SHLQ      $2, DX
	MOVQ      dy_base+0(FP), SI
	MOVQ      m_base+56(FP), DI

gradTile:
	DECQ tiles+48(FP)
	JL   gradOutDone
	XORQ CX, CX

gradChan:
	LEAQ    (SI)(CX*1), R11
	VMOVUPS (R11), Y0
	VMOVUPS (R11)(BX*1), Y1
	ADDQ    R8, R11
	VMOVUPS (R11), Y2
	VMOVUPS (R11)(BX*1), Y3
	LEAQ    (DI)(CX*1), R9
	LEAQ    (R9)(R10*1), R13
	LEAQ    (R9)(R10*2), R14
	LEAQ    (R13)(R10*2), R15

	// Row 0: a = d00, b = d01.
	VMOVUPS Y0, (R9)
	VADDPS  Y1, Y0, Y4
	VMOVUPS Y4, (R9)(R12*1)
	VSUBPS  Y1, Y0, Y4
	VMOVUPS Y4, (R9)(R12*2)
	VXORPS  Y15, Y1, Y4
	VMOVUPS Y4, (R9)(AX*1)

	// Row 1: a = d00 + d10, b = d01 + d11.
	VADDPS  Y2, Y0, Y5
	VADDPS  Y3, Y1, Y6
	VMOVUPS Y5, (R13)
	VADDPS  Y6, Y5, Y4
	VMOVUPS Y4, (R13)(R12*1)
	VSUBPS  Y6, Y5, Y4
	VMOVUPS Y4, (R13)(R12*2)
	VXORPS  Y15, Y6, Y4
	VMOVUPS Y4, (R13)(AX*1)

	// Row 2: a = d00 − d10, b = d01 − d11.
	VSUBPS  Y2, Y0, Y5
	VSUBPS  Y3, Y1, Y6
	VMOVUPS Y5, (R14)
	VADDPS  Y6, Y5, Y4
	VMOVUPS Y4, (R14)(R12*1)
	VSUBPS  Y6, Y5, Y4
	VMOVUPS Y4, (R14)(R12*2)
	VXORPS  Y15, Y6, Y4
	VMOVUPS Y4, (R14)(AX*1)

	// Row 3: a = −d10, b = −d11.
	VXORPS  Y15, Y2, Y5
	VXORPS  Y15, Y3, Y6
	VMOVUPS Y5, (R15)
	VADDPS  Y6, Y5, Y4
	VMOVUPS Y4, (R15)(R12*1)
	VSUBPS  Y6, Y5, Y4
	VMOVUPS Y4, (R15)(R12*2)
	VMOVUPS Y3, (R15)(AX*1)

	ADDQ $32, CX
	CMPQ CX, DX
	JLT  gradChan

	ADDQ BX, SI
	ADDQ BX, SI
	ADDQ BX, DI
	JMP  gradTile

gradOutDone:
	VZEROUPPER
	RET

// func bnResidualAVX2(xs []float32, ys []float32, rs []float32, c int, c8 int, scale []float32, shift []float32, s float32, relu bool)
TEXT ·bnResidualAVX2(SB), NOSPLIT, $0-141
	MOVQ         xs_base+0(FP), SI
	MOVQ         xs_len+8(FP), DX
	MOVQ         ys_base+24(FP), R13
	MOVQ         rs_base+48(FP), R14
	MOVQ         c+72(FP), CX
	MOVQ         c8+80(FP), R8
	MOVQ         scale_base+88(FP), R9
	MOVQ         shift_base+112(FP), R10
	VBROADCASTSS s+136(FP), Y6
	MOVBLZX      relu+140(FP), R11
	SHLQ         $2, CX
	SHLQ         $2, R8
	LEAQ         (SI)(DX*4), R12
	SUBQ         SI, R13
	SUBQ         SI, R14
	VXORPS       Y5, Y5, Y5

resRow:
	CMPQ SI, R12
	JAE  resDone
	LEAQ (SI)(R13*1), DI
	LEAQ (SI)(R14*1), AX
	XORQ BX, BX

resGroup:
	CMPQ    BX, R8
	JGE     resNext
	VMOVUPS (SI)(BX*1), Y3
	VMULPS  (R9)(BX*1), Y3, Y3
	VADDPS  (R10)(BX*1), Y3, Y3
	VMULPS  (AX)(BX*1), Y6, Y4
	VADDPS  Y4, Y3, Y3
	TESTQ   R11, R11
	JZ      resStore
	VMAXPS  Y3, Y5, Y3

resStore:
	VMOVUPS Y3, (DI)(BX*1)
	ADDQ    $32, BX
	JMP     resGroup

resNext:
	ADDQ CX, SI
	JMP  resRow

resDone:
	VZEROUPPER
	RET

DATA maxIota<>+0(SB)/4, $0
DATA maxIota<>+4(SB)/4, $1
DATA maxIota<>+8(SB)/4, $2
DATA maxIota<>+12(SB)/4, $3
DATA maxIota<>+16(SB)/4, $4
DATA maxIota<>+20(SB)/4, $5
DATA maxIota<>+24(SB)/4, $6
DATA maxIota<>+28(SB)/4, $7
GLOBL maxIota<>(SB), RODATA|NOPTR, $32

DATA maxNegInf<>+0(SB)/4, $0xff800000
GLOBL maxNegInf<>(SB), RODATA|NOPTR, $4

// func maxPoolAVX2(x []float32, y []float32, arg []int32, c int, c8 int, taps []int32)
TEXT ·maxPoolAVX2(SB), NOSPLIT, $0-112
	MOVQ         x_base+0(FP), SI
	MOVQ         y_base+24(FP), DI
	MOVQ         arg_base+48(FP), R8
	MOVQ         c8+80(FP), DX
	MOVQ         taps_base+88(FP), R9
	MOVQ         taps_len+96(FP), R10
	VMOVUPS      maxIota<>(SB), Y15
	VBROADCASTSS maxNegInf<>(SB), Y14
	XORQ         CX, CX

mpGroup:
	CMPQ         CX, DX
	JGE          mpDone
	VMOVAPS      Y14, Y0
	MOVLQSX      (R9), R12
	ADDQ         CX, R12
	MOVQ         R12, X1
	VPBROADCASTD X1, Y1
	VPADDD       Y15, Y1, Y1
	XORQ         R11, R11

mpTap:
	CMPQ         R11, R10
	JGE          mpStore
	MOVLQSX      (R9)(R11*4), R12
	ADDQ         CX, R12
	VMOVUPS      (SI)(R12*4), Y2
	VCMPPS       $0x1e, Y0, Y2, Y3
	VCMPPS       $0x03, Y2, Y2, Y4
	VORPS        Y4, Y3, Y3
	VBLENDVPS    Y3, Y2, Y0, Y0
	MOVQ         R12, X5
	VPBROADCASTD X5, Y5
	VPADDD       Y15, Y5, Y5
	VBLENDVPS    Y3, Y5, Y1, Y1
	INCQ         R11
	JMP          mpTap

mpStore:
	VMOVUPS Y0, (DI)(CX*4)
	VMOVUPS Y1, (R8)(CX*4)
	ADDQ    $8, CX
	JMP     mpGroup

mpDone:
	VZEROUPPER
	RET
