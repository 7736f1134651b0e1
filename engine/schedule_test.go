package engine

import (
	"math"
	"testing"
)

// TestCosineLRMatchesBenchmark checks the schedule of the PyTorch accuracy anchor
// (/work/shared/bench/README.md §5D): lr_i = 0.05·(1 + cos(π·i/469)).
func TestCosineLRMatchesBenchmark(t *testing.T) {
	s := CosineLR{Base: 0.1, Total: 469}
	for i := 0; i < 469; i++ {
		if got, want := s.LR(i), 0.05*(1+math.Cos(math.Pi*float64(i)/469)); got != want {
			t.Fatalf("LR(%d) = %v, want %v", i, got, want)
		}
	}
	if got := s.LR(469); got != 0 {
		t.Errorf("LR(469) = %v after the end, want 0", got)
	}
}

func TestSchedules(t *testing.T) {
	cases := []struct {
		name  string
		s     Schedule
		steps []int
		want  []float64
	}{
		{"constant", ConstantLR{0.3}, []int{0, 7, 1000}, []float64{0.3, 0.3, 0.3}},
		{"step decay at milestones", MultiStepLR{Base: 0.1, Gamma: 0.5, Milestones: []int{3, 8}}, []int{0, 2, 3, 7, 8, 100}, []float64{0.1, 0.1, 0.05, 0.05, 0.025, 0.025}},
		{"cosine", CosineLR{Base: 2, Total: 4}, []int{0, 1, 2, 3, 4}, []float64{2, 1 + math.Sqrt(0.5), 1, 1 - math.Sqrt(0.5), 0}},
		{"warm-up of a constant", WarmupLR{Steps: 4, Then: ConstantLR{0.4}}, []int{0, 1, 3, 4, 50}, []float64{0.1, 0.2, 0.4, 0.4, 0.4}},
		{"warm-up of a step decay", WarmupLR{Steps: 2, Then: MultiStepLR{Base: 1, Gamma: 0.5, Milestones: []int{1, 2}}}, []int{0, 1, 2}, []float64{0.5, 0.5, 0.25}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for i, step := range c.steps {
				if got := c.s.LR(step); math.Abs(got-c.want[i]) > 1e-12 {
					t.Errorf("LR(%d) = %v, want %v", step, got, c.want[i])
				}
			}
		})
	}
}
