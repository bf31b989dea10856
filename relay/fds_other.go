//go:build !unix

package relay

// ProcessFDs is the process's open-file limit, 0 when unknown: what a
// resource manager for an infrastructure role may size its file
// descriptors from (ResourceManager here, node/infra's bootstrap host).
func ProcessFDs() int { return 0 }
