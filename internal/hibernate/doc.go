// Package hibernate is the home node's side of wake-on-request
// (protocols/wake): going to sleep, coming back unlocked, and waking an
// owner that sleeps.
//
// Going to sleep (mesh hibernate, or mesh node --hibernate-after D once
// nothing used the node for D): the node pushes the snapshots still
// pending (internal/cached), then, if its vault is unlocked, prepares a
// resume (internal/resume: the master key wrapped under a fresh resume
// key, one half of it in the home, the other sealed to the node's own
// key) and tells every relay it holds a reservation on that it
// hibernates, handing each the sealed half. Only when at least one relay
// took it does the node stop; otherwise it stays up and says why.
//
// Coming back: a node started with a resume file in its home asks its
// relays for the sealed half before it takes a reservation (so no request
// a wake released finds it locked), opens it with its key, and unlocks
// with the two halves. The window (DefaultWindow, 12 h, the unlock
// session's maximum) bounds it: after it the file is deleted and the node
// starts locked. mesh lock discards the file and asks the relays to
// forget the half.
//
// Waking an owner (the grantee's side, mesh get --live or a read that
// nothing cached answers): Waker asks each relay of the owner's directory
// record in turn, presenting the share's token, and returns once one
// says the owner is back.
package hibernate
