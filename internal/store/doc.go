// Package store opens the pebble datastore every role keeps in its home
// folder, guarded against a full disk and a damaged table, and documents
// (layout.go) which namespace of it holds what for each role.
//
// Every write is fsynced before it returns. A write that would leave less
// than DiskReserve free is refused with ErrDiskFull, having written
// nothing. Pebble's lock makes a second process opening the same folder
// fail; Busy recognises that failure.
package store
