package recovery

import "time"

// Every number of the package, with its reason. doc.go's Limits table
// gives them with their values; TestDocNumbersMatchTheConstants checks it.
const (
	// PhraseWords is a recovery phrase's length: 24 BIP39 words, 256 bits
	// of entropy and an 8-bit checksum.
	PhraseWords = 24
	// MinFriends and MaxFriends bound social recovery's friends: a
	// threshold of two at least, and few enough that the method's meta
	// (their commitments and handles, at any threshold and with the
	// longest handles) fits the vault's recovery wrap.
	MinFriends = 2
	MaxFriends = 6
	// MinWait is the shortest waiting period social recovery and escrow
	// allow unless the node's operator lowers it (tests, demos):
	// a day for the owner to see the request and veto it.
	MinWait = 24 * time.Hour
	// DefaultWait is the waiting period when the owner names none.
	DefaultWait = 48 * time.Hour
	// MaxWait bounds a waiting period: a month.
	MaxWait = 30 * 24 * time.Hour
	// MaxRequestAge is how long a recovery request or an escrow request
	// is answered after its time: a week for friends to see it.
	MaxRequestAge = 7 * 24 * time.Hour
	// MaxClockSkew is how far ahead of the reader a message's time may be.
	MaxClockSkew = 5 * time.Minute
	// NonceSize is a request's nonce.
	NonceSize = 16
	// maxHandleLen bounds a handle in a message (the directory's).
	maxHandleLen = 32
	// maxMessageBytes bounds a signed message (the largest, a share
	// delivery, carries commitments and a sealed share).
	maxMessageBytes = 4096
	// maxSealedBytes bounds an age-sealed 32-byte key (one X25519 stanza).
	maxSealedBytes = 1024
	// maxMetaBytes bounds a method's meta (vault.MaxRecoveryMeta).
	maxMetaBytes = 800
	// maxUnix bounds a message's time: 9999-12-31T23:59:59Z.
	maxUnix = 253402300799
	// version is the version of every encoding.
	version = 1
)
