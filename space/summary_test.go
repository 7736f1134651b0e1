package space

import "testing"

func TestFamilySummary(t *testing.T) {
	for _, c := range []struct{ config, want string }{
		{"small/resnet20_mnist.yaml", "basic"},
		{"small/se_resnet20_mnist.yaml", "basic+se"},
		{"small/ror_resnet20_mnist.yaml", "basic+ror"},
		{"small/sd_resnet20_mnist.yaml", "basic+sd"},
		{"small/densenet_bc_k12_mnist.yaml", "dense"},
		{"small/googlenet_small_mnist.yaml", "inception"},
		{"small/incres_v2_small_mnist.yaml", "incres_a+incres_b+incres_c"},
		{"small/resnext20_8x4d_mnist.yaml", "resnext"},
		{"small/nin_small_mnist.yaml", "mlpconv"},
		{"small/preact_resnet20_mnist.yaml", "preact_basic"},
		{"small/resnet29_bottleneck_mnist.yaml", "bottleneck"},
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

func TestEveryFamilyButTheTransitionHasAGroup(t *testing.T) {
	for _, f := range Families() {
		if g := FamilyGroup(f); (g == "") != (f == FamilyTransition) {
			t.Errorf("family %s is in group %q", f, g)
		}
	}
	if g := FamilyGroup("future"); g != "" {
		t.Errorf("an unknown family is in group %q, want none", g)
	}
}
