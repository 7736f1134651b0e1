package reports

import (
	"bytes"
	"cmp"
	"fmt"
	"image/color"
	"io"
	"math"
	"slices"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/text"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
	"gonum.org/v1/plot/vg/vgsvg"

	"github.com/gonas/nas/evaluator"
)

// Figure is one of a report's plots, ready to be drawn in any format.
type Figure struct {
	// Name is the figure's file name without extension, e.g. "bubble".
	Name string
	// Title says what the figure shows.
	Title string
	// Width and Height are the figure's size.
	Width, Height vg.Length
	draw          func(dc draw.Canvas)
}

// pngDPI is the resolution of PNG figures: twice the 72 points per inch of their size, so that
// they stay sharp on high-density screens.
const pngDPI = 144

// WriteSVG writes f as an SVG document. Text refers to the Liberation Sans font, with Arial,
// Helvetica and the browser's sans-serif font as fallbacks, rather than embedding it.
func (f Figure) WriteSVG(w io.Writer) error {
	c := vgsvg.New(f.Width, f.Height)
	f.draw(draw.New(c))
	var b bytes.Buffer
	if _, err := c.WriteTo(&b); err != nil {
		return err
	}
	svg := strings.ReplaceAll(b.String(), "font-family:Liberation Sans;",
		"font-family:Liberation Sans,Arial,Helvetica,sans-serif;")
	_, err := io.WriteString(w, svg)
	return err
}

// WritePNG writes f as a PNG image of two pixels per point (144 dots per inch).
func (f Figure) WritePNG(w io.Writer) error {
	c := vgimg.NewWith(vgimg.UseWH(f.Width, f.Height), vgimg.UseDPI(pngDPI))
	f.draw(draw.New(c))
	_, err := vgimg.PngCanvas{Canvas: c}.WriteTo(w)
	return err
}

// Figures returns the report's plots: the bubble chart of the compared networks, the Pareto
// front in accuracy and MACs, the search's progress and the learning curves of the best networks.
func (r *Report) Figures() []Figure {
	return []Figure{r.bubbleChart(), r.frontChart(), r.progressChart(), r.curvesChart()}
}

// The figures' size and text.
var (
	figureWidth  = vg.Points(640)
	figureHeight = vg.Points(420)
	sans         = font.Font{Typeface: "Liberation", Variant: "Sans"}
)

// newPlot returns a plot with the figures' fonts, a title, axis labels and grid lines.
func newPlot(title, x, y string) *plot.Plot {
	p := plot.New()
	p.Title.Text = title
	p.Title.TextStyle.Font = font.From(sans, 13)
	p.Title.Padding = 8
	for _, ax := range []*plot.Axis{&p.X, &p.Y} {
		ax.Label.TextStyle.Font = font.From(sans, 11)
		ax.Tick.Label.Font = font.From(sans, 9)
	}
	p.X.Label.Text, p.Y.Label.Text = x, y
	p.Legend.TextStyle.Font = font.From(sans, 9)
	p.Legend.XOffs, p.Legend.YOffs = -6, 6
	grid := plotter.NewGrid()
	grid.Vertical.Color = color.Gray{0xe0}
	grid.Horizontal.Color = color.Gray{0xe0}
	p.Add(grid)
	return p
}

// single returns a figure of one plot.
func single(name, title string, p *plot.Plot) Figure {
	return Figure{Name: name, Title: title, Width: figureWidth, Height: figureHeight, draw: p.Draw}
}

// logMACs puts p's x axis on a log scale of MACs, if there is a network to show; a log scale of
// no data has no range.
func logMACs(p *plot.Plot, cs []*Candidate) {
	if len(cs) == 0 {
		return
	}
	p.X.Scale = plot.LogScale{}
	p.X.Tick.Marker = logTicks{}
}

// logTicks marks a log axis at each integer multiple of a power of ten, with labels at 1, 2 and 5
// times a power of ten, or at every mark when that would leave fewer than two labels.
type logTicks struct{}

// Ticks returns the marks between lo and hi.
func (logTicks) Ticks(lo, hi float64) []plot.Tick {
	var ticks []plot.Tick
	labelled := 0
	for e := math.Floor(math.Log10(lo)); math.Pow(10, e) <= hi; e++ {
		for m := 1; m <= 9; m++ {
			v := float64(m) * math.Pow(10, e)
			if v < lo || v > hi {
				continue
			}
			t := plot.Tick{Value: v}
			if m == 1 || m == 2 || m == 5 {
				t.Label = Metric(v)
				labelled++
			}
			ticks = append(ticks, t)
		}
	}
	if labelled < 2 {
		for i := range ticks {
			ticks[i].Label = Metric(ticks[i].Value)
		}
	}
	return ticks
}

// bubble is a glyph that fills a circle and outlines it, so that overlapping bubbles stay apart.
type bubble struct {
	outline color.Color
	width   vg.Length
}

// DrawGlyph draws the bubble of style sty at pt.
func (b bubble) DrawGlyph(c *draw.Canvas, sty draw.GlyphStyle, pt vg.Point) {
	var p vg.Path
	p.Move(vg.Point{X: pt.X + sty.Radius, Y: pt.Y})
	p.Arc(pt, sty.Radius, 0, 2*math.Pi)
	p.Close()
	c.SetColor(sty.Color)
	c.Fill(p)
	c.SetLineStyle(draw.LineStyle{Color: b.outline, Width: b.width})
	c.Stroke(p)
}

// names is a plotter that writes a name to the right of each of its points, beyond a gap that
// clears the point's glyph.
type names struct {
	xys   plotter.XYs
	text  []string
	gaps  []vg.Length
	style text.Style
}

// Plot draws the names on c.
func (n *names) Plot(c draw.Canvas, p *plot.Plot) {
	x, y := p.Transforms(&c)
	for i, xy := range n.xys {
		c.FillText(n.style, vg.Point{X: x(xy.X) + n.gaps[i], Y: y(xy.Y)}, n.text[i])
	}
}

// GlyphBoxes returns the names' extents, so that the plot leaves room for them.
func (n *names) GlyphBoxes(p *plot.Plot) []plot.GlyphBox {
	boxes := make([]plot.GlyphBox, len(n.xys))
	for i, xy := range n.xys {
		r := n.style.Rectangle(n.text[i])
		boxes[i] = plot.GlyphBox{X: p.X.Norm(xy.X), Y: p.Y.Norm(xy.Y), Rectangle: r.Add(vg.Point{X: n.gaps[i]})}
	}
	return boxes
}

// accuracyPoint returns c's MACs and its accuracy in percent.
func (r *Report) accuracyPoint(c *Candidate) plotter.XY {
	return plotter.XY{X: float64(c.MACs), Y: 100 * c.Value(r.Accuracy)}
}

// translucent returns c with alpha a.
func translucent(c color.RGBA, a uint8) color.NRGBA { return color.NRGBA{R: c.R, G: c.G, B: c.B, A: a} }

// maxBubble is the radius of the bubble of the network with the most parameters.
const maxBubble = vg.Length(22)

// bubbleChart plots the compared networks by MACs and accuracy, as bubbles whose area is
// proportional to their parameters, coloured by block group, with the baselines outlined in
// black and named.
func (r *Report) bubbleChart() Figure {
	cs := r.compared()
	p := newPlot(fmt.Sprintf("Networks by MACs and %s (bubble area: parameters)", r.Accuracy.Label()),
		"MACs per sample (log scale)", r.Accuracy.Label()+" (%)")
	logMACs(p, cs)
	var most int64 = 1
	for _, c := range cs {
		most = max(most, c.Params)
	}
	radius := func(c *Candidate) vg.Length { return maxBubble * vg.Length(math.Sqrt(float64(c.Params)/float64(most))) }

	// Largest first, so that small bubbles are drawn on top of the large ones.
	bySize := slices.Clone(cs)
	slices.SortStableFunc(bySize, func(a, b *Candidate) int { return cmp.Compare(b.Params, a.Params) })
	for _, c := range bySize {
		g := c.Group
		s, _ := plotter.NewScatter(plotter.XYs{r.accuracyPoint(c)})
		s.GlyphStyle = draw.GlyphStyle{Color: translucent(groupColour(g), 0xc0), Radius: radius(c),
			Shape: bubble{outline: color.White, width: 0.75}}
		if c.Baseline() {
			s.GlyphStyle.Shape = bubble{outline: color.Black, width: 1.5}
		}
		p.Add(s)
	}
	var groupNames []string
	for _, c := range cs {
		if !slices.Contains(groupNames, c.Group) {
			groupNames = append(groupNames, c.Group)
		}
	}
	slices.Sort(groupNames)
	for _, g := range groupNames {
		p.Legend.Add(g, legendGlyph(draw.GlyphStyle{Color: translucent(groupColour(g), 0xc0), Radius: 5,
			Shape: bubble{outline: color.White, width: 0.75}}))
	}
	p.Legend.Add("baseline (outlined)", legendGlyph(draw.GlyphStyle{Color: color.White, Radius: 5,
		Shape: bubble{outline: color.Black, width: 1.5}}))
	p.Add(r.pointNames(cs, baselineLabel, radius))
	return single("bubble", "The compared networks by MACs and accuracy; bubble area is proportional to parameters.", p)
}

// legendGlyph is a legend thumbnail of one glyph.
type legendGlyph draw.GlyphStyle

// Thumbnail draws the glyph in the middle of c.
func (g legendGlyph) Thumbnail(c *draw.Canvas) {
	c.DrawGlyph(draw.GlyphStyle(g), c.Center())
}

// pointNames writes label(c) beside the point of each c of cs for which it is not empty, gap(c)
// to the right of the point.
func (r *Report) pointNames(cs []*Candidate, label func(*Candidate) string, gap func(*Candidate) vg.Length) *names {
	n := &names{style: text.Style{Color: color.Black, Font: font.From(sans, 8), YAlign: text.YCenter,
		Handler: plot.DefaultTextHandler}}
	for _, c := range cs {
		if l := label(c); l != "" {
			n.xys = append(n.xys, r.accuracyPoint(c))
			n.text = append(n.text, l)
			n.gaps = append(n.gaps, gap(c)+2)
		}
	}
	return n
}

// baselineLabel is the name of a baseline, and empty for a found network.
func baselineLabel(c *Candidate) string {
	if c.Baseline() {
		return c.Label()
	}
	return ""
}

// frontChart plots the Pareto front in accuracy and MACs over every compared network, with the
// baselines named.
func (r *Report) frontChart() Figure {
	cs := r.compared()
	p := newPlot(fmt.Sprintf("Pareto front in MACs and %s", r.Accuracy.Label()),
		"MACs per sample (log scale)", r.Accuracy.Label()+" (%)")
	logMACs(p, cs)
	front, _ := r.ParetoFront(evaluator.MACs, r.Accuracy)
	onFront := map[int64]bool{}
	var line plotter.XYs
	for _, c := range front {
		onFront[c.Trial] = true
		line = append(line, r.accuracyPoint(c))
	}
	var others, baselines plotter.XYs
	for _, c := range cs {
		switch {
		case c.Baseline():
			baselines = append(baselines, r.accuracyPoint(c))
		case !onFront[c.Trial]:
			others = append(others, r.accuracyPoint(c))
		}
	}
	grey := draw.GlyphStyle{Color: color.Gray{0x99}, Radius: 3, Shape: draw.CircleGlyph{}}
	if len(others) > 0 {
		s, _ := plotter.NewScatter(others)
		s.GlyphStyle = grey
		p.Add(s)
		p.Legend.Add("dominated network", s)
	}
	if len(line) > 0 {
		l, _ := plotter.NewLine(line)
		l.StepStyle = plotter.PostStep
		l.LineStyle = draw.LineStyle{Color: rgb(0xd6, 0x27, 0x28), Width: 1.5}
		s, _ := plotter.NewScatter(line)
		s.GlyphStyle = draw.GlyphStyle{Color: rgb(0xd6, 0x27, 0x28), Radius: 3.5, Shape: draw.CircleGlyph{}}
		p.Add(l, s)
		p.Legend.Add("Pareto front", l, s)
	}
	if len(baselines) > 0 {
		s, _ := plotter.NewScatter(baselines)
		s.GlyphStyle = draw.GlyphStyle{Color: color.Black, Radius: 4, Shape: draw.BoxGlyph{}}
		ring, _ := plotter.NewScatter(baselines)
		ring.GlyphStyle = draw.GlyphStyle{Color: color.White, Radius: 2.5, Shape: draw.BoxGlyph{}}
		p.Add(s, ring)
		p.Legend.Add("baseline", s, ring)
	}
	// Baselines by name, the found networks on the front by trial, for nas export.
	label := func(c *Candidate) string {
		if !c.Baseline() && onFront[c.Trial] {
			return fmt.Sprintf("trial %d", c.Trial)
		}
		return baselineLabel(c)
	}
	p.Add(r.pointNames(cs, label, func(*Candidate) vg.Length { return 4 }))
	return single("front", "The Pareto front in accuracy and MACs over every compared network, baselines included; found networks on the front are labelled with their trial.", p)
}

// progressChart plots the best accuracy of the found networks and the hypervolume of their front
// against the number of finished trials, one above the other.
func (r *Report) progressChart() Figure {
	best := newPlot("Progress of the search", "", "best "+r.Accuracy.Label()+" (%)")
	hv := newPlot("", "finished trials", "hypervolume")
	if n := float64(len(r.Progress)); n > 0 {
		// Both panels span every trial, so that they share their x axis.
		best.X.Min, best.X.Max, hv.X.Min, hv.X.Max = 1, n, 1, n
	}
	var bestLine, hvLine plotter.XYs
	for _, s := range r.Progress {
		if s.Best > 0 {
			bestLine = append(bestLine, plotter.XY{X: float64(s.Evaluations), Y: 100 * s.Best})
			hvLine = append(hvLine, plotter.XY{X: float64(s.Evaluations), Y: s.Hypervolume})
		}
	}
	blue := draw.LineStyle{Color: rgb(0x4e, 0x79, 0xa7), Width: 1.5}
	for _, pl := range []struct {
		p   *plot.Plot
		xys plotter.XYs
		leg string
	}{{best, bestLine, "best found network"}, {hv, hvLine, "front of the found networks"}} {
		if len(pl.xys) == 0 {
			continue
		}
		l, _ := plotter.NewLine(pl.xys)
		l.StepStyle = plotter.PostStep
		l.LineStyle = blue
		pl.p.Add(l)
		pl.p.Legend.Add(pl.leg, l)
	}
	if b := r.bestBaseline(); b != nil && len(r.Progress) > 0 {
		y := 100 * b.Value(r.Accuracy)
		l, _ := plotter.NewLine(plotter.XYs{{X: 1, Y: y}, {X: float64(len(r.Progress)), Y: y}})
		l.LineStyle = draw.LineStyle{Color: color.Black, Width: 1, Dashes: []vg.Length{4, 3}}
		best.Add(l)
		best.Legend.Add("best baseline ("+b.Label()+")", l)
	}
	return Figure{Name: "progress", Title: "The best accuracy and the hypervolume of the found networks against finished trials.",
		Width: figureWidth, Height: figureHeight, draw: func(dc draw.Canvas) {
			tiles := draw.Tiles{Rows: 2, Cols: 1, PadTop: 4, PadBottom: 4, PadLeft: 4, PadRight: 8, PadY: 8}
			canvases := plot.Align([][]*plot.Plot{{best}, {hv}}, tiles, dc)
			best.Draw(canvases[0][0])
			hv.Draw(canvases[1][0])
		}}
}

// bestBaseline returns the most accurate compared baseline, or nil if there is none.
func (r *Report) bestBaseline() *Candidate {
	var best *Candidate
	for _, c := range r.compared() {
		if c.Baseline() && (best == nil || r.better(c, best)) {
			best = c
		}
	}
	return best
}

// curveColours colour the learning curves in rank order.
var curveColours = []color.RGBA{
	rgb(0x4e, 0x79, 0xa7), rgb(0xf2, 0x8e, 0x2b), rgb(0xe1, 0x57, 0x59), rgb(0x76, 0xb7, 0xb2),
	rgb(0x59, 0xa1, 0x4f), rgb(0xed, 0xc9, 0x48), rgb(0xb0, 0x7a, 0xa1), rgb(0xff, 0x9d, 0xa7),
	rgb(0x9c, 0x75, 0x5f), rgb(0xba, 0xb0, 0xac),
}

// curvesChart plots the validation accuracy after each epoch of the best networks (the training
// accuracy if one of them had no validation split).
func (r *Report) curvesChart() Figure {
	top := r.candidates(r.Top)
	top = top[:min(len(top), len(curveColours))]
	val := true
	for _, c := range top {
		for _, e := range c.Curve {
			val = val && e.ValAcc > 0
		}
	}
	y := "validation accuracy (%)"
	if !val {
		y = "training accuracy (%)"
	}
	p := newPlot(fmt.Sprintf("Learning curves of the top %d", len(top)), "epoch", y)
	p.X.Tick.Marker = integerTicks{}
	for i, c := range top {
		var xys plotter.XYs
		for _, e := range c.Curve {
			acc := e.TrainAcc
			if val {
				acc = e.ValAcc
			}
			xys = append(xys, plotter.XY{X: float64(e.Epoch), Y: 100 * acc})
		}
		if len(xys) == 0 {
			continue
		}
		l, s, _ := plotter.NewLinePoints(xys)
		l.LineStyle = draw.LineStyle{Color: curveColours[i], Width: 1.5}
		s.GlyphStyle = draw.GlyphStyle{Color: curveColours[i], Radius: 2.5, Shape: draw.CircleGlyph{}}
		p.Add(l, s)
		p.Legend.Add(fmt.Sprintf("%d. %s (trial %d)", i+1, c.Label(), c.Trial), l, s)
	}
	return single("curves", "The accuracy after each epoch of the most accurate networks.", p)
}

// integerTicks marks every integer of an axis, labelled, when there are at most ten, and
// otherwise falls back to the default marks.
type integerTicks struct{}

// Ticks returns the marks between lo and hi.
func (integerTicks) Ticks(lo, hi float64) []plot.Tick {
	if hi-lo > 10 {
		return plot.DefaultTicks{}.Ticks(lo, hi)
	}
	var ticks []plot.Tick
	for v := math.Ceil(lo); v <= hi; v++ {
		ticks = append(ticks, plot.Tick{Value: v, Label: fmt.Sprint(v)})
	}
	return ticks
}
