package space

import (
	"fmt"
	"strings"
)

// The genetic_stage family is a stage of Genetic CNN (Xie and Yuille 2017): a DAG of K ordinary
// nodes v1..vK, each a 3×3 conv-BN-ReLU of the block's width on the sum of its inputs, whose
// K(K−1)/2 connection bits are the genome. Bit (i, j), i < j, says whether vi feeds vj. A default
// input node v0, a 3×3 conv-BN-ReLU from the stage's input to the width, feeds every node that
// has a successor but no predecessor; a default output node v(K+1) sums every node that has a
// predecessor but no successor and applies a 3×3 conv-BN-ReLU. A node with neither is isolated
// and dropped. A stage whose bits are all 0 is the input node's conv alone.

// maxGeneticNodes bounds K: the canonical code tries every numbering of the nodes (K!).
const maxGeneticNodes = 7

// geneticCode is a stage's connection bits: edge[i][j], i < j, says whether node i feeds node j
// (nodes numbered from 0 here, v(i+1) in the paper).
type geneticCode struct {
	k    int
	edge [][]bool
}

// parseGeneticCode reads a code written as the paper does: K−1 groups joined by "-", the j-th
// (from 1) holding the j bits of node v(j+1)'s predecessors v1..vj.
func parseGeneticCode(s string) (geneticCode, error) {
	groups := strings.Split(s, "-")
	k := len(groups) + 1
	if k > maxGeneticNodes {
		return geneticCode{}, fmt.Errorf("has %d nodes, at most %d are allowed", k, maxGeneticNodes)
	}
	c := newGeneticCode(k)
	for j, g := range groups {
		if len(g) != j+1 {
			return geneticCode{}, fmt.Errorf("group %d is %q: the group of node v%d needs %d bits, one per node before it (e.g. \"1-01-001\" for a chain of 4 nodes)", j+1, g, j+2, j+1)
		}
		for i, r := range g {
			switch r {
			case '0':
			case '1':
				c.edge[i][j+1] = true
			default:
				return geneticCode{}, fmt.Errorf("group %d is %q: bits are 0 or 1", j+1, g)
			}
		}
	}
	return c, nil
}

func newGeneticCode(k int) geneticCode {
	c := geneticCode{k: k, edge: make([][]bool, k)}
	for i := range c.edge {
		c.edge[i] = make([]bool, k)
	}
	return c
}

// String writes the code as the paper does, e.g. "1-01-001".
func (c geneticCode) String() string {
	var sb strings.Builder
	for j := 1; j < c.k; j++ {
		if j > 1 {
			sb.WriteByte('-')
		}
		for i := range j {
			if c.edge[i][j] {
				sb.WriteByte('1')
			} else {
				sb.WriteByte('0')
			}
		}
	}
	return sb.String()
}

// preds and succs tell whether node v has a predecessor and a successor.
func (c geneticCode) preds(v int) bool {
	for i := range v {
		if c.edge[i][v] {
			return true
		}
	}
	return false
}

func (c geneticCode) succs(v int) bool {
	for j := v + 1; j < c.k; j++ {
		if c.edge[v][j] {
			return true
		}
	}
	return false
}

// canonical returns the largest code (in the order of String) among the renumberings of the
// nodes that keep every edge going forward: codes that give the same network (the same DAG up
// to the numbering of its nodes, isolated nodes included) have the same canonical code, and it
// numbers the connected nodes first, isolated nodes last.
func (c geneticCode) canonical() geneticCode {
	best := c.String()
	perm := make([]int, c.k) // perm[v] is the new number of node v
	used := make([]bool, c.k)
	var try func(pos int)
	// Nodes are placed in new order; a node may take position pos only if all its
	// predecessors have been placed.
	try = func(pos int) {
		if pos == c.k {
			r := newGeneticCode(c.k)
			for i := range c.k {
				for j := i + 1; j < c.k; j++ {
					if c.edge[i][j] {
						r.edge[perm[i]][perm[j]] = true
					}
				}
			}
			if s := r.String(); s > best {
				best = s
			}
			return
		}
		for v := range c.k {
			if used[v] {
				continue
			}
			ready := true
			for i := range v {
				if c.edge[i][v] && !used[i] {
					ready = false
					break
				}
			}
			if !ready {
				continue
			}
			used[v], perm[v] = true, pos
			try(pos + 1)
			used[v] = false
		}
	}
	try(0)
	r, err := parseGeneticCode(best)
	if err != nil {
		panic(err)
	}
	return r
}

// normalizeGeneticStage checks a genetic_stage block's code and writes it in canonical form.
func normalizeGeneticStage(_ *family, b *Block, pathOf func(string) string) error {
	if b.Code == "" {
		return fieldError(pathOf("code"), "missing: family genetic_stage needs its connection bits, e.g. \"1-01-001\" for a chain of 4 nodes")
	}
	c, err := parseGeneticCode(b.Code)
	if err != nil {
		return fieldError(pathOf("code"), "%v", err)
	}
	b.Code = c.canonical().String()
	return nil
}

// buildGeneticStage appends the layers of a genetic_stage block (see the family's description).
func buildGeneticStage(g *graph, s *scope, x int, b Block, _ residualTail) int {
	c, err := parseGeneticCode(b.Code)
	if err != nil {
		g.fail("code %q: %v", b.Code, err)
		return 0
	}
	conv := func(s *scope, x int) int {
		return g.cbr(s, x, convSpec{out: b.Width, kh: 3, kw: 3, padH: 1, padW: 1})
	}
	in := conv(s.sub("input"), x)
	out := make([]int, c.k)
	var ends []int
	for v := range c.k {
		p, q := c.preds(v), c.succs(v)
		if !p && !q {
			continue // isolated
		}
		sum := -1
		for i := range v {
			if c.edge[i][v] {
				sum = g.sum(s, sum, out[i])
			}
		}
		if sum < 0 {
			sum = in
		}
		out[v] = conv(s.sub(fmt.Sprintf("node%d", v+1)), sum)
		if !q {
			ends = append(ends, out[v])
		}
	}
	if len(ends) == 0 {
		return g.se(s, in, b.SE)
	}
	sum := -1
	for _, e := range ends {
		sum = g.sum(s, sum, e)
	}
	return g.se(s, conv(s.sub("output"), sum), b.SE)
}

// sum adds x to the running sum acc (-1 for none yet).
func (g *graph) sum(s *scope, acc, x int) int {
	if acc < 0 {
		return x
	}
	return g.addScaled(s.name("add"), acc, x, 1)
}
