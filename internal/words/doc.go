// Package words turns errors into sentences for the people who read them.
//
// The packages below the node word their errors for programs
// ("capability: invalid resource pattern: segment 1: byte 0x43 at 0 is
// outside [a-z0-9._-]"); the home node, at its Backend boundary, says the
// same for people ("\"Calendar/*\" is not a valid path: paths are
// lowercase"). A worded error (Say) keeps the error it explains, so
// errors.Is and errors.As see the sentinel, and the local API still sends
// its code.
//
// It is its own package because every job of the home node words its
// refusals the same way (the node itself, the grantee client, the
// delivery and directory keepers, the metrics server), and the binary
// words a token's problems as the node does (mesh token inspect); the
// wording needs none of them.
package words
