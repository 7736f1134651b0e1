package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"sort"
)

// A command is one subcommand of nas: one type and one file each, registered from that file's init.
type command interface {
	// Name is the word that selects the command, e.g. "train".
	Name() string
	// Synopsis is one line for the command list.
	Synopsis() string
	// Run executes the command with the arguments after its name.
	Run(ctx context.Context, args []string, stdout, stderr io.Writer) error
}

var commands = map[string]command{}

func register(c command) {
	if _, dup := commands[c.Name()]; dup {
		panic("nas: command registered twice: " + c.Name())
	}
	commands[c.Name()] = c
}

// inputError marks an error caused by the user's input (flags, files, configs): exit code 2.
type inputError struct{ err error }

func (e inputError) Error() string { return e.err.Error() }
func (e inputError) Unwrap() error { return e.err }

// badInput marks err as the user's input being wrong, so that nas exits with code 2.
func badInput(err error) error {
	if err == nil {
		return nil
	}
	return inputError{err}
}

// badInputf is badInput(fmt.Errorf(format, args...)).
func badInputf(format string, args ...any) error { return badInput(fmt.Errorf(format, args...)) }

// newFlagSet returns a flag set for a command that reports errors instead of exiting, with a usage
// text made of the synopsis line and the flags.
func newFlagSet(c command, usage string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(c.Name(), flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: nas %s %s\n\n%s\n\n", c.Name(), usage, c.Synopsis())
		fs.PrintDefaults()
	}
	return fs
}

// parseFlags parses args with fs, allowing flags after positional arguments (nas train a.yaml
// --epochs 1), and returns the positional arguments.
func parseFlags(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, badInput(err)
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

// arity is how many positional arguments a command takes.
type arity int

const (
	noArgs    arity = iota // none
	oneArg                 // exactly one
	optional               // at most one
	oneOrMore              // at least one
)

// parseArgs parses args as parseFlags does and checks that the positional arguments number as
// n says; what names one of them for the error, e.g. "architecture file".
func parseArgs(fs *flag.FlagSet, args []string, n arity, what string) ([]string, error) {
	pos, err := parseFlags(fs, args)
	if err != nil {
		return nil, err
	}
	var want string
	switch {
	case n == noArgs && len(pos) > 0:
		want = "no arguments"
	case n == oneArg && len(pos) != 1:
		want = "one " + what
	case n == optional && len(pos) > 1:
		want = "at most one " + what
	case n == oneOrMore && len(pos) == 0:
		want = "at least one " + what
	default:
		return pos, nil
	}
	fs.Usage()
	return nil, badInputf("want %s, got %d arguments", want, len(pos))
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		printUsage(stdout)
		return 0
	}
	c, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "nas: unknown command %q\n\n", args[0])
		printUsage(stderr)
		return 2
	}
	err := c.Run(ctx, args[1:], stdout, stderr)
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	}
	fmt.Fprintf(stderr, "nas %s: %v\n", c.Name(), err)
	var in inputError
	if errors.As(err, &in) {
		return 2
	}
	return 1
}

func printUsage(w io.Writer) {
	fmt.Fprintln(w, "nas searches, trains, stores and reports convolutional network architectures.")
	fmt.Fprintln(w, "\nusage: nas COMMAND [arguments]\n\ncommands:")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-8s %s\n", n, commands[n].Synopsis())
	}
	fmt.Fprintln(w, "\nRun 'nas COMMAND -h' for a command's flags.")
}
