package engine

import (
	"fmt"
	"math"
)

// Schedule gives the learning rate of each optimizer step, counted from 0.
type Schedule interface {
	LR(step int) float64
}

// ConstantLR is the same learning rate at every step.
type ConstantLR struct{ Base float64 }

// LR returns Base.
func (s ConstantLR) LR(int) float64 { return s.Base }

// MultiStepLR multiplies the learning rate by Gamma at each milestone step.
type MultiStepLR struct {
	Base, Gamma float64
	Milestones  []int
}

// LR returns Base·Gamma^k, where k is the number of milestones at or before step.
func (s MultiStepLR) LR(step int) float64 {
	k := 0
	for _, m := range s.Milestones {
		if m <= step {
			k++
		}
	}
	return s.Base * math.Pow(s.Gamma, float64(k))
}

// CosineLR anneals the learning rate from Base to 0 over Total steps along half a cosine.
type CosineLR struct {
	Base  float64
	Total int
}

// LR returns Base·½·(1 + cos(π·step/Total)) for step < Total and 0 from Total on. It panics if
// Total is not positive.
func (s CosineLR) LR(step int) float64 {
	if s.Total <= 0 {
		panic(fmt.Sprintf("engine: CosineLR length %d is not positive", s.Total))
	}
	if step >= s.Total {
		return 0
	}
	return s.Base * 0.5 * (1 + math.Cos(math.Pi*float64(step)/float64(s.Total)))
}

// WarmupLR ramps another schedule up linearly over its first Steps steps, which keeps the first
// updates of a freshly initialised network small.
type WarmupLR struct {
	Steps int
	Then  Schedule
}

// LR returns Then.LR(step)·(step+1)/Steps for step < Steps, and Then.LR(step) afterwards.
func (s WarmupLR) LR(step int) float64 {
	lr := s.Then.LR(step)
	if step < s.Steps {
		lr *= float64(step+1) / float64(s.Steps)
	}
	return lr
}
