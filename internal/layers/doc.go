// Package layers holds no code: its test enforces the import rules of
// docs/architecture.md (which podid package may depend on which), with the
// reason for each rule, over `go list -deps` of the whole module.
package layers
