// Package recoveryhost is a home node's side of its vault's recovery
// methods (mesh recovery, mesh recover): enabling a phrase, a hardware
// key or an escrow, listing and testing them, and setting a new password
// with one of them when the old one is lost. It works on the home folder
// alone, with or without a running node: the owner who lost the password
// has a locked vault. Social recovery's network side (friends' shares,
// requests, releases, vetoes) is internal/socialrecovery's; this package
// hands it the social ops (Config.Social) and keeps the rest.
//
// Each method's key derivations and messages are internal/recovery's;
// the wraps are the vault's (vault/recovery.go). What this package keeps
// in the node's clear store:
//
//	/recovery/escrow/identity     the one-time age identity of the last escrow request (opens the institution's release)
//	/recovery/escrow/wait/ID      when the release ID was first presented: the waiting period runs from then
//
// Every enabling, test, recovery and refused attempt is in the vault's
// audit log (the vault writes them); a release presented to start the
// escrow's waiting period is audited too.
package recoveryhost
