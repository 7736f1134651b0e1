// Package reports reads the store and renders tables, Pareto fronts and plots.
package reports
