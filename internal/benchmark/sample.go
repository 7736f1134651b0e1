package benchmark

import (
	"fmt"
	"math/rand"

	"github.com/gonas/nas/evaluator"
	"github.com/gonas/nas/space"
)

// maxTriesPerCandidate bounds the draws Sample makes for one candidate: as many as a search
// makes for one proposal (search.DefaultMaxTries).
const maxTriesPerCandidate = 1000

// CandidateName is the workload name of the i-th network of a sample, counting from 0.
func CandidateName(i int) string { return fmt.Sprintf("cand_%d", i) }

// Sample draws n distinct networks of the bound space sp, as a search's random proposals do:
// genomes from sp.Random with a generator seeded by seed, kept only when they pass sp.Check (the
// space's Budget) and evaluator.CheckMemory at batch, and when their network differs from every
// one kept before. The i-th is named CandidateName(i). The same space, n, seed and batch give the
// same networks on every machine whose memory limit admits them.
func Sample(sp *space.SearchSpace, n int, seed int64, batch int) ([]*space.Arch, error) {
	rng := rand.New(rand.NewSource(seed))
	seen := map[string]bool{}
	out := make([]*space.Arch, 0, n)
	var last error
	for tries := 0; len(out) < n; tries++ {
		if tries == n*maxTriesPerCandidate {
			return nil, fmt.Errorf("space %s: %d draws gave %d of the %d networks asked for; the last rejected: %v", sp.Name, tries, len(out), n, last)
		}
		g := sp.Random(rng)
		if last = sp.Check(g); last != nil {
			continue
		}
		a, err := sp.Decode(g)
		if err != nil {
			return nil, err
		}
		c, err := a.Counts()
		if err != nil {
			return nil, err
		}
		if last = evaluator.CheckMemory(c, batch); last != nil {
			continue
		}
		key := sp.Key(g)
		if seen[key] {
			last = fmt.Errorf("network %s drawn before", key)
			continue
		}
		seen[key] = true
		a.Name = CandidateName(len(out))
		out = append(out, a)
	}
	return out, nil
}
