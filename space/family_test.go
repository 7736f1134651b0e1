package space

import "testing"

// TestRegistryEntriesAreComplete checks what the registry's comments promise, so that a new
// family's entry cannot leave out what every family needs.
func TestRegistryEntriesAreComplete(t *testing.T) {
	seen := map[string]bool{}
	for _, f := range familyList {
		if seen[f.name] {
			t.Errorf("family %s is listed twice", f.name)
		}
		seen[f.name] = true
		if (f.build == nil) == (f.layer == nil) {
			t.Errorf("family %s: set exactly one of build and layer", f.name)
		}
		if f.search != nil && f.search.decode == nil {
			t.Errorf("family %s: a search rule without decode", f.name)
		}
		for key := range f.lists {
			if f.listHelp[key] == "" {
				t.Errorf("family %s: width list %s has no help text", f.name, key)
			}
		}
	}
	for i, f := range familyList[1:] {
		if f.search != nil && familyList[i].search == nil {
			t.Errorf("family %s can be searched but comes after %s, which cannot: list the searchable families first", f.name, familyList[i].name)
		}
	}
}
