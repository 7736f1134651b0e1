package engine

import (
	"math"

	"github.com/gonas/nas/engine/parallel"
)

// Buffer is a tensor that belongs to a trained model but is not trained by gradients, such as
// BatchNorm's running statistics. Saving a model means saving its Params and its State; loading
// means copying both back into the Values of a graph built for the same architecture.
type Buffer struct {
	Name  string
	Value []float32
}

// State lists every Buffer of the graph in the order the layers created them.
func (g *Graph) State() []*Buffer {
	var bs []*Buffer
	for _, n := range g.nodes {
		if bn, ok := n.op.(*batchNormOp); ok {
			bs = append(bs, bn.runMean, bn.runVar)
		}
	}
	return bs
}

// BatchNormEps is the ε that BatchNorm adds to the variance before its square root, in training
// and in inference: PyTorch's default for BatchNorm2d. Exports write it into their models.
const BatchNormEps = 1e-5

// bnMomentum is the weight of a batch's statistics in the running ones, PyTorch's default.
const bnMomentum = 0.1

// bnChunk is about how many float32s one chunk of a BatchNorm kernel covers, and bnMaxRows the
// most pixel rows it may have. A chunk is a whole number of rows of C channels, so that it can
// keep one partial sum per channel; it sums in float32, so its rows are few enough for float32 to
// stay accurate, and the chunks' sums are added in float64.
const (
	bnChunk   = 1 << 13
	bnMaxRows = 512
)

type batchNormOp struct {
	g           *Graph
	x, y        *Node
	gamma, beta *Param
	runMean     *Buffer
	runVar      *Buffer
	// rows is how many pixel rows one chunk covers.
	rows int
	// acc is each worker's scratch for the float32 sums of a chunk.
	acc [][]float32
	// partial holds each chunk's two per-channel sums: chunk i owns partial[2Ci : 2C(i+1)].
	partial []float64
	sum1    []float64
	sum2    []float64
	// batchStats records whether the last forward normalised with the batch's statistics
	// (training) or the running ones (eval); mean and invStd are the statistics it used.
	batchStats bool
	mean       []float64
	invStd     []float64
	// statShift is the value each channel's statistics are summed relative to; the forward
	// computes y = x·scale + shift; the backward dx += a·dy − b − k·(x − m).
	statShift, scale, shift []float32
	a, b, k, m              []float32
	statsFn, gradSumsFn     func(w, i int)
	normFn, dxFn            func(w, i int)
	// set makes backward set x's gradient instead of adding to it (see overwriter).
	set bool
	// folded marks a BatchNorm folded into the convolution before it: in a folded inference
	// Forward the convolution computes this op's output (see foldBatchNorm).
	folded bool
	// relu marks a BatchNorm that applies the ReLU consuming it, in place (see fuseReLU).
	relu bool
	// residual is the Add consuming the output that an unfolded forward computes too, writing
	// the Add's output instead of its own (see fuseAdd).
	residual *addOp
	// deferred marks a BatchNorm that the convolution reading its output applies as it copies
	// its input rows: an unfolded forward computes the statistics, scale and shift but writes no
	// output (see deferBatchNorm).
	deferred bool
}

func (o *batchNormOp) configure(p *plan) {
	s := p.step(o.y)
	o.relu, o.folded, o.deferred = s.relu, s.foldedBy != nil, s.deferredTo != nil
	if s.add != nil {
		o.residual = s.add.op.(*addOp)
	}
}

// BatchNorm adds per-channel batch normalisation, y = γ·(x − μ)/√(σ² + ε) + β with ε = 1e-5, like
// PyTorch's BatchNorm2d. In training, μ and σ² are the mean and biased variance of each channel
// over the active batch and all pixels, and the running averages are updated with momentum 0.1:
// running_mean ← 0.9·running_mean + 0.1·μ and running_var ← 0.9·running_var + 0.1·σ²·M/(M−1),
// where M = n·H·W is the number of values per channel (the factor is left out when M = 1). In
// eval, μ and σ² are the running averages (initially 0 and 1). γ (initially 1) and β (initially 0)
// are the NoDecay parameters "<y>.weight" and "<y>.bias"; the running averages are the Buffers
// "<y>.running_mean" and "<y>.running_var" listed by State, where <y> is the output's name,
// x.Name + ".bn".
func (g *Graph) BatchNorm(x *Node) *Node {
	c := x.Shape.C
	o := &batchNormOp{g: g, x: x, rows: min(bnMaxRows, max(1, bnChunk/c))}
	o.y = g.addNode(x.Name+".bn", x.Shape, o, x)
	name := o.y.Name
	ones := func(v []float32, _ *normalRand) {
		for i := range v {
			v[i] = 1
		}
	}
	o.gamma = g.addParam(name+".weight", true, ones, c)
	o.beta = g.addParam(name+".bias", true, func([]float32, *normalRand) {}, c)
	o.runMean = &Buffer{Name: name + ".running_mean", Value: make([]float32, c)}
	o.runVar = &Buffer{Name: name + ".running_var", Value: make([]float32, c)}
	ones(o.runVar.Value, nil)
	o.partial = make([]float64, 2*c*parallel.Chunks(g.batch*x.Shape.H*x.Shape.W, o.rows))
	o.sum1, o.sum2 = make([]float64, c), make([]float64, c)
	o.mean, o.invStd = make([]float64, c), make([]float64, c)
	o.statShift, o.scale, o.shift = make([]float32, c), make([]float32, c), make([]float32, c)
	o.a, o.b, o.k, o.m = make([]float32, c), make([]float32, c), make([]float32, c), make([]float32, c)

	o.acc = make([][]float32, g.pool.Threads())
	for w := range o.acc {
		o.acc[w] = make([]float32, bnAccLen(c))
	}
	o.statsFn = func(w, i int) {
		xs, _, _, s1, s2 := o.chunk(i)
		bnStats(xs, c, o.statShift, o.acc[w], s1, s2)
	}
	o.gradSumsFn = func(w, i int) {
		xs, dys, _, s1, s2 := o.chunk(i)
		scale, shift := o.reluMask()
		bnGradSums(xs, dys, c, o.m, scale, shift, o.acc[w], s1, s2)
	}
	o.normFn = func(_, i int) {
		lo, hi := parallel.Span(i, o.totalRows(), o.rows)
		if r := o.residual; r != nil {
			other, s := r.residual(o.y)
			bnResidual(x.Value[lo*c:hi*c], r.y.Value[lo*c:hi*c], other.Value[lo*c:hi*c], c, o.scale, o.shift, s, r.relu)
			return
		}
		bnNormalize(x.Value[lo*c:hi*c], o.y.Value[lo*c:hi*c], c, o.scale, o.shift, o.relu)
	}
	o.dxFn = func(_, i int) {
		xs, dys, dxs, _, _ := o.chunk(i)
		scale, shift := o.reluMask()
		bnInputGrad(xs, dys, dxs, c, o.a, o.b, o.k, o.m, scale, shift, !o.set)
	}
	return o.y
}

// reluMask returns, for a BatchNorm that applies the ReLU consuming it, the scale and shift of its
// last forward, from which the backward kernels tell where the ReLU passed its input (x·scale +
// shift > 0, as the forward computed it) instead of reading the output back; nil otherwise.
func (o *batchNormOp) reluMask() (scale, shift []float32) {
	if o.relu {
		return o.scale, o.shift
	}
	return nil, nil
}

// chunk returns chunk i's rows of x, of the output's and the input's gradients (nil when the node
// has none) and its two slices of partial sums.
func (o *batchNormOp) chunk(i int) (xs, dys, dxs []float32, s1, s2 []float64) {
	c := o.x.Shape.C
	lo, hi := parallel.Span(i, o.totalRows(), o.rows)
	xs = o.x.Value[lo*c : hi*c]
	if o.y.Grad != nil {
		dys = o.y.Grad[lo*c : hi*c]
	}
	if o.x.Grad != nil {
		dxs = o.x.Grad[lo*c : hi*c]
	}
	p := o.partial[2*c*i : 2*c*(i+1)]
	return xs, dys, dxs, p[:c], p[c:]
}

// totalRows is the number of pixel rows of the active batch.
func (o *batchNormOp) totalRows() int { return o.g.n * o.x.Shape.H * o.x.Shape.W }

// reduce runs a summing chunk function over the active batch and adds the chunks' partial sums, in
// chunk order, into sum1 and sum2.
func (o *batchNormOp) reduce(fn func(w, i int)) {
	n := parallel.Chunks(o.totalRows(), o.rows)
	o.g.pool.For(n, fn)
	c := o.x.Shape.C
	clear(o.sum1)
	clear(o.sum2)
	for i := 0; i < n; i++ {
		p := o.partial[2*c*i : 2*c*(i+1)]
		for j := 0; j < c; j++ {
			o.sum1[j] += p[j]
			o.sum2[j] += p[c+j]
		}
	}
}

func (o *batchNormOp) overwrite(int) bool {
	o.set = true
	return true
}

func (o *batchNormOp) forward(g *Graph) {
	if o.folded && g.folded {
		return
	}
	o.affine(g.train)
	if o.deferred {
		return
	}
	g.pool.For(parallel.Chunks(o.totalRows(), o.rows), o.normFn)
}

// rowNorm returns how the consumer of a deferred BatchNorm's output normalises its input rows: the
// BatchNorm's last scale and shift, and whether its ReLU follows.
func (o *batchNormOp) rowNorm(relu bool) *rowNorm {
	return &rowNorm{scale: o.scale, shift: o.shift, relu: relu}
}

// affine sets the statistics the forward normalises with, the batch's in training (updating the
// running averages) or the running ones, and from them scale and shift: y = x·scale + shift.
func (o *batchNormOp) affine(train bool) {
	o.batchStats = train
	rm, rv := o.runMean.Value, o.runVar.Value
	if train {
		// Summing relative to a value of the batch, which is at most a few standard deviations
		// from the mean, keeps Σ(x−k)² − (Σ(x−k))²/M from cancellation.
		copy(o.statShift, o.x.Value)
		o.reduce(o.statsFn)
		m := float64(o.totalRows())
		unbias := 1.0
		if m > 1 {
			unbias = m / (m - 1)
		}
		for j := range o.mean {
			d := o.sum1[j] / m
			v := max(o.sum2[j]/m-d*d, 0)
			mean := float64(o.statShift[j]) + d
			o.mean[j] = mean
			o.invStd[j] = 1 / math.Sqrt(v+BatchNormEps)
			rm[j] = float32((1-bnMomentum)*float64(rm[j]) + bnMomentum*mean)
			rv[j] = float32((1-bnMomentum)*float64(rv[j]) + bnMomentum*v*unbias)
		}
	} else {
		for j := range o.mean {
			o.mean[j] = float64(rm[j])
			o.invStd[j] = 1 / math.Sqrt(float64(rv[j])+BatchNormEps)
		}
	}
	for j := range o.mean {
		s := float64(o.gamma.Value[j]) * o.invStd[j]
		o.scale[j] = float32(s)
		o.shift[j] = float32(float64(o.beta.Value[j]) - o.mean[j]*s)
		o.m[j] = float32(o.mean[j])
	}
}

func (o *batchNormOp) backward(g *Graph) {
	o.reduce(o.gradSumsFn)
	// sum1 = Σ dy and sum2 = Σ dy·(x − μ), so Σ dy·x̂ = sum2·invStd.
	m := float64(o.totalRows())
	for j := range o.mean {
		dyXhat := o.sum2[j] * o.invStd[j]
		o.gamma.Grad[j] += float32(dyXhat)
		o.beta.Grad[j] += float32(o.sum1[j])
		a := float64(o.gamma.Value[j]) * o.invStd[j]
		o.a[j] = float32(a)
		if o.batchStats {
			// dx = a·(dy − mean(dy) − x̂·mean(dy·x̂)), x̂ = (x − μ)·invStd.
			o.b[j] = float32(a * o.sum1[j] / m)
			o.k[j] = float32(a * dyXhat / m * o.invStd[j])
		} else {
			// The running statistics are constants: dx = a·dy.
			o.b[j], o.k[j] = 0, 0
		}
	}
	if o.x.Grad != nil {
		g.pool.For(parallel.Chunks(o.totalRows(), o.rows), o.dxFn)
	}
}

// The kernels below work on the rows of one chunk, c channels each, row by row. They leave the
// channels they can to their AVX2 forms (see vec_amd64.go) and take the rest in plain Go, with the
// same float32 operations in the same order. The summing kernels sum in float32 into acc, of
// bnAccLen(c) float32s of scratch: acc[:c] and acc[c:2c].
//
// Rows of fewer than 8 channels are too narrow for a vector each, so the AVX2 forms take them a
// period at a time instead: narrowPeriod(c) floats, the fewest whole rows that make whole
// vectors, with the per-channel constants repeated over the period, as if a row of that many
// channels. The summing kernels then sum each place of the period (lane) apart, in Go as in AVX2,
// into acc[:p] and acc[p:2p], add the rows past the last whole period to the first period's
// lanes, and fold each channel's lanes, in lane order, in float64.

// narrowPeriod returns the least common multiple of c < 8 and 8: the floats of the fewest whole
// rows of c channels that are whole vectors of 8.
func narrowPeriod(c int) int {
	p := 8
	for p%c != 0 {
		p += 8
	}
	return p
}

// maxNarrowPeriod is the longest narrowPeriod, of 7 channels.
const maxNarrowPeriod = 56

// bnAccLen is the length of the summing kernels' scratch acc for rows of c channels.
func bnAccLen(c int) int {
	if c < 8 {
		return 2 * narrowPeriod(c)
	}
	return 2 * c
}

// repeat fills d with c constants s repeated, d[l] = s[l mod c], and returns it; nil for a nil s.
func repeat(d *[maxNarrowPeriod]float32, s []float32, c, p int) []float32 {
	if s == nil {
		return nil
	}
	for l := range p {
		d[l] = s[l%c]
	}
	return d[:p]
}

// foldLanes sets s1[j] and s2[j] to the sums, in lane order and float64, of the lanes l ≡ j (mod c)
// of sum and sq.
func foldLanes(sum, sq []float32, c int, s1, s2 []float64) {
	for j := range c {
		var a, b float64
		for l := j; l < len(sum); l += c {
			a += float64(sum[l])
			b += float64(sq[l])
		}
		s1[j], s2[j] = a, b
	}
}

// bnStats sets s1[j] and s2[j] to Σ (x − k) and Σ (x − k)² over the rows of xs for channel j,
// where k = shift[j].
func bnStats(xs []float32, c int, shift, acc []float32, s1, s2 []float64) {
	if c < 8 {
		bnStatsNarrow(xs, c, shift, acc, s1, s2)
		return
	}
	j0 := bnStatsVec(xs, c, shift, acc)
	sum, sq := acc[:c], acc[c:2*c]
	clear(sum[j0:])
	clear(sq[j0:])
	for r := 0; j0 < c && r < len(xs); r += c {
		for j, v := range xs[r+j0 : r+c] {
			d := v - shift[j0+j]
			sum[j0+j] += d
			sq[j0+j] += float32(d * d)
		}
	}
	widen(s1, sum)
	widen(s2, sq)
}

// bnStatsNarrow is bnStats for rows of c < 8 channels, lane by lane.
func bnStatsNarrow(xs []float32, c int, shift, acc []float32, s1, s2 []float64) {
	p := narrowPeriod(c)
	var sh [maxNarrowPeriod]float32
	k := repeat(&sh, shift, c, p)
	sum, sq := acc[:p], acc[p:2*p]
	n := len(xs) / p * p
	if !bnStatsPeriods(xs[:n], p, k, acc) {
		clear(acc[:2*p])
		for r := 0; r < n; r += p {
			for l, v := range xs[r : r+p] {
				d := v - k[l]
				sum[l] += d
				sq[l] += float32(d * d)
			}
		}
	}
	for l, v := range xs[n:] {
		d := v - k[l]
		sum[l] += d
		sq[l] += float32(d * d)
	}
	foldLanes(sum, sq, c, s1, s2)
}

// bnGradSumsNarrow is bnGradSums for rows of c < 8 channels, lane by lane.
func bnGradSumsNarrow(xs, dys []float32, c int, m, scale, shift, acc []float32, s1, s2 []float64) {
	p := narrowPeriod(c)
	var mr, sr, hr [maxNarrowPeriod]float32
	mp, sp, hp := repeat(&mr, m, c, p), repeat(&sr, scale, c, p), repeat(&hr, shift, c, p)
	sum, prod := acc[:p], acc[p:2*p]
	add := func(xs, dys []float32) {
		for l, v := range xs {
			d := dys[l]
			if sp != nil && !passes(v, sp[l], hp[l]) {
				d = 0
			}
			sum[l] += d
			prod[l] += float32(d * (v - mp[l]))
		}
	}
	n := len(xs) / p * p
	if !bnGradSumsPeriods(xs[:n], dys[:n], p, mp, sp, hp, acc) {
		clear(acc[:2*p])
		for r := 0; r < n; r += p {
			add(xs[r:r+p], dys[r:r+p])
		}
	}
	add(xs[n:], dys[n:len(xs)])
	foldLanes(sum, prod, c, s1, s2)
}

// bnGradSums sets s1[j] and s2[j] to Σ dy and Σ dy·(x − m[j]) over the rows for channel j. With
// scale and shift (not nil), dys is the gradient of the ReLU of the BatchNorm's output, and each dy
// counts only where ReLU passed its input: where passes(x, scale[j], shift[j]).
func bnGradSums(xs, dys []float32, c int, m, scale, shift, acc []float32, s1, s2 []float64) {
	if c < 8 {
		bnGradSumsNarrow(xs, dys, c, m, scale, shift, acc, s1, s2)
		return
	}
	j0 := bnGradSumsVec(xs, dys, c, m, scale, shift, acc)
	sum, prod := acc[:c], acc[c:2*c]
	clear(sum[j0:])
	clear(prod[j0:])
	for r := 0; j0 < c && r < len(xs); r += c {
		dy := dys[r+j0 : r+c]
		for j, v := range xs[r+j0 : r+c] {
			d := dy[j]
			if scale != nil && !passes(v, scale[j0+j], shift[j0+j]) {
				d = 0
			}
			sum[j0+j] += d
			prod[j0+j] += float32(d * (v - m[j0+j]))
		}
	}
	widen(s1, sum)
	widen(s2, prod)
}

// passes reports whether the ReLU of a BatchNorm's output passes its gradient for input x: whether
// x·scale + shift, rounded as bnNormalize rounds it, is above zero (not for a NaN).
func passes(x, scale, shift float32) bool { return float32(x*scale)+shift > 0 }

// widen sets d to the float64 values of s.
func widen(d []float64, s []float32) {
	for j, v := range s {
		d[j] = float64(v)
	}
}

// bnNormalize sets y = x·scale[j] + shift[j] over the rows for channel j, or with relu the ReLU
// of that.
func bnNormalize(xs, ys []float32, c int, scale, shift []float32, relu bool) {
	j0 := bnNormalizeVec(xs, ys, c, scale, shift, relu)
	if c < 8 {
		n := bnNormalizePeriods(xs, ys, c, scale, shift, relu)
		xs, ys = xs[n:], ys[n:]
	}
	for r := 0; j0 < c && r < len(xs); r += c {
		y := ys[r+j0 : r+c]
		for j, v := range xs[r+j0 : r+c] {
			w := float32(v*scale[j0+j]) + shift[j0+j]
			if relu {
				w = reluOf(w)
			}
			y[j] = w
		}
	}
}

// bnResidual sets y = (x·scale[j] + shift[j]) + s·r over the rows for channel j, or with relu
// the ReLU of that: a BatchNorm's output plus a residual r, as Add computes it.
func bnResidual(xs, ys, rs []float32, c int, scale, shift []float32, s float32, relu bool) {
	j0 := bnResidualVec(xs, ys, rs, c, scale, shift, s, relu)
	if c < 8 {
		n := bnResidualPeriods(xs, ys, rs, c, scale, shift, s, relu)
		xs, ys, rs = xs[n:], ys[n:], rs[n:]
	}
	for r := 0; j0 < c && r < len(xs); r += c {
		y, res := ys[r+j0:r+c], rs[r+j0:r+c]
		for j, v := range xs[r+j0 : r+c] {
			w := float32(v*scale[j0+j]) + shift[j0+j]
			w += float32(s * res[j])
			if relu {
				w = reluOf(w)
			}
			y[j] = w
		}
	}
}

// bnInputGrad adds a[j]·dy − b[j] − k[j]·(x − m[j]) to dx over the rows for channel j, or
// without accumulate sets dx to it. With scale and shift (not nil), dy is taken as 0 where the
// ReLU did not pass it, as in bnGradSums.
func bnInputGrad(xs, dys, dxs []float32, c int, a, b, k, m, scale, shift []float32, accumulate bool) {
	j0 := bnInputGradVec(xs, dys, dxs, c, a, b, k, m, scale, shift, accumulate)
	if c < 8 {
		n := bnInputGradPeriods(xs, dys, dxs, c, a, b, k, m, scale, shift, accumulate)
		xs, dys, dxs = xs[n:], dys[n:], dxs[n:]
	}
	for r := 0; j0 < c && r < len(xs); r += c {
		dy, dx := dys[r+j0:r+c], dxs[r+j0:r+c]
		for j, v := range xs[r+j0 : r+c] {
			i := j0 + j
			d := dy[j]
			if scale != nil && !passes(v, scale[i], shift[i]) {
				d = 0
			}
			g := float32(a[i]*d) - b[i] - float32(k[i]*(v-m[i]))
			if accumulate {
				g = dx[j] + g
			}
			dx[j] = g
		}
	}
}
