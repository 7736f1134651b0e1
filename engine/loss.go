package engine

import (
	"fmt"
	"math"

	"github.com/gonas/nas/engine/parallel"
)

// Loss is the mean softmax cross-entropy of a graph's logits against integer labels, with
// optional label smoothing: the target of a sample with label y is (1-ε)·onehot(y) + ε/K.
// Forward computes it after the last layer; Backward starts from it.
type Loss struct {
	// Labels holds one class index per sample, Batch() of them; the caller fills it.
	Labels []int32

	logits    *Node
	classes   int
	smoothing float32
	probs     []float32 // softmax of the logits, Batch()×classes
	perSample []float64
	correct   []bool
	value     float64
	fwd, bwd  func(w, i int)
	g         *Graph
}

// lossChunk is how many samples one chunk of the loss covers.
const lossChunk = 16

// SoftmaxCrossEntropy makes the graph's loss the mean cross-entropy of logits (a vector node of
// K classes) with label smoothing ε in [0, 1).
func (g *Graph) SoftmaxCrossEntropy(logits *Node, smoothing float32) *Loss {
	if g.loss != nil {
		panic("engine: graph already has a loss")
	}
	if logits.Shape.H != 1 || logits.Shape.W != 1 {
		panic(fmt.Sprintf("engine: loss needs vector logits, got %v", logits.Shape))
	}
	if smoothing < 0 || smoothing >= 1 {
		panic(fmt.Sprintf("engine: label smoothing %v outside [0, 1)", smoothing))
	}
	k := logits.Shape.C
	l := &Loss{
		Labels:    make([]int32, g.batch),
		logits:    logits,
		classes:   k,
		smoothing: smoothing,
		probs:     make([]float32, g.batch*k),
		perSample: make([]float64, g.batch),
		correct:   make([]bool, g.batch),
		g:         g,
	}
	l.fwd = func(_, c int) {
		lo, hi := parallel.Span(c, g.n, lossChunk)
		for i := lo; i < hi; i++ {
			l.forwardSample(i)
		}
	}
	l.bwd = func(_, c int) {
		lo, hi := parallel.Span(c, g.n, lossChunk)
		scale := 1 / float32(g.n)
		off := smoothing / float32(k)
		for i := lo; i < hi; i++ {
			p := l.probs[i*k : (i+1)*k]
			d := logits.Grad[i*k : (i+1)*k]
			y := int(l.Labels[i])
			for j := range p {
				t := off
				if j == y {
					t += 1 - smoothing
				}
				d[j] = (p[j] - t) * scale
			}
		}
	}
	g.loss = l
	return l
}

func (l *Loss) forwardSample(i int) {
	k := l.classes
	z := l.logits.Value[i*k : (i+1)*k]
	p := l.probs[i*k : (i+1)*k]
	y := int(l.Labels[i])
	if y < 0 || y >= k {
		panic(fmt.Sprintf("engine: label %d of sample %d outside [0, %d)", y, i, k))
	}
	maxZ, arg := z[0], 0
	for j, v := range z {
		if v > maxZ {
			maxZ, arg = v, j
		}
	}
	var sum float64
	for j, v := range z {
		e := math.Exp(float64(v - maxZ))
		p[j] = float32(e)
		sum += e
	}
	logSum := math.Log(sum)
	var loss float64
	off := float64(l.smoothing) / float64(k)
	for j, v := range z {
		p[j] = float32(float64(p[j]) / sum)
		t := off
		if j == y {
			t += 1 - float64(l.smoothing)
		}
		if t != 0 {
			loss -= t * (float64(v-maxZ) - logSum)
		}
	}
	l.perSample[i] = loss
	l.correct[i] = arg == y
}

func (l *Loss) forward() {
	g := l.g
	g.pool.For(parallel.Chunks(g.n, lossChunk), l.fwd)
	var sum float64
	for _, v := range l.perSample[:g.n] {
		sum += v
	}
	l.value = sum / float64(g.n)
}

// seed sets the logits' gradient, which no op has written yet in the step.
func (l *Loss) seed() {
	l.g.pool.For(parallel.Chunks(l.g.n, lossChunk), l.bwd)
}

// Value is the mean loss over the active batch of the last Forward.
func (l *Loss) Value() float64 { return l.value }

// Correct counts the samples of the last Forward whose largest logit is their label.
func (l *Loss) Correct() int {
	c := 0
	for _, ok := range l.correct[:l.g.n] {
		if ok {
			c++
		}
	}
	return c
}

// Probs are the softmax probabilities of sample i from the last Forward.
func (l *Loss) Probs(i int) []float32 { return l.probs[i*l.classes : (i+1)*l.classes] }
