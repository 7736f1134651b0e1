// Package pytorch writes a network as one self-contained Python file that defines it as a
// torch.nn.Module of torchvision-style layers, with its weights in a safetensors file beside it
// that the Python file reads with torch and numpy alone.
package pytorch

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/gonas/nas/model"
	"github.com/gonas/nas/space"
)

// Export writes the module of f's architecture to pyPath (a .py file) and f, its weights and
// metadata, to the model file of the same base name with the extension .safetensors, which the
// module's build() loads by default.
func Export(pyPath string, f *model.File) error {
	var b bytes.Buffer
	if err := Write(&b, f); err != nil {
		return err
	}
	if err := model.Save(WeightsPath(pyPath), f); err != nil {
		return err
	}
	return os.WriteFile(pyPath, b.Bytes(), 0o644)
}

// WeightsPath is the weights file beside the Python file pyPath: its name with the extension
// .safetensors instead of .py.
func WeightsPath(pyPath string) string {
	return strings.TrimSuffix(pyPath, ".py") + ".safetensors"
}

// identifier is a name part Python accepts as an attribute.
var identifier = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// reserved are names a layer path may not start with or contain as a part: Python keywords and
// nn.Module's own attributes that a submodule would shadow.
var reserved = map[string]bool{
	"mean": true, "std": true, "training": true, "forward": true, "eval": true, "train": true,
	"parameters": true, "modules": true, "state_dict": true, "to": true, "float": true, "type": true,
	"False": true, "None": true, "True": true, "and": true, "as": true, "assert": true, "async": true,
	"await": true, "break": true, "class": true, "continue": true, "def": true, "del": true, "elif": true,
	"else": true, "except": true, "finally": true, "for": true, "from": true, "global": true, "if": true,
	"import": true, "in": true, "is": true, "lambda": true, "nonlocal": true, "not": true, "or": true,
	"pass": true, "raise": true, "return": true, "try": true, "while": true, "with": true, "yield": true,
}

// value is what the generated forward knows of a layer's output: its Python variable and whether
// it is a vector (N×C) rather than a map (N×C×H×W).
type value struct {
	name string
	vec  bool
}

// Write writes the Python module of f's architecture: a class Net(nn.Module) whose submodules
// carry the names of nas's layers, so that its state_dict keys are the names of f.Tensors, and a
// function build(weights=None) that returns it in eval mode with the weights of the given
// safetensors file (by default the one beside the module). The module takes float32 N×C×H×W
// pixels in [0, 1], normalises them with f.Meta.Norm, and returns N×classes logits. Auxiliary
// classifiers, which nas does not train, are left out.
func Write(w io.Writer, f *model.File) error {
	arch := f.Meta.Arch
	net, err := arch.Expand()
	if err != nil {
		return err
	}
	logits := net.Outputs[0]
	needed := make([]bool, len(net.Layers))
	needed[logits] = true
	lastUse := make([]int, len(net.Layers))
	for i := logits; i >= 0; i-- {
		if needed[i] {
			for _, in := range net.Layers[i].Inputs {
				needed[in] = true
				lastUse[in] = max(lastUse[in], i)
			}
		}
	}

	var init, fwd bytes.Buffer
	placed := map[string]bool{} // module paths and their prefixes
	place := func(l space.Layer, module string) error {
		parts := strings.Split(l.Name, ".")
		for k, p := range parts {
			if !identifier.MatchString(p) || reserved[p] {
				return fmt.Errorf("layer %s: %q cannot name a PyTorch submodule", l.Name, p)
			}
			prefix := strings.Join(parts[:k+1], ".")
			if leaf, ok := placed[prefix]; ok && (leaf || k == len(parts)-1) {
				return fmt.Errorf("layer %s: its name clashes with the module path of another layer", l.Name)
			}
			placed[prefix] = k == len(parts)-1
		}
		fmt.Fprintf(&init, "        _place(self, %q, %s)\n", l.Name, module)
		return nil
	}
	vals := make([]value, len(net.Layers))
	params := int64(0)
	for i, l := range net.Layers {
		if !needed[i] {
			continue
		}
		params += l.Params
		v := value{name: "x" + strconv.Itoa(i)}
		var in value
		if len(l.Inputs) > 0 {
			in = vals[l.Inputs[0]]
			v.vec = in.vec
		}
		inShape := func(k int) space.Shape { return net.Layers[l.Inputs[k]].Shape }
		var expr string
		switch l.Op {
		case space.OpInput:
			expr = "(x - self.mean) / self.std"
			in = value{name: "x"}
		case space.OpConv:
			err = place(l, fmt.Sprintf("nn.Conv2d(%d, %d, kernel_size=(%d, %d), stride=%d, padding=(%d, %d), groups=%d, bias=%s)",
				inShape(0).C, l.Out, l.KH, l.KW, l.Stride, l.PadH, l.PadW, l.Groups, pyBool(l.Bias)))
			expr = fmt.Sprintf("self.%s(%s)", l.Name, in.name)
		case space.OpBatchNorm:
			kind := "nn.BatchNorm2d"
			if in.vec {
				kind = "nn.BatchNorm1d"
			}
			err = place(l, fmt.Sprintf("%s(%d)", kind, l.Shape.C))
			expr = fmt.Sprintf("self.%s(%s)", l.Name, in.name)
		case space.OpReLU:
			expr = fmt.Sprintf("F.relu(%s)", in.name)
		case space.OpSigmoid:
			expr = fmt.Sprintf("torch.sigmoid(%s)", in.name)
		case space.OpMaxPool:
			expr = fmt.Sprintf("F.max_pool2d(%s, (%d, %d), %d, (%d, %d), ceil_mode=%s)", in.name, l.KH, l.KW, l.Stride, l.PadH, l.PadW, pyBool(l.Ceil))
		case space.OpAvgPool:
			expr = fmt.Sprintf("F.avg_pool2d(%s, (%d, %d), %d, (%d, %d), ceil_mode=%s, count_include_pad=%s)", in.name, l.KH, l.KW, l.Stride, l.PadH, l.PadW, pyBool(l.Ceil), pyBool(l.CountIncludePad))
		case space.OpGlobalAvgPool:
			expr = fmt.Sprintf("%s.mean((2, 3))", in.name)
			v.vec = true
		case space.OpLinear:
			err = place(l, fmt.Sprintf("nn.Linear(%d, %d, bias=%s)", inShape(0).Elems(), l.Out, pyBool(l.Bias)))
			x := in.name
			if !in.vec {
				x = fmt.Sprintf("torch.flatten(%s, 1)", in.name)
			}
			expr = fmt.Sprintf("self.%s(%s)", l.Name, x)
			v.vec = true
		case space.OpAdd:
			expr = fmt.Sprintf("%s + %s", in.name, vals[l.Inputs[1]].name)
			if l.Scale != 1 {
				expr = fmt.Sprintf("%s + %s * %s", in.name, pyFloat(l.Scale), vals[l.Inputs[1]].name)
			}
		case space.OpConcat:
			names := make([]string, len(l.Inputs))
			for k, j := range l.Inputs {
				names[k] = vals[j].name
			}
			expr = fmt.Sprintf("torch.cat([%s], 1)", strings.Join(names, ", "))
		case space.OpScale:
			s := vals[l.Inputs[1]]
			expr = fmt.Sprintf("%s * %s", in.name, s.name)
			if s.vec && !in.vec {
				expr = fmt.Sprintf("%s * %s[:, :, None, None]", in.name, s.name)
			}
		case space.OpDropout:
			expr = fmt.Sprintf("F.dropout(%s, %s, self.training)", in.name, pyFloat(l.P))
		case space.OpDropPath:
			expr = fmt.Sprintf("_drop_path(%s, %s, self.training)", in.name, pyFloat(l.P))
		case space.OpFlatten:
			expr = fmt.Sprintf("torch.flatten(%s, 1)", in.name)
			v.vec = true
		case space.OpZeroPad:
			expr = fmt.Sprintf("_zero_pad(%s, %d, %d)", in.name, l.Out, l.Stride)
		default:
			return fmt.Errorf("layer %s: no PyTorch form for op %q", l.Name, l.Op)
		}
		if err != nil {
			return err
		}
		fmt.Fprintf(&fwd, "        %s = %s  # %s\n", v.name, expr, l.Name)
		vals[i] = v
		var done []string
		for k, j := range l.Inputs {
			if lastUse[j] == i && !slices.Contains(l.Inputs[:k], j) {
				done = append(done, vals[j].name)
			}
		}
		if len(done) > 0 {
			fmt.Fprintf(&fwd, "        del %s\n", strings.Join(done, ", "))
		}
	}
	fmt.Fprintf(&fwd, "        return %s\n", vals[logits].name)

	mean, std := make([]string, arch.Input.C), make([]string, arch.Input.C)
	for c := range mean {
		mean[c], std[c] = "0.0", "1.0"
		if len(f.Meta.Norm.Mean) == arch.Input.C {
			mean[c], std[c] = pyFloat(f.Meta.Norm.Mean[c]), pyFloat(f.Meta.Norm.Std[c])
		}
	}
	classes := "None"
	if f.Meta.Classes != nil {
		q := make([]string, len(f.Meta.Classes))
		for i, c := range f.Meta.Classes {
			q[i] = strconv.Quote(c)
		}
		classes = "[" + strings.Join(q, ", ") + "]"
	}
	about := "Its weights are the initial ones that nas draws from seed " + strconv.FormatUint(f.Meta.Seed, 10) + "."
	if f.Meta.Recipe != nil {
		about = fmt.Sprintf("Trained by nas on %s (seed %d): validation accuracy %.2f%%", f.Meta.Dataset, f.Meta.Seed, 100*f.Meta.ValAcc)
		if f.Meta.Tested {
			about += fmt.Sprintf(", test accuracy %.2f%%", 100*f.Meta.TestAcc)
		}
		about += "."
	}
	_, err = fmt.Fprintf(w, header, arch.Name, f.Meta.ArchHash, about, arch.Input.C, arch.Input.H, arch.Input.W, arch.Classes, params,
		strings.Join(mean, ", "), strings.Join(std, ", "), classes, arch.Input.C, arch.Input.H, arch.Input.W, arch.Classes, params)
	if err == nil {
		_, err = w.Write([]byte(helpers))
	}
	if err == nil {
		_, err = fmt.Fprintf(w, "\n\nclass Net(nn.Module):\n    \"\"\"%s as nas defines it; submodules carry nas's layer names.\"\"\"\n\n    def __init__(self):\n        super().__init__()\n", arch.Name)
	}
	if err == nil {
		_, err = fmt.Fprintf(w, "        self.register_buffer(\"mean\", torch.tensor(MEAN, dtype=torch.float32).view(1, -1, 1, 1), persistent=False)\n"+
			"        self.register_buffer(\"std\", torch.tensor(STD, dtype=torch.float32).view(1, -1, 1, 1), persistent=False)\n%s\n"+
			"    def forward(self, x):\n%s", init.String(), fwd.String())
	}
	if err == nil {
		_, err = w.Write([]byte(footer))
	}
	return err
}

func pyBool(b bool) string {
	if b {
		return "True"
	}
	return "False"
}

// pyFloat writes x so that Python reads back the same float64.
func pyFloat(x float64) string {
	s := strconv.FormatFloat(x, 'g', -1, 64)
	if !strings.ContainsAny(s, ".eEn") {
		s += ".0"
	}
	return s
}

const header = `"""%s: a network exported by nas (architecture hash %s).

%s

Input: float32 N×%d×%d×%d pixels in [0, 1]; the module normalises them with MEAN and STD.
Output: N×%d logits. %d parameters.

    import torch, this_module
    net = this_module.build()          # eval mode, weights from the .safetensors beside this file
    logits = net(torch.rand(1, *INPUT))

Needs torch and numpy only.
"""
import json
import os

import numpy as np
import torch
from torch import nn
import torch.nn.functional as F

MEAN = [%s]
STD = [%s]
CLASSES = %s
INPUT = (%d, %d, %d)
NUM_CLASSES = %d
NUM_PARAMS = %d
`

const helpers = `

def load_safetensors(path):
    """Returns the float32 tensors of a safetensors file as a dict of torch tensors."""
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 8:
        raise ValueError(f"{path}: not a safetensors file")
    n = int.from_bytes(data[:8], "little")
    if 8 + n > len(data):
        raise ValueError(f"{path}: truncated header")
    header = json.loads(data[8:8 + n])
    tensors = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        if info["dtype"] != "F32":
            raise ValueError(f"{path}: tensor {name} is {info['dtype']}, want F32")
        start, end = info["data_offsets"]
        if 8 + n + end > len(data):
            raise ValueError(f"{path}: truncated data of tensor {name}")
        a = np.frombuffer(data, dtype="<f4", count=(end - start) // 4, offset=8 + n + start)
        tensors[name] = torch.from_numpy(a.astype(np.float32).reshape(info["shape"]))
    return tensors


def _place(root, path, module):
    """Sets module at the dotted path under root, making plain containers on the way."""
    *parents, leaf = path.split(".")
    for p in parents:
        if not hasattr(root, p):
            root.add_module(p, nn.Module())
        root = getattr(root, p)
    root.add_module(leaf, module)


def _drop_path(x, p, training):
    """Stochastic depth: zeroes whole samples with probability p in training, scaling the rest."""
    if not training or p == 0:
        return x
    keep = 1 - p
    mask = x.new_empty((x.shape[0],) + (1,) * (x.dim() - 1)).bernoulli_(keep)
    return x * mask / keep


def _zero_pad(x, out, stride):
    """Option-A shortcut: subsamples by stride and pads zero channels on both sides up to out."""
    x = x[:, :, ::stride, ::stride]
    before = (out - x.shape[1]) // 2
    return F.pad(x, (0, 0, 0, 0, before, out - x.shape[1] - before))
`

const footer = `

def build(weights=None):
    """Returns the network in eval mode with the weights of the safetensors file weights, by
    default the file of this module's name with the extension .safetensors."""
    if weights is None:
        weights = os.path.splitext(os.path.abspath(__file__))[0] + ".safetensors"
    net = Net()
    net.load_state_dict(load_safetensors(weights))
    return net.eval()
`
