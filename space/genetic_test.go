package space

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

// tinyGenetic is one genetic_stage of width 2 on a 1×4×4 input with the default head.
func tinyGenetic(code string) string {
	return fmt.Sprintf("input: [1, 4, 4]\nclasses: 2\nstages:\n  - {family: genetic_stage, width: 2, code: %q}\n", code)
}

func TestGeneticStageCountsByHand(t *testing.T) {
	for _, c := range []struct {
		code         string
		params, macs int64
		convs, adds  int
		why          string
	}{
		// v1→v2, v3 isolated: input conv 1→2 (18 params, 18·16 = 288 MACs), node1, node2 and
		// the output conv 2→2 (36 params, 576 MACs each), 4 BN of 2 channels (4 params each),
		// GAP and linear 2→2 with bias (6 params, 4 MACs): 18+108+16+6 = 148 params and
		// 288+1728+4 = 2020 MACs.
		{"1-00", 148, 2020, 4, 0, "one edge"},
		// The same edge on other nodes is the same network.
		{"0-10", 148, 2020, 4, 0, "one edge, renumbered"},
		// Every bit 0: the input conv alone, 18+4+6 = 28 params, 288+4 = 292 MACs.
		{"0-00", 28, 292, 1, 0, "all zero"},
		// v1→v3 and v2→v3: v1 and v2 both read the input conv, v3 sums them (one add); the
		// output conv reads v3 alone: 5 convs, 18+4·36+5·4+6 = 188 params, 288+4·576+4 = 2596.
		{"0-11", 188, 2596, 5, 1, "two into one"},
		// v1→v2, v1→v3: the output node sums v2 and v3 (one add); same convs.
		{"1-10", 188, 2596, 5, 1, "one into two"},
	} {
		t.Run(c.why, func(t *testing.T) {
			a := mustParse(t, tinyGenetic(c.code))
			cnt, err := a.Counts()
			if err != nil {
				t.Fatal(err)
			}
			if cnt.Params != c.params || cnt.MACs != c.macs {
				t.Errorf("code %s: %d params, %d MACs; want %d and %d", c.code, cnt.Params, cnt.MACs, c.params, c.macs)
			}
			n := mustExpand(t, a)
			if got := countOps(n, OpConv); got != c.convs {
				t.Errorf("code %s: %d convs, want %d", c.code, got, c.convs)
			}
			if got := countOps(n, OpAdd); got != c.adds {
				t.Errorf("code %s: %d adds, want %d", c.code, got, c.adds)
			}
		})
	}
}

func TestGeneticStageDropsIsolatedNodes(t *testing.T) {
	// v2→v4 only: v1 and v3 are isolated; the canonical code numbers the connected nodes first.
	n := mustExpand(t, mustParse(t, tinyGenetic("0-00-010")))
	for _, l := range n.Layers {
		if strings.Contains(l.Name, ".node") && !strings.Contains(l.Name, ".node1.") && !strings.Contains(l.Name, ".node2.") {
			t.Errorf("layer %s: the canonical code numbers the two connected nodes 1 and 2", l.Name)
		}
	}
	if got := countOps(n, OpConv); got != 4 {
		t.Errorf("%d convs, want input, two nodes and output", got)
	}
}

func TestEquivalentGeneticCodesHashAlike(t *testing.T) {
	hash := func(code string) string {
		h, err := mustParse(t, tinyGenetic(code)).Hash()
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	same := [][]string{
		{"1-00", "0-10", "0-01"},
		{"1-10-000", "0-01-010", "0-10-100"},
		{"1-01-001", "1-01-001"},
		{"0-11-000", "0-00-110", "0-00-011"},
	}
	for _, group := range same {
		for _, c := range group[1:] {
			if hash(c) != hash(group[0]) {
				t.Errorf("codes %s and %s give one network but hash apart", group[0], c)
			}
		}
	}
	for _, pair := range [][2]string{{"1-00", "0-00"}, {"1-01", "1-11"}, {"0-11", "1-10"}} {
		if hash(pair[0]) == hash(pair[1]) {
			t.Errorf("codes %s and %s give different networks but hash alike", pair[0], pair[1])
		}
	}
}

func TestGeneticCodeErrors(t *testing.T) {
	for code, want := range map[string]string{
		"":                                   "missing",
		"1-0":                                "needs 2 bits",
		"1-02":                               "bits are 0 or 1",
		"1-01-001-0001-00001-000001-0000001": "at most 7",
	} {
		_, err := Parse([]byte(tinyGenetic(code)), "g.yaml")
		var ce *ConfigError
		if !errors.As(err, &ce) || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "code") {
			t.Errorf("code %q: error %v, want a ConfigError on code saying %q", code, err, want)
		}
	}
}

// The paper's named structures on MNIST: the chain and the dense stages have the same convs
// (every node is used, one start and one end), counted by hand: stage 1 convs 1→20 (180
// params) and four 20→20 (3600 each) on 28×28, stage 2 convs 20→50 (9000) and six 50→50
// (22500 each) on 14×14, 12 BN layers (200 + 700 params), fc 2450→500 and 500→10.
func TestGeneticBaselinesCounts(t *testing.T) {
	const params = 180 + 4*3600 + 200 + 9000 + 6*22500 + 700 + 2450*500 + 500 + 500*10 + 10
	const macs = (180+4*3600)*28*28 + (9000+6*22500)*14*14 + 2450*500 + 500*10
	for name, adds := range map[string]int{"chain": 0, "dense": 1 + (1 + 2 + 3)} {
		a, err := Load(baselines + "genetic/genetic_cnn_" + name + "_mnist.yaml")
		if err != nil {
			t.Fatal(err)
		}
		c, err := a.Counts()
		if err != nil {
			t.Fatal(err)
		}
		if c.Params != params || c.MACs != macs {
			t.Errorf("%s: %d params and %d MACs, want %d and %d", name, c.Params, c.MACs, params, macs)
		}
		if got := countOps(mustExpand(t, a), OpAdd); got != adds {
			t.Errorf("%s: %d adds, want %d", name, got, adds)
		}
	}
}

func FuzzGeneticCode(f *testing.F) {
	for _, s := range []string{"1", "1-01", "0-00-010", "1-11-111-1111", "1-0", "x", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := parseGeneticCode(s)
		if err != nil {
			return
		}
		if c.String() != s {
			t.Fatalf("%q reads back as %q", s, c.String())
		}
		k := c.canonical()
		if k.canonical().String() != k.String() {
			t.Fatalf("canonical of %q is %q, whose canonical is %q", s, k, k.canonical())
		}
		if edges(k) != edges(c) || k.String() < s {
			t.Fatalf("canonical of %q is %q", s, k)
		}
	})
}

func edges(c geneticCode) int {
	return strings.Count(c.String(), "1")
}
