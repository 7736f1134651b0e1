package reports

import (
	"image/color"

	"github.com/gonas/nas/space"
)

// A block group is what the plots colour by: the block families of the papers, with the variants
// of one paper's module (Inception v1 and v3 and their reductions, the three Inception-ResNet
// modules) taken together.
type blockGroup struct {
	name   string // as the legend shows it
	colour color.RGBA
}

// groups maps each family of package space to its group. Transitions are left out: they join
// dense blocks and say nothing of their own.
var groups = map[string]blockGroup{
	space.FamilyPlain:            {"plain (VGG)", rgb(0xba, 0xb0, 0xac)},
	space.FamilyMLPConv:          {"mlpconv (NIN)", rgb(0x9c, 0x75, 0x5f)},
	space.FamilyBasic:            {"residual basic", rgb(0x4e, 0x79, 0xa7)},
	space.FamilyBottleneck:       {"residual bottleneck", rgb(0x76, 0xb7, 0xb2)},
	space.FamilyResNeXt:          {"ResNeXt", rgb(0x59, 0xa1, 0x4f)},
	space.FamilyPreactBasic:      {"pre-act. residual", rgb(0xf2, 0x8e, 0x2b)},
	space.FamilyPreactBottleneck: {"pre-act. bottleneck", rgb(0xff, 0x9d, 0xa7)},
	space.FamilyWide:             {"wide residual", rgb(0xed, 0xc9, 0x48)},
	space.FamilyDense:            {"DenseNet", rgb(0xe1, 0x57, 0x59)},
	space.FamilyInception:        inception,
	space.FamilyInceptionV3A:     inception,
	space.FamilyInceptionV3C:     inception,
	space.FamilyInceptionV3D:     inception,
	space.FamilyInceptionV3E:     inception,
	space.FamilyReductionA:       inception,
	space.FamilyIncResA:          incres,
	space.FamilyIncResB:          incres,
	space.FamilyIncResC:          incres,
	space.FamilyReductionB:       incres,
}

var (
	inception = blockGroup{"Inception", rgb(0xb0, 0x7a, 0xa1)}
	incres    = blockGroup{"Inception-ResNet", rgb(0x5d, 0x3a, 0x7e)}
	// otherGroup colours a family this package does not know yet.
	otherGroup = blockGroup{"other", rgb(0x55, 0x55, 0x55)}
)

func rgb(r, g, b uint8) color.RGBA { return color.RGBA{r, g, b, 0xff} }

// groupOf returns the group that most of a's blocks belong to; of groups with equally many
// blocks, the one that comes first in the network.
func groupOf(a *space.Arch) blockGroup {
	count := map[blockGroup]int{}
	var order []blockGroup
	add := func(family string, n int) {
		if family == space.FamilyTransition {
			return
		}
		g, ok := groups[family]
		if !ok {
			g = otherGroup
		}
		if _, seen := count[g]; !seen {
			order = append(order, g)
		}
		count[g] += n
	}
	for _, st := range a.Stages {
		if len(st.List) == 0 {
			add(st.Family, max(st.Blocks, 1))
			continue
		}
		for _, b := range st.List {
			f := b.Family
			if f == "" {
				f = st.Family
			}
			add(f, 1)
		}
	}
	best, most := otherGroup, 0
	for _, g := range order {
		if count[g] > most {
			best, most = g, count[g]
		}
	}
	return best
}

// groupColour returns the colour of the group called name.
func groupColour(name string) color.RGBA {
	for _, g := range groups {
		if g.name == name {
			return g.colour
		}
	}
	return otherGroup.colour
}
