package main

import (
	"context"
	"errors"
	"io"
	"regexp"
	"slices"
	"strings"

	"github.com/gonas/nas/reports"
	"github.com/gonas/nas/store"
)

func init() { register(&compareCommand{}) }

type compareCommand struct{}

func (*compareCommand) Name() string { return "compare" }

func (*compareCommand) Synopsis() string {
	return "compare experiments: hypervolume and best accuracy against evaluations and compute, with tests"
}

// compareFormats are the values of nas compare's --format.
var compareFormats = []string{"table", "md", "csv", "json", "html"}

func (c *compareCommand) Run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet(c, "EXPERIMENT... [flags]\n\nEach EXPERIMENT is a name or a pattern in which * stands for any characters, slashes\nincluded, and ? for one (quick/* is every run of a sweep of quick); at least two\nexperiments must be named in all.", stderr)
	db := dbFlag(fs)
	groupBy := fs.String("group-by", string(reports.GroupByNone), "pool the experiments of one `strategy`, or none")
	format := fs.String("format", "table", "output format: "+strings.Join(compareFormats, ", "))
	out := fs.String("out", "", "write to `PATH` instead of standard output")
	refMACs := fs.Float64("ref-macs", 0, "the `MACS` of the hypervolume's reference point (default: the experiments' largest max_macs)")
	pos, err := parseArgs(fs, args, oneOrMore, "experiment name or pattern")
	if err != nil {
		return err
	}
	if !slices.Contains(compareFormats, *format) {
		return badInputf("--format %q: valid formats are %s", *format, strings.Join(compareFormats, ", "))
	}
	if !slices.Contains(reports.Groupings, reports.Grouping(*groupBy)) {
		return badInputf("--group-by %q: valid: none, strategy", *groupBy)
	}
	if *refMACs < 0 {
		return badInputf("--ref-macs must not be negative (got %g)", *refMACs)
	}
	st, err := openStore(*db)
	if err != nil {
		return err
	}
	defer st.Close()
	names, err := matchExperiments(ctx, st, pos)
	if err != nil {
		return badInputf("%s: %w", *db, err)
	}
	var ds []*reports.Data
	for _, n := range names {
		d, err := reports.Fetch(ctx, st, n)
		if errors.Is(err, store.ErrNotFound) {
			return badInputf("%s: %w", *db, err)
		}
		if err != nil {
			return err
		}
		ds = append(ds, d)
	}
	cmp, err := reports.Compare(ds, reports.CompareOptions{GroupBy: reports.Grouping(*groupBy), RefMACs: *refMACs})
	if err != nil {
		return badInput(err)
	}
	return writeDocument(*out, stdout, *format, cmp)
}

// matchExperiments returns the names of the stored experiments that the arguments name, in the
// order of the arguments, a pattern's matches in the order the experiments were created. A name
// that is not a pattern is taken as it is; a pattern must match at least one experiment.
func matchExperiments(ctx context.Context, st reports.Source, args []string) ([]string, error) {
	es, err := st.Experiments(ctx)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, a := range args {
		if !strings.ContainsAny(a, "*?") {
			names = append(names, a)
			continue
		}
		n := len(names)
		re := namePattern(a)
		for _, e := range es {
			if re.MatchString(e.Name) {
				names = append(names, e.Name)
			}
		}
		if len(names) == n {
			return nil, errors.New("no experiment matches " + a)
		}
	}
	return names, nil
}

// namePattern returns the regular expression of a pattern of experiment names: * stands for any
// characters, slashes included, ? for one, and every other character for itself.
func namePattern(pattern string) *regexp.Regexp {
	var b strings.Builder
	b.WriteString("^")
	for _, r := range pattern {
		switch r {
		case '*':
			b.WriteString(".*")
		case '?':
			b.WriteString(".")
		default:
			b.WriteString(regexp.QuoteMeta(string(r)))
		}
	}
	b.WriteString("$")
	return regexp.MustCompile(b.String())
}
