// Package e2e holds tabula's end-to-end tests: they build the tabula binary
// once and drive it as a user does, against real Docker, skopeo and the
// kernel where a test needs them. It has no code outside its tests.
package e2e
