package main

import (
	"github.com/gonas/nas/evaluator"
	"github.com/gonas/nas/evaluator/data"
	"github.com/gonas/nas/space"
)

// checkTrainable refuses, before anything is built, trained, printed or stored, a network that
// cannot train on ds at the given batch size: one that does not expand for the data's input
// and classes (a head written for another set), or whose training-memory estimate exceeds what
// the machine allows.
func checkTrainable(arch *space.Arch, ds *data.Dataset, batch int) error {
	net, err := arch.Expand()
	if err != nil {
		return badInputf("%s built for %s's %d classes: %w", arch.Name, ds.Name, ds.Train.Classes, err)
	}
	if err := evaluator.CheckMemory(net.Counts(), batch); err != nil {
		return badInputf("%s: %w", arch.Name, err)
	}
	return nil
}
