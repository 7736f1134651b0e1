package space

import (
	"fmt"

	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"
)

// explicitZero returns a *ConfigError at the first "blocks: 0" or "stride: 0" written in an
// architecture document. The decoder cannot tell a zero written from a field left out, and a
// left-out blocks or stride means 1 (a pool's stride: its kernel); a zero written is a mistake,
// never silently 1. A stage of no blocks is written by leaving the stage out.
func explicitZero(data []byte) (err error) {
	defer func() {
		if recover() != nil {
			err = nil // the decoder reports the malformed document
		}
	}()
	f, perr := parser.ParseBytes(data, 0)
	if perr != nil || len(f.Docs) == 0 {
		return nil
	}
	var found *ConfigError
	ast.Walk(visitorFunc(func(n ast.Node) bool {
		mv, ok := n.(*ast.MappingValueNode)
		if !ok || found != nil || mv.Key == nil || mv.Value == nil {
			return found == nil
		}
		v, ok := mv.Value.(*ast.IntegerNode)
		if !ok || v.GetToken() == nil || v.GetToken().Value != "0" {
			return true
		}
		var msg string
		switch mv.Key.GetToken().Value {
		case "blocks":
			msg = fmt.Sprintf("must be between 1 and %d (got 0); to leave a stage out, delete it", maxBlocks)
		case "stride":
			msg = fmt.Sprintf("must be between 1 and %d (1 or 2 in a stage) (got 0); leave it out for the default: 1, or a pool's kernel", maxSize)
		default:
			return true
		}
		found = tokenError(v.GetToken(), msg)
		return false
	}), f.Docs[0])
	if found != nil {
		return found
	}
	return nil
}

// visitorFunc adapts a function to ast.Visitor; returning false stops the descent.
type visitorFunc func(ast.Node) bool

// Visit implements ast.Visitor.
func (f visitorFunc) Visit(n ast.Node) ast.Visitor {
	if f(n) {
		return f
	}
	return nil
}
