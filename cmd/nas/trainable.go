package main

import (
	"github.com/gonas/nas/evaluator"
	"github.com/gonas/nas/evaluator/data"
	"github.com/gonas/nas/space"
)

// checkTrainable refuses, before anything is built, trained, printed or stored, a network that
// cannot train on ds at the given batch size: one that does not expand, whose classifier
// outputs another number of classes than the data has (a head written for another set), or
// whose training-memory estimate exceeds what the machine allows.
func checkTrainable(arch *space.Arch, ds *data.Dataset, batch int) error {
	net, err := arch.Expand()
	if err != nil {
		return badInput(err)
	}
	if out := net.Layers[net.Outputs[0]].Shape.C; out != ds.Train.Classes {
		return badInputf("%s's classifier outputs %d classes but %s has %d: its head (or last layer) is written for another data set",
			arch.Name, out, ds.Name, ds.Train.Classes)
	}
	if err := evaluator.CheckMemory(net.Counts(), batch); err != nil {
		return badInputf("%s: %w", arch.Name, err)
	}
	return nil
}
