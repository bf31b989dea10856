// Package duration reads and writes durations in the one form the CLI
// takes and shows: Go's units plus days and weeks (7d, 2w, 1w2d, 1d12h).
//
// It is its own package because the binary (flags, config files) and the
// home node (mesh status, the words of its errors) both use it, and it
// needs nothing of either.
package duration
