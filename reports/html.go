package reports

import (
	"bytes"
	"html/template"
	"io"
	"strconv"
	"strings"

	"github.com/gonas/nas/evaluator"
)

// page is the HTML report: the figures inline, the tables as HTML tables, the style in the page,
// so that it needs nothing but itself to be read.
var page = template.Must(template.New("report").Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>nas {{.Kind}}: {{.Name}}</title>
<style>
body { font-family: "Liberation Sans", Arial, Helvetica, sans-serif; margin: 2em auto; max-width: 1400px; padding: 0 1em; color: #222; }
h1 { font-size: 1.6em; }
h2 { font-size: 1.2em; margin-top: 2em; border-bottom: 1px solid #ddd; }
p.note { color: #555; margin: 0.3em 0 0.6em; }
table { border-collapse: collapse; font-size: 0.9em; }
th, td { padding: 0.25em 0.7em; border-bottom: 1px solid #e4e4e4; text-align: left; vertical-align: top; }
th { background: #f4f4f4; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
.figures { margin-top: 2em; display: grid; grid-template-columns: repeat(auto-fit, minmax(560px, 1fr)); gap: 1.5em; }
figure { margin: 0; }
figure svg { width: 100%; height: auto; }
figcaption { color: #555; font-size: 0.9em; }
details { margin-top: 2em; }
</style>
</head>
<body>
<h1>nas {{.Kind}}: {{.Name}}</h1>
{{template "table" .Summary}}
<div class="figures">
{{range .Figures}}<figure id="figure-{{.Name}}">
{{.SVG}}
<figcaption>{{.Title}}</figcaption>
</figure>
{{end}}</div>
{{range .Tables}}{{template "table" .}}{{end}}
{{with .All}}<details id="all-trials"><summary>Every finished trial ({{len .Rows}})</summary>
{{template "table" .}}
</details>
{{end}}
</body>
</html>
{{define "table"}}<section class="table">
<h2>{{.Title}}</h2>
{{if .Note}}<p class="note">{{.Note}}</p>
{{end}}{{if .Rows}}<table>
{{if .Header}}<thead><tr>{{range $i, $h := .Header}}<th{{if index $.Right $i}} class="num"{{end}}>{{$h}}</th>{{end}}</tr></thead>
{{end}}<tbody>
{{range .Rows}}<tr>{{range $i, $c := .}}<td{{if index $.Right $i}} class="num"{{end}}>{{$c}}</td>{{end}}</tr>
{{end}}</tbody>
</table>
{{else}}<p>(none)</p>
{{end}}</section>
{{end}}`))

// htmlFigure is a figure as the page shows it.
type htmlFigure struct {
	Name, Title string
	SVG         template.HTML
}

// WriteHTML writes the report as one self-contained HTML page: the summary, every figure as
// inline SVG, every table, and every finished trial.
func (r *Report) WriteHTML(w io.Writer) error {
	all := r.allTable()
	return writePage(w, "report", r.Experiment.Name, r.Tables(), r.Figures(), &all)
}

// writePage writes a page titled "nas KIND: name" of the tables, the first one above the figures,
// and of all, if not nil, folded at the end.
func writePage(w io.Writer, kind, name string, ts []Table, figs []Figure, all *Table) error {
	data := struct {
		Kind, Name string
		Summary    Table
		Figures    []htmlFigure
		Tables     []Table
		All        *Table
	}{Kind: kind, Name: name, Summary: ts[0], Tables: ts[1:], All: all}
	for _, f := range figs {
		var b bytes.Buffer
		if err := f.WriteSVG(&b); err != nil {
			return err
		}
		svg := b.String()
		// The XML prolog and comment are for SVG files; HTML takes the svg element alone.
		svg = svg[strings.Index(svg, "<svg"):]
		// vgsvg escapes every text it writes, and the rest is markup it generated.
		data.Figures = append(data.Figures, htmlFigure{Name: f.Name, Title: f.Title, SVG: template.HTML(svg)})
	}
	return page.Execute(w, data)
}

// allTable lists every finished trial, failures included, with what was measured.
func (r *Report) allTable() Table {
	t := Table{Title: "Every finished trial",
		Header: []string{"trial", "network", "family", "operator", "generation", "fidelity", "status",
			"parameters", "MACs", "val. accuracy", "test accuracy", "latency (ms)", "train time", "note"},
		Right: []bool{true, false, false, false, true, true, false, true, true, true, true, true, true, false}}
	for i := range r.Candidates {
		c := &r.Candidates[i]
		ok := c.Status == evaluator.StatusOK
		measuredOr := func(known bool, o evaluator.Objective) string {
			if !known {
				return ""
			}
			return c.Format(o)
		}
		var notes []string
		switch {
		case c.Duplicate:
			notes = append(notes, "duplicate")
		case c.Cached:
			notes = append(notes, "from the cache")
		}
		if c.Message != "" {
			notes = append(notes, c.Message)
		}
		note := strings.Join(notes, "; ")
		t.Rows = append(t.Rows, []string{strconv.FormatInt(c.Trial, 10), c.Label(), c.Family, c.Operator,
			strconv.Itoa(c.Generation), strconv.FormatFloat(c.Fidelity, 'g', -1, 64), string(c.Status),
			c.Format(evaluator.Params), c.Format(evaluator.MACs), measuredOr(ok, evaluator.ValAcc), measuredOr(ok && c.Tested, evaluator.TestAcc),
			measuredOr(c.LatencyMs > 0, evaluator.Latency), seconds(c.TrainSeconds), note})
	}
	return t
}
