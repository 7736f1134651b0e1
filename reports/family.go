package reports

import (
	"image/color"

	"github.com/gonas/nas/space"
)

// A block group is what the plots colour by: the group of the block families (see
// space.FamilyGroup), the variants of one paper's module taken together.
type blockGroup struct {
	name   string // as the legend shows it
	colour color.RGBA
}

// colours gives each group of space.FamilyGroup its colour.
var colours = map[string]color.RGBA{
	"plain (VGG)":         rgb(0xba, 0xb0, 0xac),
	"mlpconv (NIN)":       rgb(0x9c, 0x75, 0x5f),
	"residual basic":      rgb(0x4e, 0x79, 0xa7),
	"residual bottleneck": rgb(0x76, 0xb7, 0xb2),
	"ResNeXt":             rgb(0x59, 0xa1, 0x4f),
	"pre-act. residual":   rgb(0xf2, 0x8e, 0x2b),
	"pre-act. bottleneck": rgb(0xff, 0x9d, 0xa7),
	"wide residual":       rgb(0xed, 0xc9, 0x48),
	"DenseNet":            rgb(0xe1, 0x57, 0x59),
	"Inception":           rgb(0xb0, 0x7a, 0xa1),
	"Inception-ResNet":    rgb(0x5d, 0x3a, 0x7e),
	"Genetic CNN":         rgb(0x1f, 0x8a, 0x8a),
}

// otherGroup colours a family that package space does not know.
var otherGroup = blockGroup{"other", rgb(0x55, 0x55, 0x55)}

func rgb(r, g, b uint8) color.RGBA { return color.RGBA{r, g, b, 0xff} }

// group returns the block group of the family called family, and false for a transition,
// which joins dense blocks and says nothing of its own.
func group(family string) (blockGroup, bool) {
	name := space.FamilyGroup(family)
	switch {
	case name == "" && family == space.FamilyTransition:
		return blockGroup{}, false
	case name == "":
		return otherGroup, true
	}
	return blockGroup{name, groupColour(name)}, true
}

// groupOf returns the group that most of a's blocks belong to; of groups with equally many
// blocks, the one that comes first in the network.
func groupOf(a *space.Arch) blockGroup {
	count := map[blockGroup]int{}
	var order []blockGroup
	add := func(family string, n int) {
		g, ok := group(family)
		if !ok {
			return
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

// groupColour returns the colour of the group called name; a group without a colour of its
// own gets other's.
func groupColour(name string) color.RGBA {
	if c, ok := colours[name]; ok {
		return c
	}
	return otherGroup.colour
}
