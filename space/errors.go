package space

import (
	"fmt"

	"github.com/goccy/go-yaml/token"
)

// ConfigError is a mistake in an architecture: where it is and what would be valid. File, Line
// and Col are set when the Arch was parsed from YAML; Field is the path of the offending field
// in the YAML document, e.g. "stages[1].stride".
type ConfigError struct {
	File  string
	Line  int
	Col   int
	Field string
	Msg   string
}

// Error formats the error as file:line:col: field "path": message, leaving out the parts that
// are unknown.
func (e *ConfigError) Error() string {
	s := ""
	if e.File != "" || e.Line > 0 {
		file := e.File
		if file == "" {
			file = "<input>"
		}
		s = file
		if e.Line > 0 {
			s += fmt.Sprintf(":%d:%d", e.Line, e.Col)
		}
		s += ": "
	}
	if e.Field != "" {
		s += fmt.Sprintf("field %q: ", e.Field)
	}
	return s + e.Msg
}

// fieldError returns a ConfigError for the field at path.
func fieldError(path, format string, args ...any) *ConfigError {
	return &ConfigError{Field: path, Msg: fmt.Sprintf(format, args...)}
}

// tokenError returns a ConfigError at the position of tok, whose field Parse fills in.
func tokenError(tok *token.Token, msg string) *ConfigError {
	e := &ConfigError{Msg: msg}
	if tok != nil && tok.Position != nil {
		e.Line, e.Col = tok.Position.Line, tok.Position.Column
	}
	return e
}
