package space

import (
	"errors"
	"math"
	"strings"
	"testing"
)

func TestAbsurdNetworksAreRefusedNotCountedWrapped(t *testing.T) {
	for _, tc := range []struct{ name, yaml, field string }{
		// 65536 filters of 3x3 over 65536 channels on 16384x16384: 9·2^60 MACs in one conv.
		{"a conv whose MACs overflow", "input: [3, 16384, 16384]\nclasses: 10\nstem:\n" +
			"  - {op: conv, filters: 65536, kernel: 3, padding: 1}\n  - {op: conv, filters: 65536, kernel: 3, padding: 1}\n" +
			"stages: [{family: plain, blocks: 1, width: 8}]\n", "stem[1]"},
		// A linear layer of 2^22 outputs on 2^16·2^14·2^14 = 2^44 features: 2^66 weights.
		{"a linear layer over a huge map", "input: [3, 16384, 16384]\nclasses: 10\n" +
			"stages: [{family: plain, blocks: 1, width: 65536, kernel: 1}]\nhead:\n  - {op: flatten}\n  - {op: linear, out: 4194304}\n  - {op: linear}\n", "head[1]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.yaml), "absurd.yaml")
			var ce *ConfigError
			if !errors.As(err, &ce) || !strings.Contains(ce.Msg, "too large to count") || ce.Field != tc.field {
				t.Fatalf("error %v, want a *ConfigError at %s saying the network is too large to count", err, tc.field)
			}
		})
	}
}

func TestCheckedArithmetic(t *testing.T) {
	if p, ok := product(1<<31, 1<<31); !ok || p != 1<<62 {
		t.Errorf("product(2^31, 2^31) = %d, %v", p, ok)
	}
	if _, ok := product(1<<32, 1<<31); ok {
		t.Error("product(2^32, 2^31) did not overflow")
	}
	if _, ok := product(3, -1); ok {
		t.Error("product of a negative number was accepted")
	}
	if s, ok := sum(math.MaxInt64-1, 1); !ok || s != math.MaxInt64 {
		t.Errorf("sum(MaxInt64-1, 1) = %d, %v", s, ok)
	}
	if _, ok := sum(math.MaxInt64, 1); ok {
		t.Error("sum(MaxInt64, 1) did not overflow")
	}
}

func TestTrainMemorySaturatesInsteadOfWrapping(t *testing.T) {
	c := Counts{Params: 1000, Activations: 1 << 50}
	if got := c.TrainMemory(1 << 16); got != math.MaxInt64 {
		t.Errorf("TrainMemory of 2^50 activations at batch 2^16 = %d, want MaxInt64", got)
	}
	if got, want := c.TrainMemory(1), int64(1<<50)*8+12000; got != want {
		t.Errorf("TrainMemory(1) = %d, want %d", got, want)
	}
}

func TestWrittenZerosAreErrorsNotOne(t *testing.T) {
	for _, tc := range []struct {
		name, stage string
		line        int
		field, msg  string
	}{
		{"blocks: 0", "{family: basic, blocks: 0, width: 8}", 4, "stages[0].blocks", "must be between 1 and 1024 (got 0)"},
		{"stride: 0", "{family: basic, blocks: 1, width: 8, stride: 0}", 4, "stages[0].stride", "must be between 1 and 16384 (1 or 2 in a stage) (got 0)"},
		{"stride: 0 in a listed block", "{family: basic, blocks_list: [{width: 8}, {width: 8, stride: 0}]}", 4, "stages[0].blocks_list[1].stride", "(got 0)"},
		{"compression: 0.0 (which meant no compression)", "{family: dense, blocks: 1, growth_rate: 4}\n  - {family: transition, compression: 0.0}", 5, "stages[1].compression", "must be in (0, 1] (got 0)"},
		{"se ratio: 0", "{family: basic, width: 8, se: {ratio: 0}}", 4, "stages[0].se.ratio", "leave it out for 16"},
		{"widen_factor: 0", "{family: wide, width: 8, widen_factor: 0}", 4, "stages[0].widen_factor", "leave it out for 1"},
		{"groups: 0", "{family: bottleneck, width: 16, groups: 0}", 4, "stages[0].groups", "a divisor of the channels (got 0)"},
		{"a pool's kernel: 0", "{family: basic, width: 8, pool: {type: max, kernel: 0}}", 4, "stages[0].pool.kernel", "(got 0)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(validHead+"stages:\n  - "+tc.stage+"\n"), "zero.yaml")
			var ce *ConfigError
			if !errors.As(err, &ce) || ce.File != "zero.yaml" || ce.Line != tc.line || ce.Field != tc.field || !strings.Contains(ce.Msg, tc.msg) {
				t.Fatalf("error %v, want zero.yaml:%d field %q %q", err, tc.line, tc.field, tc.msg)
			}
		})
	}
	// Left out, the same fields take their defaults.
	if _, err := Parse([]byte(validHead+"stages:\n  - {family: basic, width: 8}\n"), "default.yaml"); err != nil {
		t.Errorf("blocks and stride left out: %v", err)
	}
}

func TestFactorErrorsReportTheFactor(t *testing.T) {
	for _, tc := range []struct{ name, stage, field, msg string }{
		{"widen_factor", "{family: wide, blocks: 1, width: 64, widen_factor: 2048}", "stages[0].widen_factor",
			"must be between 1 and 1024 for width 64, so that the block's width·widen_factor channels stay within 65536 (got 2048)"},
		{"group_width", "{family: resnext, blocks: 1, width: 64, cardinality: 64, group_width: 2048}", "stages[0].group_width",
			"must be between 1 and 1024 for cardinality 64, so that the block's cardinality·group_width channels stay within 65536 (got 2048)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(validHead+"stages:\n  - "+tc.stage+"\n"), "f.yaml")
			var ce *ConfigError
			if !errors.As(err, &ce) || ce.Field != tc.field || ce.Msg != tc.msg {
				t.Fatalf("error %v, want field %q: %s", err, tc.field, tc.msg)
			}
		})
	}
}

func TestDecodeYAMLLeavesDefaultsForAnEmptyDocument(t *testing.T) {
	for _, doc := range []string{"", "\n\n", "# only a comment\n", "# one\n\n# two\n", "---\n", "~\n", "null\n"} {
		v := struct {
			N int `yaml:"n"`
		}{N: 7}
		if err := DecodeYAML([]byte(doc), "empty.yaml", &v, nil); err != nil || v.N != 7 {
			t.Errorf("%q: N = %d, err %v; want the default 7 kept", doc, v.N, err)
		}
	}
	v := struct {
		N int `yaml:"n"`
	}{N: 7}
	if err := DecodeYAML([]byte("# a comment\nn: 3\n"), "f.yaml", &v, nil); err != nil || v.N != 3 {
		t.Errorf("a comment before a field: N = %d, err %v; want 3", v.N, err)
	}
}
