package space

import "math"

// Counts are the analytic sizes of a network, computed from its layers with no engine.
type Counts struct {
	// Params is the number of learned parameters of every layer, auxiliary classifiers
	// included: conv and linear weights and biases, batchnorm gamma and beta.
	Params int64 `json:"params"`
	// MACs is the number of conv and linear multiply-accumulates of one sample's forward pass
	// to the classifier, auxiliary classifiers excluded (the convention of torchvision's
	// documented GFLOPS and of the papers' "FLOPs (multiply-adds)").
	MACs int64 `json:"macs"`
	// Activations is the number of output elements of all layers for one sample, the input
	// included: what training keeps for the backward pass.
	Activations int64 `json:"activations"`
}

// Counts sums the counts of the network's layers.
func (n *Net) Counts() Counts {
	main := n.ancestors(n.Outputs[0])
	var c Counts
	for i, l := range n.Layers {
		c.Params += l.Params
		c.Activations += l.Shape.Elems()
		if main[i] {
			c.MACs += l.MACs
		}
	}
	return c
}

// ancestors marks layer out and every layer it depends on.
func (n *Net) ancestors(out int) []bool {
	mark := make([]bool, len(n.Layers))
	mark[out] = true
	for i := out; i >= 0; i-- {
		if mark[i] {
			for _, in := range n.Layers[i].Inputs {
				mark[in] = true
			}
		}
	}
	return mark
}

// TrainMemory estimates the bytes that training with float32 and SGD with momentum needs at the
// given batch size:
//
//	activations·batch·4·2 + params·4·3
//
// that is, every layer's output kept for the backward pass and a gradient of the same size, and
// for every parameter its value, its gradient and its momentum. It is an estimate: an engine
// that frees or reuses buffers needs less, workspace for im2col and the like is not counted.
// A figure beyond int64 is math.MaxInt64, which exceeds any memory limit.
func (c Counts) TrainMemory(batch int) int64 {
	acts, ok1 := product(c.Activations, int64(batch), 4*2)
	params, ok2 := product(c.Params, 4*3)
	bytes, ok3 := sum(acts, params)
	if !(ok1 && ok2 && ok3) {
		return math.MaxInt64
	}
	return bytes
}

// Counts expands the architecture and returns its counts.
func (a *Arch) Counts() (Counts, error) {
	n, err := a.Expand()
	if err != nil {
		return Counts{}, err
	}
	return n.Counts(), nil
}

// Params returns the number of learned parameters (see Counts).
func (a *Arch) Params() (int64, error) {
	c, err := a.Counts()
	return c.Params, err
}

// MACs returns the number of multiply-accumulates of one forward pass (see Counts).
func (a *Arch) MACs() (int64, error) {
	c, err := a.Counts()
	return c.MACs, err
}
