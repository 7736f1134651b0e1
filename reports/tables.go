package reports

import (
	"encoding/csv"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/olekukonko/tablewriter"
	"github.com/olekukonko/tablewriter/renderer"
	"github.com/olekukonko/tablewriter/tw"

	"github.com/gonas/nas/evaluator"
)

// Table is a titled grid of cells: the unit that the terminal, Markdown and HTML outputs render.
type Table struct {
	Title string
	// Note is a sentence under the title saying how to read the table; it may be empty.
	Note string
	// Header names the columns; a table without one is a list of names and values.
	Header []string
	Rows   [][]string
	// Right marks the columns to align right (numbers).
	Right []bool
}

// column is one column of a table of candidates.
type column struct {
	header string
	right  bool
	cell   func(c *Candidate) string
}

// candidateColumns are the columns of the tables that list networks: the trial and its network,
// then every objective of the report.
func (r *Report) candidateColumns() []column {
	cols := []column{
		{"trial", true, func(c *Candidate) string { return strconv.FormatInt(c.Trial, 10) }},
		{"network", false, (*Candidate).Label},
		{"family", false, func(c *Candidate) string { return c.Family }},
		{"operator", false, func(c *Candidate) string { return c.Operator }},
	}
	accs := []evaluator.Objective{evaluator.ValAcc}
	if r.Measured(evaluator.TestAcc) == nil && len(r.compared()) > 0 {
		accs = append(accs, evaluator.TestAcc)
	}
	for _, o := range append(accs, r.Objectives[1:]...) {
		cols = append(cols, column{o.Label(), true, formatter(o)})
	}
	if len(r.Finals) > 0 {
		cols = append(cols[:5:5], append([]column{{"final test accuracy", true, finalCell}}, cols[5:]...)...)
	}
	return append(cols, column{"train time", true, func(c *Candidate) string { return seconds(c.TrainSeconds) }})
}

// candidateTable lists cs under title, numbered from 1 if numbered is set.
func candidateTable(title, note string, cols []column, cs []*Candidate, numbered bool) Table {
	t := Table{Title: title, Note: note}
	if numbered {
		t.Header, t.Right = append(t.Header, "#"), append(t.Right, true)
	}
	for _, col := range cols {
		t.Header, t.Right = append(t.Header, col.header), append(t.Right, col.right)
	}
	for i, c := range cs {
		var row []string
		if numbered {
			row = append(row, strconv.Itoa(i+1))
		}
		for _, col := range cols {
			row = append(row, col.cell(c))
		}
		t.Rows = append(t.Rows, row)
	}
	return t
}

// Tables returns the report's tables in the order the text outputs show them: the summary, the
// best networks, the Pareto front in every objective and in each pair, the baselines beside the
// found networks, the search's progress and the failures.
func (r *Report) Tables() []Table {
	cols := r.candidateColumns()
	ts := []Table{
		r.summaryTable(),
		candidateTable(fmt.Sprintf("Top %d by %s", len(r.Top), r.Accuracy.Label()),
			"The most accurate networks evaluated at the full fidelity, baselines included.",
			cols, r.candidates(r.Top), true),
		candidateTable("Pareto front", fmt.Sprintf("The networks that no other beats in %s at once, by MACs.",
			objectiveList(r.Objectives)), cols, r.candidates(r.Front), false),
	}
	for _, f := range r.Fronts {
		ts = append(ts, FrontTable(f.X, f.Y, r.candidates(f.Trials)))
	}
	ts = append(ts, r.FinalTables()...)
	if t, ok := r.fidelityTable(); ok {
		ts = append(ts, t)
	}
	return append(ts, r.baselineTable(), r.progressTable(), r.failureTable())
}

// objectiveList joins the labels of objs with commas and "and".
func objectiveList(objs []evaluator.Objective) string {
	labels := make([]string, len(objs))
	for i, o := range objs {
		labels[i] = o.Label()
	}
	if len(labels) < 2 {
		return strings.Join(labels, "")
	}
	return strings.Join(labels[:len(labels)-1], ", ") + " and " + labels[len(labels)-1]
}

func (r *Report) summaryTable() Table {
	s, e := r.Summary, r.Experiment
	rows := [][]string{
		{"experiment", fmt.Sprintf("%s (%s, seed %d): %s", e.Name, e.Strategy, e.Seed, e.Status)},
		{"machine", fmt.Sprintf("%s, %d cores, %s, nas %s", e.Machine.CPUModel, e.Machine.Cores, e.Machine.GoVersion, e.Machine.NASVersion)},
		{"started", e.Created.Format(time.DateTime + " MST")},
	}
	if !e.Finished.IsZero() {
		rows = append(rows, []string{"finished", e.Finished.Format(time.DateTime + " MST")})
	}
	trials := fmt.Sprintf("%d finished of %d", s.Finished, s.Trials)
	if e.Budget.Evaluations > 0 {
		trials += fmt.Sprintf("; %d searched of a budget of %d (%.0f%%)", s.Searched, e.Budget.Evaluations,
			100*float64(s.Searched)/float64(e.Budget.Evaluations))
	}
	wall := seconds(s.WallSeconds)
	if e.Budget.Time > 0 {
		wall += fmt.Sprintf(" of a budget of %v (%.0f%%)", e.Budget.Time, 100*s.WallSeconds/e.Budget.Time.Seconds())
	}
	rows = append(rows,
		[]string{"trials", trials},
		[]string{"wall time", wall},
		[]string{"training time", seconds(s.ComputeSeconds) + " in the evaluations run for this experiment"},
		[]string{"evaluations", fmt.Sprintf("%d trained, %d from the cache", s.Evaluated, s.Cached)},
		[]string{"duplicates", fmt.Sprintf("%d (%s of finished trials)", s.Duplicates, ratio(s.Duplicates, s.Finished))},
		[]string{"failures", r.failureSummary()},
		[]string{"compared", fmt.Sprintf("%d networks at fidelity %g, %d of them baselines; %d at lower fidelities",
			s.Compared, r.Fidelity, s.Baselines, s.LowFidelity)},
		[]string{"objectives", "maximise " + r.Accuracy.Label() + "; minimise " + objectiveList(r.Objectives[1:])},
	)
	if b := r.Candidate(s.Best); b != nil {
		rows = append(rows, []string{"best found", fmt.Sprintf("trial %d, %s: %s, %s MACs, %s params",
			b.Trial, b.Label(), b.Format(r.Accuracy), Metric(float64(b.MACs)), Metric(float64(b.Params)))})
	}
	return Table{Title: "Summary", Rows: rows, Right: []bool{false, false}}
}

func (r *Report) failureSummary() string {
	n := 0
	var kinds []string
	for _, st := range slices.Sorted(maps.Keys(r.Summary.Failures)) {
		n += r.Summary.Failures[st]
		kinds = append(kinds, fmt.Sprintf("%d %s", r.Summary.Failures[st], st))
	}
	if n == 0 {
		return "none"
	}
	return fmt.Sprintf("%d (%s)", n, strings.Join(kinds, ", "))
}

// FrontTable lists front, the Pareto front in x and y that ParetoFront returns.
func FrontTable(x, y evaluator.Objective, front []*Candidate) Table {
	cols := []column{
		{"trial", true, func(c *Candidate) string { return strconv.FormatInt(c.Trial, 10) }},
		{"network", false, (*Candidate).Label},
		{"family", false, func(c *Candidate) string { return c.Family }},
		{x.Label(), true, formatter(x)},
		{y.Label(), true, formatter(y)},
	}
	return candidateTable(fmt.Sprintf("Pareto front: %s against %s", y.Label(), x.Label()), "", cols, front, false)
}

func (r *Report) baselineTable() Table {
	t := Table{Title: "Baselines and the found networks that dominate them",
		Note: fmt.Sprintf("A found network dominates a baseline when it is at least as good in %s and in the cost, and better in one.",
			r.Accuracy.Label()),
		Header: []string{"trial", "baseline", r.Accuracy.Label(), "MACs", "parameters", "dominated in MACs by", "dominated in parameters by"},
		Right:  []bool{true, false, true, true, true, false, false}}
	for _, b := range r.Baselines {
		c := r.Candidate(b.Baseline)
		t.Rows = append(t.Rows, []string{strconv.FormatInt(c.Trial, 10), c.Label(), c.Format(r.Accuracy),
			c.Format(evaluator.MACs), c.Format(evaluator.Params), r.trialList(b.BeatenMACs), r.trialList(b.BeatenParams)})
	}
	return t
}

// trialList names up to three trials and counts the rest.
func (r *Report) trialList(trials []int64) string {
	if len(trials) == 0 {
		return "none"
	}
	const shown = 3
	var names []string
	for _, id := range trials[:min(shown, len(trials))] {
		names = append(names, fmt.Sprintf("%d %s", id, r.Candidate(id).Label()))
	}
	s := strings.Join(names, ", ")
	if len(trials) > shown {
		s += fmt.Sprintf(" and %d more", len(trials)-shown)
	}
	return s
}

// progressTable lists the steps at which the best accuracy or the hypervolume changed.
func (r *Report) progressTable() Table {
	t := Table{Title: "Progress",
		Note: fmt.Sprintf("The most accurate found network, and the hypervolume of the found networks' front in error and MACs as a fraction of the box up to error %s and %s MACs, after each trial that changed them.",
			Percent(r.HypervolumeRef.Error), Metric(r.HypervolumeRef.MACs)),
		Header: []string{"evaluations", "trial", "best " + r.Accuracy.Label(), "hypervolume"},
		Right:  []bool{true, true, true, true}}
	var last Step
	for _, s := range r.Progress {
		if s.Best != last.Best || s.Hypervolume != last.Hypervolume {
			t.Rows = append(t.Rows, []string{strconv.Itoa(s.Evaluations), strconv.FormatInt(s.Trial, 10),
				Percent(s.Best), fmt.Sprintf("%.5f", s.Hypervolume)})
		}
		last = s
	}
	return t
}

func (r *Report) failureTable() Table {
	t := Table{Title: "Failures", Header: []string{"trial", "network", "status", "message"},
		Right: []bool{true, false, false, false}}
	for i := range r.Candidates {
		c := &r.Candidates[i]
		if c.Status != evaluator.StatusOK {
			t.Rows = append(t.Rows, []string{strconv.FormatInt(c.Trial, 10), c.Label(), string(c.Status), c.Message})
		}
	}
	return t
}

// seconds writes a duration given in seconds rounded to the second, e.g. "1h2m3s".
func seconds(s float64) string {
	return time.Duration(s * float64(time.Second)).Round(time.Second).String()
}

// ratio writes n/of as a percentage, or "0%" when of is zero.
func ratio(n, of int) string {
	if of == 0 {
		return "0%"
	}
	return fmt.Sprintf("%.0f%%", 100*float64(n)/float64(of))
}

// WriteText writes the report's tables for a terminal.
func (r *Report) WriteText(w io.Writer) error {
	return writeTables(w, r.Tables(), false)
}

// WriteMarkdown writes the report's tables as Markdown, each under a level-2 heading.
func (r *Report) WriteMarkdown(w io.Writer) error {
	return writeTables(w, r.Tables(), true)
}

// writeTables renders ts through tablewriter, as Markdown or as ASCII tables. An empty table is
// shown as its title and "none".
func writeTables(w io.Writer, ts []Table, markdown bool) error {
	for i, t := range ts {
		if i > 0 {
			fmt.Fprintln(w)
		}
		if err := WriteTable(w, t, markdown); err != nil {
			return err
		}
	}
	return nil
}

// WriteTable writes t with its title and note, as Markdown under a level-2 heading or as an ASCII
// table for a terminal. A table without rows is written as its title and "(none)".
func WriteTable(w io.Writer, t Table, markdown bool) error {
	if markdown {
		fmt.Fprintf(w, "## %s\n\n", t.Title)
		if t.Note != "" {
			fmt.Fprintf(w, "%s\n\n", t.Note)
		}
	} else {
		fmt.Fprintf(w, "%s\n%s\n", t.Title, strings.Repeat("=", len([]rune(t.Title))))
		if t.Note != "" {
			fmt.Fprintf(w, "%s\n", t.Note)
		}
	}
	if len(t.Rows) == 0 {
		_, err := fmt.Fprintln(w, "(none)")
		return err
	}
	if markdown && t.Header == nil {
		// A Markdown table must have a header; a list of names and values reads better anyway.
		for _, row := range t.Rows {
			fmt.Fprintf(w, "- **%s**: %s\n", row[0], strings.Join(row[1:], " "))
		}
		return nil
	}
	align := make([]tw.Align, len(t.Right))
	for i := range align {
		align[i] = tw.AlignLeft
		if t.Right[i] {
			align[i] = tw.AlignRight
		}
	}
	var rend tw.Renderer = renderer.NewBlueprint(tw.Rendition{Symbols: tw.NewSymbols(tw.StyleASCII)})
	if markdown {
		rend = renderer.NewMarkdown()
	}
	table := tablewriter.NewTable(w,
		tablewriter.WithRenderer(rend),
		tablewriter.WithHeaderAutoFormat(tw.Off),
		tablewriter.WithRowAutoWrap(tw.WrapNone),
		tablewriter.WithHeaderAlignmentConfig(tw.CellAlignment{PerColumn: align}),
		tablewriter.WithRowAlignmentConfig(tw.CellAlignment{PerColumn: align}),
	)
	if t.Header != nil {
		table.Header(t.Header)
	}
	for _, row := range t.Rows {
		if err := table.Append(row); err != nil {
			return err
		}
	}
	return table.Render()
}

// WriteCSV writes every finished trial as one CSV row under a header, with plain numbers:
// accuracies as fractions, empty cells for what was not measured.
func (r *Report) WriteCSV(w io.Writer) error {
	onFront := map[int64]bool{}
	for _, id := range r.Front {
		onFront[id] = true
	}
	cw := csv.NewWriter(w)
	header := []string{"trial", "name", "hash", "family", "group", "operator", "generation", "fidelity",
		"status", "cached", "duplicate", "compared", "on_front", "params", "macs", "val_acc", "test_acc",
		"latency_ms", "train_seconds", "message"}
	if len(r.Finals) > 0 {
		header = append(header, "final_trainings", "final_test_acc", "final_test_sd")
	}
	cw.Write(header)
	for i := range r.Candidates {
		c := &r.Candidates[i]
		ok := c.Status == evaluator.StatusOK
		row := []string{strconv.FormatInt(c.Trial, 10), c.Name, c.Hash, c.Family, c.Group, c.Operator,
			strconv.Itoa(c.Generation), number(c.Fidelity, true), string(c.Status),
			strconv.FormatBool(c.Cached), strconv.FormatBool(c.Duplicate), strconv.FormatBool(c.Compared),
			strconv.FormatBool(onFront[c.Trial]), strconv.FormatInt(c.Params, 10), strconv.FormatInt(c.MACs, 10),
			number(c.ValAcc, ok), number(c.TestAcc, ok && c.Tested), number(c.LatencyMs, c.LatencyMs > 0),
			number(c.TrainSeconds, true), c.Message}
		if len(r.Finals) > 0 {
			n, ok := 0, false
			if c.Final != nil {
				n, ok = c.Final.OK, c.Final.OK > 0
			}
			row = append(row, strconv.Itoa(n), number(c.Final.acc(), ok), number(c.Final.sd(), ok))
		}
		cw.Write(row)
	}
	cw.Flush()
	return cw.Error()
}

// number writes f in the shortest form that reads back exactly, or nothing if !known.
func number(f float64, known bool) string {
	if !known {
		return ""
	}
	return strconv.FormatFloat(f, 'g', -1, 64)
}
