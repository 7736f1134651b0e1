package reports

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"image/color"
	"io"
	"slices"
	"strconv"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// significance is the p value below which the test table says that a group is better.
const significance = 0.05

// Tables returns the comparison's tables: what was compared and how, the hypervolume and best
// accuracy of each group at the equal budget, the tests between groups and every experiment.
func (c *Comparison) Tables() []Table {
	ts := []Table{c.summaryTable(), c.groupTable()}
	if len(c.Groups) > 1 {
		ts = append(ts, c.testTable())
	}
	return append(ts, c.experimentTable())
}

func (c *Comparison) summaryTable() Table {
	names := make([]string, len(c.Experiments))
	for i, e := range c.Experiments {
		names[i] = e.Name
	}
	return Table{Title: "Comparison of " + strconv.Itoa(len(c.Experiments)) + " experiments",
		Rows: [][]string{
			{"experiments", strings.Join(names, ", ")},
			{"grouped by", string(c.GroupBy)},
			{"hypervolume reference", fmt.Sprintf("validation error %s, %s MACs (%s); a hypervolume is the fraction of the box from zero to it that the found networks dominate", Percent(c.Reference.Error), Thousands(int64(c.Reference.MACs)), c.ReferenceFrom)},
			{"equal budget", fmt.Sprintf("%d evaluations (the fewest any experiment finished), %s of training (the least any spent)", c.Budget, seconds(c.Compute))},
		}, Right: []bool{false, false}}
}

func (c *Comparison) groupTable() Table {
	t := Table{Title: fmt.Sprintf("Hypervolume and best accuracy after %d evaluations", c.Budget),
		Note:   "Over the experiments of each group: mean ± sample standard deviation, median and interquartile range.",
		Header: []string{"group", "experiments", "hypervolume mean ± sd", "median", "IQR", "best val. accuracy mean ± sd", "median"},
		Right:  []bool{false, true, true, true, true, true, true}}
	for _, g := range c.Groups {
		h, b := g.Hypervolume, g.Best
		t.Rows = append(t.Rows, []string{g.Name, strconv.Itoa(h.N),
			fmt.Sprintf("%.4f ± %.4f", h.Mean, h.SD), fmt.Sprintf("%.4f", h.Median), fmt.Sprintf("%.4f–%.4f", h.Q1, h.Q3),
			fmt.Sprintf("%.2f%% ± %.2f", 100*b.Mean, 100*b.SD), Percent(b.Median)})
	}
	return t
}

func (c *Comparison) testTable() Table {
	t := Table{Title: "Does one group find better fronts than another?",
		Note:   fmt.Sprintf("One-sided Mann–Whitney U tests of the hypervolumes after %d evaluations: p is the chance of a U this large if both groups searched equally well (exact for up to 20 experiments a group, else the normal approximation).", c.Budget),
		Header: []string{"hypothesis", "U", "p", "method", "verdict"},
		Right:  []bool{false, true, true, false, false}}
	for _, g := range c.Tests {
		method := "normal"
		if g.Exact {
			method = "exact"
		}
		verdict := fmt.Sprintf("not significant (p ≥ %g)", significance)
		if g.P < significance {
			verdict = fmt.Sprintf("%s better (p < %g)", g.Greater, significance)
		}
		t.Rows = append(t.Rows, []string{g.Greater + " > " + g.Less, strconv.FormatFloat(g.U, 'g', -1, 64),
			fmt.Sprintf("%.4g", g.P), method, verdict})
	}
	return t
}

func (c *Comparison) experimentTable() Table {
	t := Table{Title: "Experiments",
		Note:   fmt.Sprintf("Each experiment after %d evaluations, and at its end.", c.Budget),
		Header: []string{"experiment", "strategy", "seed", "group", "hypervolume", "best val. accuracy", "evaluations", "train time", "final hypervolume"},
		Right:  []bool{false, false, true, false, true, true, true, true, true}}
	for _, e := range c.Experiments {
		var last RunStep
		if n := len(e.Steps); n > 0 {
			last = e.Steps[n-1]
		}
		t.Rows = append(t.Rows, []string{e.Name, e.Strategy, strconv.FormatUint(e.Seed, 10), e.Group,
			fmt.Sprintf("%.4f", e.AtBudget.Hypervolume), Percent(e.AtBudget.Best),
			strconv.Itoa(last.Evaluations), seconds(last.Seconds), fmt.Sprintf("%.4f", last.Hypervolume)})
	}
	return t
}

// WriteText writes the comparison's tables for a terminal.
func (c *Comparison) WriteText(w io.Writer) error { return writeTables(w, c.Tables(), false) }

// WriteMarkdown writes the comparison's tables as Markdown.
func (c *Comparison) WriteMarkdown(w io.Writer) error { return writeTables(w, c.Tables(), true) }

// WriteJSON writes the comparison as one indented JSON object.
func (c *Comparison) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(c)
}

// WriteCSV writes every step of every experiment as one CSV row, with plain numbers, so that the
// curves can be redrawn elsewhere.
func (c *Comparison) WriteCSV(w io.Writer) error {
	cw := csv.NewWriter(w)
	cw.Write([]string{"experiment", "strategy", "seed", "group", "evaluations", "train_seconds", "best_val_acc",
		"hypervolume", "ref_error", "ref_macs"})
	for _, e := range c.Experiments {
		for _, s := range e.Steps {
			cw.Write([]string{e.Name, e.Strategy, strconv.FormatUint(e.Seed, 10), e.Group, strconv.Itoa(s.Evaluations),
				number(s.Seconds, true), number(s.Best, true), number(s.Hypervolume, true),
				number(c.Reference.Error, true), number(c.Reference.MACs, true)})
		}
	}
	cw.Flush()
	return cw.Error()
}

// WriteHTML writes the comparison as one self-contained HTML page: its tables and its figures as
// inline SVG.
func (c *Comparison) WriteHTML(w io.Writer) error {
	return writePage(w, "compare", strconv.Itoa(len(c.Experiments))+" experiments", c.Tables(), c.Figures(), nil)
}

// comparePalette colours the groups of a comparison, in order.
var comparePalette = []color.RGBA{rgb(0x4e, 0x79, 0xa7), rgb(0xe1, 0x57, 0x59), rgb(0x59, 0xa1, 0x4f),
	rgb(0xf2, 0x8e, 0x2b), rgb(0xb0, 0x7a, 0xa1), rgb(0x76, 0xb7, 0xb2), rgb(0xed, 0xc9, 0x48), rgb(0x9c, 0x75, 0x5f)}

// Figures returns the comparison's plots: the best accuracy and the hypervolume against
// evaluations, and the hypervolume against training time. Each experiment is a thin line in its
// group's colour; a group of several experiments adds its median, thick, in its interquartile band.
func (c *Comparison) Figures() []Figure {
	best := newPlot("Best accuracy and hypervolume against evaluations", "", "best val. accuracy (%)")
	hv := newPlot("", "evaluations", "hypervolume")
	time := newPlot("Hypervolume against training time", "training time (s)", "hypervolume")
	groupIndex := map[string]int{}
	for i, g := range c.Groups {
		groupIndex[g.Name] = i
	}
	colour := func(group string) color.RGBA { return comparePalette[groupIndex[group]%len(comparePalette)] }
	for _, e := range c.Experiments {
		thin := draw.LineStyle{Color: translucent(colour(e.Group), 0x90), Width: 0.8}
		var b, h, s plotter.XYs
		for _, st := range e.Steps {
			x := float64(st.Evaluations)
			b, h, s = append(b, plotter.XY{X: x, Y: 100 * st.Best}), append(h, plotter.XY{X: x, Y: st.Hypervolume}),
				append(s, plotter.XY{X: st.Seconds, Y: st.Hypervolume})
		}
		for _, pl := range []struct {
			p   *plot.Plot
			xys plotter.XYs
		}{{best, b}, {hv, h}, {time, s}} {
			if len(pl.xys) == 0 {
				continue
			}
			l, _ := plotter.NewLine(pl.xys)
			l.StepStyle, l.LineStyle = plotter.PostStep, thin
			pl.p.Add(l)
			if len(c.Groups) == len(c.Experiments) && pl.p == hv {
				hv.Legend.Add(e.Group, l)
			}
		}
	}
	for _, g := range c.Groups {
		if len(g.Experiments) < 2 {
			continue
		}
		for _, pl := range []struct {
			p     *plot.Plot
			bands []Band
		}{{hv, g.ByEvaluations}, {time, g.ByCompute}} {
			if len(pl.bands) == 0 {
				continue
			}
			var med, q1, q3 plotter.XYs
			for _, bd := range pl.bands {
				med = append(med, plotter.XY{X: bd.X, Y: bd.Median})
				q1, q3 = append(q1, plotter.XY{X: bd.X, Y: bd.Q1}), append(q3, plotter.XY{X: bd.X, Y: bd.Q3})
			}
			// The curves are steps, and so are the band's edges.
			med, q1, q3 = steps(med), steps(q1), steps(q3)
			area := slices.Clone(q3)
			for i := len(q1) - 1; i >= 0; i-- {
				area = append(area, q1[i])
			}
			poly, _ := plotter.NewPolygon(area)
			poly.Color, poly.LineStyle.Width = translucent(colour(g.Name), 0x40), 0
			l, _ := plotter.NewLine(med)
			l.LineStyle = draw.LineStyle{Color: colour(g.Name), Width: 2}
			pl.p.Add(poly, l)
			pl.p.Legend.Add(fmt.Sprintf("%s: median and IQR of %d", g.Name, len(g.Experiments)), l, poly)
		}
	}
	for _, p := range []*plot.Plot{hv, time} {
		p.Legend.Top, p.Legend.Left = false, false
		p.Y.Min = 0
	}
	if c.Budget > 0 {
		// A dashed line marks the equal budget that the tables compare at.
		for _, p := range []*plot.Plot{best, hv} {
			p.Add(budgetLine(float64(c.Budget)))
		}
		time.Add(budgetLine(c.Compute))
	}
	return []Figure{
		{Name: "compare_evaluations", Title: fmt.Sprintf("The best validation accuracy and the hypervolume of each experiment's found networks against evaluations; the dashed line is the equal budget of %d evaluations.", c.Budget),
			Width: figureWidth, Height: figureHeight, draw: func(dc draw.Canvas) {
				tiles := draw.Tiles{Rows: 2, Cols: 1, PadTop: 4, PadBottom: 4, PadLeft: 4, PadRight: 8, PadY: 8}
				canvases := plot.Align([][]*plot.Plot{{best}, {hv}}, tiles, dc)
				best.Draw(canvases[0][0])
				hv.Draw(canvases[1][0])
			}},
		single("compare_compute", "The hypervolume of each experiment's found networks against the training time its evaluations took; the dashed line is the least any experiment spent.", time),
	}
}

// steps returns the corners of the staircase through xys that holds each y until the next x.
func steps(xys plotter.XYs) plotter.XYs {
	var out plotter.XYs
	for i, p := range xys {
		if i > 0 {
			out = append(out, plotter.XY{X: p.X, Y: xys[i-1].Y})
		}
		out = append(out, p)
	}
	return out
}

// budgetLine is a vertical dashed line at X across the whole plot.
type budgetLine float64

// Plot draws the line.
func (x budgetLine) Plot(c draw.Canvas, p *plot.Plot) {
	trX, _ := p.Transforms(&c)
	at := trX(float64(x))
	c.StrokeLine2(draw.LineStyle{Color: color.Gray{0x60}, Width: 1, Dashes: []vg.Length{4, 3}}, at, c.Min.Y, at, c.Max.Y)
}
