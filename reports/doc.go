// Package reports reads one experiment from the store and renders what it found: a summary, the
// best networks, Pareto fronts, the hand-written baselines beside the found networks and the
// search's progress, as terminal tables, Markdown, CSV, JSON, SVG and PNG plots and one
// self-contained HTML page.
//
// Fetch reads an experiment through the store; New computes a Report from it without further I/O,
// so that every rendering is a function of the stored data alone.
package reports
