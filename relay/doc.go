// Package relay runs OCMT's zero-knowledge relay: circuit relay v2
// (go-libp2p's p2p/protocol/circuitv2/relay) on a host of the caller's,
// restricted to our own peers, rate limited, counted and audited without
// ever keeping a payload byte.
//
// # Wiring (`mesh relay`)
//
//	cfg := relay.Config{Authorizer: dir, Audit: auditFile}
//	rm, _ := relay.ResourceManager(cfg)
//	h, _ := libp2p.New(libp2p.Identity(key.Libp2pPrivKey()), libp2p.ListenAddrStrings(...),
//		libp2p.ResourceManager(rm), libp2p.ForceReachabilityPublic())
//	svc, _ := relay.New(h, cfg)
//	defer svc.Close()
//	http.Handle("/metrics", svc.MetricsHandler())
//
// The Service is started explicitly with relayv2.New, not with
// libp2p.EnableRelayService, which would wait for AutoNAT to call the host
// public and would run a second, unrestricted relay.
//
// # Choices
//
//   - Unlimited circuits. The library caps each relayed connection at 2 min
//     and 128 KiB and marks it "limited"; gossipsub and the DHT then ignore
//     the peer. We send no limit (Config.CircuitDataLimit and
//     CircuitDurationLimit are 0), so relayed connections are ordinary
//     connections, and bound the relay instead by who may use it (the ACL),
//     how often (per-peer token buckets), how many (reservation and circuit
//     caps) and how much memory (the resource manager: MaxRelayMemory).
//   - 64 KiB copy buffers instead of 2 KiB (+25% throughput on loopback).
//   - Access: see Authorizer. Registered home nodes and operator-granted
//     peers may reserve; a registered home node may be reached by anyone,
//     because it checks capabilities end to end itself.
//   - Per-circuit accounting by decorating the host handed to relayv2.New
//     so the library's own hop handler runs on a counting stream (tap.go).
//     The alternative, a MetricsTracer, only yields totals without peers.
//     The stream is counted, never read beyond the two handshake frames.
//   - Audit: one JSON line per closed circuit (src, dst, bytes each way,
//     duration, reason) and per refused reservation or circuit (reason).
//     If the audit writer fails, the relay refuses new reservations and
//     circuits until a line is written again. The package writes to any
//     io.Writer, or hands records to an AuditRecorder; mesh relay
//     (node/infra) gives it the role's hash-chained, keyed log in its
//     home, which coalesces refusals so strangers cannot grow it without
//     bound, and into which the operator's grant and revoke commands
//     write too.
//   - Capacity. The role's host takes ConnManager(cfg) as its connection
//     manager, sized from the slots and circuits, and the Service protects
//     every reservation holder and both ends of every live circuit from
//     it (protect.go): libp2p's default manager trimmed a relay back to
//     160 connections, reservations included. ResourceManager lets the
//     relay use the process's file descriptors (less 512). docs/scaling.md
//     gives the measured capacity.
//   - Strangers. Circuits whose source is neither registered nor granted
//     are capped per destination (MaxStrangerCircuits) and closed when
//     idle (CircuitIdleTimeout, CircuitIdleBytes); the Service reads the
//     hop request itself before the library to take the slot exactly
//     (strangers.go).
//   - Circuit rates per source (CircuitsPerMinute), per destination
//     (DestinationCircuitsPerMinute) and relay-wide
//     (RelayCircuitsPerMinute); strangers may not take the lower half of
//     the shared buckets, and a request one bucket refuses gets its
//     tokens back from the others.
//   - Close resets every open circuit, so both peers see an error at once
//     rather than a silent hang; a restarted relay with the same key and
//     port serves peers once they reserve and dial again.
//
// # Zero knowledge
//
// Circuits carry libp2p connections secured end to end (Noise or TLS) by
// the two peers; the relay copies ciphertext. The tests tap every byte the
// relay forwards while peers exchange a random canary and find it in no
// form, nor in the audit log.
package relay
