package store

import (
	"encoding/json"
	"testing"

	"github.com/gonas/nas/space"
)

func TestArchOfRebuildsTheNetwork(t *testing.T) {
	a, err := space.Load("../configs/baselines/small/se_resnet20_mnist.yaml")
	if err != nil {
		t.Fatal(err)
	}
	rec, err := ArchOf(a)
	if err != nil {
		t.Fatal(err)
	}
	hash, _ := a.Hash()
	counts, _ := a.Counts()
	if rec.Hash != hash || rec.Params != counts.Params || rec.MACs != counts.MACs || rec.Family != "basic+se" || rec.Name != a.Name {
		t.Errorf("record %+v disagrees with the Arch (hash %s, counts %+v)", rec, hash, counts)
	}
	var back space.Arch
	if err := json.Unmarshal(rec.JSON, &back); err != nil {
		t.Fatal(err)
	}
	if h, _ := back.Hash(); h != hash {
		t.Errorf("the stored JSON rebuilds a network of hash %s, want %s", h, hash)
	}
}
