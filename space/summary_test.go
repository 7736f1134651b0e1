package space

import "testing"

func TestFamilySummary(t *testing.T) {
	for _, c := range []struct{ config, want string }{
		{"small/resnet20_mnist.yaml", "basic"},
		{"small/se_resnet20_mnist.yaml", "basic+se"},
		{"small/densenet_bc_k12_mnist.yaml", "dense"},
		{"small/ror_resnet20_mnist.yaml", "basic+ror"},
		{"small/sd_resnet20_mnist.yaml", "basic+sd"},
		{"small/incres_small_mnist.yaml", "incres_a"},
		{"imagenet/googlenet.yaml", "inception"},
	} {
		a, err := Load("../configs/baselines/" + c.config)
		if err != nil {
			t.Fatal(err)
		}
		if got := a.FamilySummary(); got != c.want {
			t.Errorf("%s: %q, want %q", c.config, got, c.want)
		}
	}
}
