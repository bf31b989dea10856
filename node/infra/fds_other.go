//go:build !unix

package infra

// processFDs is the process's open-file limit, 0 when unknown.
func processFDs() int { return 0 }
