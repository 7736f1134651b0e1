package space

import (
	"bytes"
	"fmt"
	"math/rand"
	"slices"
)

// Genome is a point of a SearchSpace: one gene per choice of the space that has more than one
// value, in the order of SearchSpace.Genes. Gene i selects value g[i] mod n of its n values, so
// that every vector of the right length stands for a network. Genomes are values: no method
// modifies one.
type Genome []uint16

// genomeFormat is the version of Encode's byte format.
const genomeFormat = 1

// Random draws a genome with every gene uniform over its values.
func (s *SearchSpace) Random(rng *rand.Rand) Genome {
	g := make(Genome, len(s.genes))
	for i, d := range s.genes {
		g[i] = uint16(rng.Intn(len(d.text)))
	}
	return g
}

// Mutate returns a copy of g with one gene that the network depends on (see Decode) changed to
// another of its values, so that the child differs from g and almost always in its network,
// and with every other gene changed with probability 1/len(g). A space without genes returns g's
// copy. Mutate needs a bound space and panics on a genome of another length.
func (s *SearchSpace) Mutate(g Genome, rng *rand.Rand) Genome {
	child := s.normalize(g)
	if len(child) == 0 {
		return child
	}
	used := make([]bool, len(child))
	if _, err := s.decode(child, used); err != nil {
		panic(fmt.Sprintf("space: Mutate: %v", err))
	}
	var effective []int
	for i, u := range used {
		if u {
			effective = append(effective, i)
		}
	}
	if len(effective) == 0 {
		effective = seq(0, len(child))
	}
	first := effective[rng.Intn(len(effective))]
	s.change(child, first, rng)
	for i := range child {
		if i != first && rng.Intn(len(child)) == 0 {
			s.change(child, i, rng)
		}
	}
	return child
}

// change sets gene i of g to another of its values, uniformly.
func (s *SearchSpace) change(g Genome, i int, rng *rand.Rand) {
	v := rng.Intn(len(s.genes[i].text) - 1)
	if v >= int(g[i]) {
		v++
	}
	g[i] = uint16(v)
}

// Crossover returns a child that takes each stage slot's genes together, and each network-wide
// gene, from a or from b with equal probability: a slot's family, depth, width and options were
// selected together, so they are passed on together. It panics on genomes of another length.
func (s *SearchSpace) Crossover(a, b Genome, rng *rand.Rand) Genome {
	s.mustFit(a)
	s.mustFit(b)
	child := slices.Clone(a)
	for _, unit := range s.units {
		if rng.Intn(2) == 1 {
			for _, i := range unit {
				child[i] = b[i]
			}
		}
	}
	return child
}

// Distance returns the normalised Hamming distance between a and b: the fraction of genes whose
// selected values differ, 0 for genomes that select the same values and 1 for genomes that
// differ everywhere. It panics on genomes of another length.
func (s *SearchSpace) Distance(a, b Genome) float64 {
	s.mustFit(a)
	s.mustFit(b)
	if len(a) == 0 {
		return 0
	}
	diff := 0
	for i, d := range s.genes {
		if n := len(d.text); int(a[i])%n != int(b[i])%n {
			diff++
		}
	}
	return float64(diff) / float64(len(a))
}

// Encode returns the compact byte form of g that DecodeGenome reads back: a format byte (1),
// four bytes that identify the space's genes and their values (the first bytes of a SHA-256 of
// Genes), then each gene's value mod its number of values, in one byte, or in two (big-endian)
// for a gene of more than 256 values. It panics on a genome of another length.
func (s *SearchSpace) Encode(g Genome) []byte {
	s.mustFit(g)
	out := make([]byte, 0, s.encodedLen())
	out = append(out, genomeFormat)
	out = append(out, s.fingerprint[:]...)
	for i, d := range s.genes {
		v := int(g[i]) % len(d.text)
		if len(d.text) > 256 {
			out = append(out, byte(v>>8))
		}
		out = append(out, byte(v))
	}
	return out
}

func (s *SearchSpace) encodedLen() int {
	n := 1 + len(s.fingerprint)
	for _, d := range s.genes {
		n++
		if len(d.text) > 256 {
			n++
		}
	}
	return n
}

// DecodeGenome reads a genome that Encode wrote for this space. It returns an error for another
// format, a genome of another space (whose genes or values differ), a wrong length, or a gene
// beyond its values, so that a decoded genome encodes to data again.
func (s *SearchSpace) DecodeGenome(data []byte) (Genome, error) {
	if want := s.encodedLen(); len(data) != want {
		return nil, fmt.Errorf("space: an encoded genome of space %q has %d bytes, not %d", s.Name, len(data), want)
	}
	if data[0] != genomeFormat {
		return nil, fmt.Errorf("space: genome encoding format %d; this version reads format %d", data[0], genomeFormat)
	}
	if fp := data[1:5]; !bytes.Equal(fp, s.fingerprint[:]) {
		return nil, fmt.Errorf("space: the genome was encoded for another search space (fingerprint %x; space %q has %x)", fp, s.Name, s.fingerprint)
	}
	p := data[5:]
	g := make(Genome, len(s.genes))
	for i, d := range s.genes {
		v := int(p[0])
		if len(d.text) > 256 {
			v, p = v<<8|int(p[1]), p[1:]
		}
		p = p[1:]
		if v >= len(d.text) {
			return nil, fmt.Errorf("space: gene %d (%s) of the encoded genome is %d, but it has %d values", i, d.name, v, len(d.text))
		}
		g[i] = uint16(v)
	}
	return g, nil
}

// normalize returns a copy of g with every gene reduced modulo its number of values.
func (s *SearchSpace) normalize(g Genome) Genome {
	s.mustFit(g)
	out := make(Genome, len(g))
	for i, d := range s.genes {
		out[i] = uint16(int(g[i]) % len(d.text))
	}
	return out
}

// mustFit panics if g is not a genome of the space's length.
func (s *SearchSpace) mustFit(g Genome) {
	if len(g) != len(s.genes) {
		panic(fmt.Sprintf("space: a genome of %d genes, but space %q has %d", len(g), s.Name, len(s.genes)))
	}
}
