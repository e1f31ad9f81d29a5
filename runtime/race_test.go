//go:build race

package runtime

// raceEnabled: the race detector's runtime needs far more memory than a
// small memory limit leaves the init.
const raceEnabled = true
