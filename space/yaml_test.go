package space

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

const validHead = "input: [1, 28, 28]\nclasses: 10\n"

func TestParseReportsFileLineFieldAndWhatIsValid(t *testing.T) {
	for _, tc := range []struct {
		name       string
		yaml       string
		line       int
		field      string
		msgContain string
	}{
		{"UnknownStageKey", validHead + "stages:\n  - {family: basic, width: 16, strde: 2}\n",
			4, "stages[0].strde", `unknown field "strde"; valid fields here: aux_head, bias, blocks`},
		{"UnknownTopKey", validHead + "foo: 1\nstages:\n  - {family: basic, width: 16}\n",
			3, "foo", "valid fields here: classes, head, input, name, ror, stages, stem, stochastic_depth"},
		{"UnknownSEKey", validHead + "stages:\n  - {family: basic, width: 16, se: {ratio: 4, foo: 2}}\n",
			4, "stages[0].se.foo", "valid fields here: ratio"},
		{"WrongType", validHead + "stages:\n  - family: basic\n    width: sixteen\n",
			5, "stages[0].width", `must be an integer (got "sixteen")`},
		{"ListForInt", validHead + "stages:\n  - family: basic\n    width: [16]\n",
			5, "stages[0].width", "must be an integer"},
		{"InputOfTwo", "input: [1, 28]\nclasses: 10\nstages:\n  - {family: basic, width: 16}\n",
			1, "input", "must be a list of three integers [C, H, W]"},
		{"StrideOfThree", validHead + "stages:\n  - {family: basic, width: 16}\n  - {family: basic, width: 32, stride: 3}\n",
			5, "stages[1].stride", "must be 1 or 2 (got 3)"},
		{"MissingClasses", "input: [1, 28, 28]\nstages:\n  - {family: basic, width: 16}\n",
			1, "classes", "missing: the number of classes"},
		{"MissingWidth", validHead + "stages:\n  - {family: bottleneck, blocks: 2}\n",
			4, "stages[0].width", "missing: family bottleneck needs the number of output channels"},
		{"UnknownFamily", validHead + "stages:\n  - {family: basik, width: 16}\n",
			4, "stages[0].family", `unknown family "basik"; valid families: basic, bottleneck`},
		{"OptionOfAnotherFamily", validHead + "stages:\n  - {family: basic, width: 16, growth_rate: 12}\n",
			4, "stages[0].growth_rate", "not an option of family basic (its options: family, width, stride, shortcut, se, drop_path)"},
		{"GroupsNotDividing", validHead + "stages:\n  - {family: bottleneck, width: 64, mid_width: 30, groups: 4}\n",
			4, "stages[0].groups", "must be a positive divisor of the inner width 30 (got 4)"},
		{"CardinalityNotDividingInStemConv", validHead + "stem:\n  - {op: conv, filters: 16, kernel: 3, groups: 3}\nstages:\n  - {family: basic, width: 16}\n",
			4, "stem[0]", "groups 3 must divide the conv's 1 input and 16 output channels"},
		{"MapShrinksBelowOnePixel", validHead + "stages:\n  - {family: plain, width: 8, pool: {type: max, kernel: 2}}\n  - {family: plain, width: 8, pool: {type: max, kernel: 2}}\n  - {family: plain, width: 8, pool: {type: max, kernel: 2}}\n  - {family: plain, width: 8, pool: {type: max, kernel: 2}}\n  - {family: plain, width: 8, pool: {type: max, kernel: 2}}\n",
			8, "stages[4]", "the feature map shrinks below 1×1 at stage5.maxpool1"},
		{"ListedBlockWidths", validHead + "stages:\n  - family: inception\n    blocks_list:\n      - {n1x1: 8, n3x3: [4, 8], n5x5: [4], pool_proj: 8}\n",
			6, "stages[0].blocks_list[0].n5x5", "must list 2 widths (1x1 reduce, 5x5) for family inception (got 1)"},
		{"InheritedOptionIsReportedAtTheStage", validHead + "stages:\n  - family: resnext\n    cardinality: 8\n    group_width: 4\n    blocks_list: [{width: 64, shortcut: C}]\n",
			7, "stages[0].blocks_list[0].shortcut", `must be one of A, B (got "C")`},
		{"ShortcutAReducingChannels", validHead + "stages:\n  - {family: basic, width: 32}\n  - {family: basic, width: 16, shortcut: A}\n",
			5, "stages[1]", "shortcut A cannot reduce channels (from 32 to 16)"},
		{"ClassifierWithOut", validHead + "stages:\n  - {family: basic, width: 16}\nhead:\n  - {op: globalavgpool}\n  - {op: linear, out: 5}\n",
			7, "head[1].out", "must be left unset"},
		{"DropoutWithoutP", validHead + "stages:\n  - {family: basic, width: 16}\nhead:\n  - {op: dropout}\n  - {op: linear}\n",
			6, "head[0].p", "missing: dropout needs its drop probability"},
		{"DuplicateKey", validHead + "classes: 11\nstages:\n  - {family: basic, width: 16}\n",
			3, "classes", `mapping key "classes" already defined`},
		{"SyntaxError", validHead + "stages: [\n", 3, "", "not found"},
		{"StochasticDepthAndDropPath", validHead + "stochastic_depth: {final_survival: 0.5}\nstages:\n  - {family: basic, width: 16, drop_path: 0.1}\n",
			5, "stages[0].drop_path", "set either the network's stochastic_depth or drop_path"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.yaml), "dir/net.yaml")
			var ce *ConfigError
			if !errors.As(err, &ce) {
				t.Fatalf("got %v (%T), want a *ConfigError", err, err)
			}
			if ce.File != "dir/net.yaml" || ce.Line != tc.line || ce.Field != tc.field || !strings.Contains(ce.Msg, tc.msgContain) {
				t.Errorf("got %s\n(file %q line %d field %q), want line %d field %q and a message containing %q",
					ce, ce.File, ce.Line, ce.Field, tc.line, tc.field, tc.msgContain)
			}
			if !strings.HasPrefix(err.Error(), "dir/net.yaml:") {
				t.Errorf("error %q does not start with the file name", err)
			}
		})
	}
}

func TestConfigErrorFormat(t *testing.T) {
	e := &ConfigError{File: "a/b.yaml", Line: 3, Col: 7, Field: "stages[1].stride", Msg: "must be 1 or 2 (got 3)"}
	if got, want := e.Error(), `a/b.yaml:3:7: field "stages[1].stride": must be 1 or 2 (got 3)`; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	e = &ConfigError{Field: "classes", Msg: "missing"}
	if got, want := e.Error(), `field "classes": missing`; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func baselineFiles(t testing.TB) []string {
	files, err := filepath.Glob(baselines + "*/*.yaml")
	if err != nil || len(files) < 30 {
		t.Fatalf("found %d baseline configs (%v)", len(files), err)
	}
	return files
}

// roundTrip marshals a and parses the result.
func roundTrip(t testing.TB, a *Arch) *Arch {
	t.Helper()
	data, err := a.MarshalYAML()
	if err != nil {
		t.Fatal(err)
	}
	b, err := Parse(data, "marshalled.yaml")
	if err != nil {
		t.Fatalf("parsing the marshalled YAML: %v\n%s", err, data)
	}
	return b
}

func TestYAMLRoundTripIsExact(t *testing.T) {
	for _, f := range baselineFiles(t) {
		a, err := Load(f)
		if err != nil {
			t.Fatal(err)
		}
		if b := roundTrip(t, a); !reflect.DeepEqual(a, b) {
			t.Errorf("%s: parse, marshal, parse changed the Arch:\n%+v\n%+v", f, a, b)
		}
		c, err := a.Canonical()
		if err != nil {
			t.Fatal(err)
		}
		if b := roundTrip(t, c); !reflect.DeepEqual(c, b) {
			t.Errorf("%s: the canonical form does not survive a round trip", f)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, file := range baselineFiles(f) {
		data, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte(validHead + "stages: [{family: wide, blocks: 2, width: 4, widen_factor: 2, dropout: 0.3}]\nror: true\nstochastic_depth: {final_survival: 0.5}\n"))
	f.Add([]byte(validHead + "stages:\n  - {family: mlpconv, width: 8, kernel: 5, mlp: [8, 4], pool: {type: avg, kernel: 3, stride: 2, ceil: true}}\n"))
	f.Add([]byte("input: [1, 28, 28]\nclasses: 10\nstages: [\n"))
	f.Add([]byte("- 1\n- 2\n"))
	f.Add([]byte(""))
	f.Fuzz(func(t *testing.T, data []byte) {
		a, err := Parse(data, "fuzz.yaml")
		if err != nil {
			var ce *ConfigError
			if !errors.As(err, &ce) {
				t.Fatalf("error %v is a %T, not a *ConfigError", err, err)
			}
			return
		}
		if b := roundTrip(t, a); !reflect.DeepEqual(a, b) {
			t.Fatalf("parse, marshal, parse changed the Arch:\n%+v\n%+v", a, b)
		}
		if _, err := a.Hash(); err != nil {
			t.Fatalf("a parsed Arch does not hash: %v", err)
		}
	})
}
