package search

import (
	"context"
	"fmt"
	"hash/fnv"
	"math"
	"math/rand"
	"strconv"
	"strings"
	"sync"
	"time"
)

// bits is a discrete test space: genomes are strings of '0' and '1', standing in for the
// choices of an architecture genome. With maxOnes >= 0, genomes with more ones than maxOnes are
// over budget, the way a network with too many parameters is.
type bits struct {
	n       int
	maxOnes int
}

func (s bits) Random(rng *rand.Rand) string {
	b := make([]byte, s.n)
	for i := range b {
		b[i] = '0' + byte(rng.Intn(2))
	}
	return string(b)
}

// Mutate flips one bit, then every bit with probability 1/n.
func (s bits) Mutate(g string, rng *rand.Rand) string {
	b := []byte(g)
	b[rng.Intn(s.n)] ^= 1
	for i := range b {
		if rng.Intn(s.n) == 0 {
			b[i] ^= 1
		}
	}
	return string(b)
}

// Crossover is uniform crossover.
func (s bits) Crossover(a, b string, rng *rand.Rand) string {
	c := []byte(a)
	for i := range c {
		if rng.Intn(2) == 0 {
			c[i] = b[i]
		}
	}
	return string(c)
}

func (s bits) Key(g string) string { return g }

func (s bits) Check(g string) error {
	if ones := strings.Count(g, "1"); s.maxOnes >= 0 && ones > s.maxOnes {
		return fmt.Errorf("ones: %d exceed the limit of %d", ones, s.maxOnes)
	}
	return nil
}

// nk is Kauffman's NK landscape over bits: bit i contributes a random value that depends on it
// and the k bits after it (cyclically); the fitness, to be maximised, is the mean contribution.
// Its epistasis makes it rugged enough that selection has something to find.
type nk struct {
	n, k  int
	table [][]float64
}

func newNK(n, k int, seed int64) nk {
	rng := rand.New(rand.NewSource(seed))
	t := make([][]float64, n)
	for i := range t {
		t[i] = make([]float64, 1<<(k+1))
		for j := range t[i] {
			t[i][j] = rng.Float64()
		}
	}
	return nk{n, k, t}
}

func (f nk) fitness(g string) float64 {
	sum := 0.0
	for i := 0; i < f.n; i++ {
		idx := 0
		for j := 0; j <= f.k; j++ {
			idx = idx<<1 | int(g[(i+j)%f.n]-'0')
		}
		sum += f.table[i][idx]
	}
	return sum / float64(f.n)
}

// hash64 is a stable hash of a string, for deterministic pseudo-random behaviour per key.
func hash64(s string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(s))
	return h.Sum64()
}

// twoObjectives is a synthetic two-objective problem over bits: minimise -NK fitness and the
// number of ones (a stand-in for error and model size). Its fidelity, if positive, blurs the NK
// term by a key-dependent noise of amplitude 1/(1+fidelity), as fewer epochs would. Keys whose
// hash is divisible by failEvery fail, as diverging networks do.
type twoObjectives struct {
	f         nk
	failEvery uint64
}

func (p twoObjectives) outcome(key string, fidelity float64) Outcome {
	h := hash64(key)
	if p.failEvery > 0 && h%p.failEvery == 0 {
		return Outcome{Failure: "diverged: loss is NaN"}
	}
	noise := 0.0
	if fidelity > 0 {
		noise = (float64(h%1000)/1000 - 0.5) / (1 + fidelity)
	}
	return Outcome{Objectives: []float64{-p.f.fitness(key) + noise, float64(strings.Count(key, "1"))}}
}

// recorder is an evaluator over a synthetic problem that counts its calls and can delay each by
// a key-dependent time, so that evaluations finish out of order.
type recorder struct {
	problem func(key string, fidelity float64) Outcome
	jitter  time.Duration
	check   func(g string) error // if set, every evaluated genome must pass it

	mu        sync.Mutex
	calls     map[evalKey]int
	violation string
}

func newRecorder(problem func(string, float64) Outcome) *recorder {
	return &recorder{problem: problem, calls: map[evalKey]int{}}
}

func (e *recorder) Evaluate(ctx context.Context, req Request[string]) (Outcome, error) {
	if e.jitter > 0 {
		time.Sleep(time.Duration(hash64(req.Key+strconv.Itoa(req.Trial)) % uint64(e.jitter)))
	}
	e.mu.Lock()
	e.calls[evalKey{req.Key, req.Fidelity}]++
	if e.check != nil && e.violation == "" {
		if err := e.check(req.Genome); err != nil {
			e.violation = fmt.Sprintf("trial %d: %s was evaluated: %v", req.Trial, req.Key, err)
		}
	}
	e.mu.Unlock()
	return e.problem(req.Key, req.Fidelity), nil
}

func (e *recorder) total() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	n := 0
	for _, c := range e.calls {
		n += c
	}
	return n
}

// vec is a real-valued test space for the ZDT problems: d genes in [0, 1], SBX crossover and
// polynomial mutation as in Deb et al. (2002).
type vec struct{ d int }

const (
	sbxEta = 15.0
	pmEta  = 20.0
)

func (s vec) Random(rng *rand.Rand) []float64 {
	x := make([]float64, s.d)
	for i := range x {
		x[i] = rng.Float64()
	}
	return x
}

func (s vec) Mutate(g []float64, rng *rand.Rand) []float64 {
	x := append([]float64(nil), g...)
	for i := range x {
		if rng.Float64() >= 1/float64(s.d) {
			continue
		}
		u := rng.Float64()
		var delta float64
		if u < 0.5 {
			delta = math.Pow(2*u, 1/(pmEta+1)) - 1
		} else {
			delta = 1 - math.Pow(2*(1-u), 1/(pmEta+1))
		}
		x[i] = min(1, max(0, x[i]+delta))
	}
	return x
}

func (s vec) Crossover(a, b []float64, rng *rand.Rand) []float64 {
	x := append([]float64(nil), a...)
	for i := range x {
		if rng.Float64() >= 0.5 {
			continue
		}
		u := rng.Float64()
		var beta float64
		if u <= 0.5 {
			beta = math.Pow(2*u, 1/(sbxEta+1))
		} else {
			beta = math.Pow(1/(2*(1-u)), 1/(sbxEta+1))
		}
		if rng.Intn(2) == 0 {
			beta = -beta
		}
		x[i] = min(1, max(0, 0.5*((a[i]+b[i])+beta*(a[i]-b[i]))))
	}
	return x
}

func (s vec) Key(g []float64) string {
	var b strings.Builder
	for _, v := range g {
		b.WriteString(strconv.FormatUint(math.Float64bits(v), 16))
		b.WriteByte(' ')
	}
	return b.String()
}

func (s vec) Check([]float64) error { return nil }

// zdt1 is the ZDT1 problem of Zitzler, Deb and Thiele (2000); its Pareto front is
// f2 = 1 - sqrt(f1) for f1 in [0, 1].
func zdt1(x []float64) []float64 {
	g := 0.0
	for _, v := range x[1:] {
		g += v
	}
	g = 1 + 9*g/float64(len(x)-1)
	return []float64{x[0], g * (1 - math.Sqrt(x[0]/g))}
}

// generationalDistance returns the mean distance of points to ZDT1's true front.
func generationalDistance(points [][]float64) float64 {
	sum := 0.0
	for _, p := range points {
		best := math.Inf(1)
		for i := 0; i <= 2000; i++ {
			f1 := float64(i) / 2000
			best = min(best, math.Hypot(p[0]-f1, p[1]-(1-math.Sqrt(f1))))
		}
		sum += best
	}
	return sum / float64(len(points))
}
