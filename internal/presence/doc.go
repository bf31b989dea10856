// Package presence keeps a home node findable: it publishes the node's
// directory record at the bootstrap until it is taken, publishes it again
// when it is due, lost or out of date, holds the relay reservations the
// record names, and runs the mailbox rounds meanwhile (Keeper.Run, the
// node's mesh loop). It keeps why the handle is not claimed, for mesh
// status.
//
// It is its own package because the loop is the node's one long-running
// schedule, with its own timings and its own account of what is wrong,
// and it needs of the node only its mesh connection, its handle, the one
// signature a locked node makes (its record), and the mailbox round
// (Config.Collect).
package presence
