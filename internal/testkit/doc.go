// Package testkit holds the helpers every package's tests share, so no
// test file grows its own copy: deterministic keys and randomness, a fake
// clock, loopback libp2p hosts, waiting on a condition with a deadline,
// goroutine-leak checks, committed test vectors and the specs they check,
// errors worded for users (Sentence), and paired benchmarks (Pair,
// PairRatios: ours and a baseline interleaved, the median pair ratio with
// its spread).
//
// Tests never sleep for a fixed time to let something happen: they wait
// for it with Eventually (or a channel and Within), and fail with a
// message when the deadline passes. Library code never imports testkit;
// the layering test at the module root pins that.
package testkit
