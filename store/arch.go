package store

import (
	"encoding/json"

	"github.com/gonas/nas/space"
)

// ArchOf returns the record under which the store keeps a: its canonical hash, counts, family
// summary and JSON, from which the network can be rebuilt.
func ArchOf(a *space.Arch) (Arch, error) {
	hash, err := a.Hash()
	if err != nil {
		return Arch{}, err
	}
	counts, err := a.Counts()
	if err != nil {
		return Arch{}, err
	}
	js, err := json.Marshal(a)
	if err != nil {
		return Arch{}, err
	}
	return Arch{Hash: hash, Name: a.Name, Family: a.FamilySummary(), Params: counts.Params, MACs: counts.MACs, JSON: js}, nil
}
