// Package recovery produces the recovery key of each of a vault's
// recovery methods (issue 16, "a lost password is not a lost vault"), and
// the signed messages of social recovery and escrow. A recovery key RK is
// 32 bytes that the method alone can produce again; the vault keeps one
// wrap of its master key per method under RK, beside the password wrap
// (vault/doc.go "Recovery wraps"), with the method's public meta, which
// is what the method needs to produce RK again. The vault names the four
// methods "phrase", "social", "hardware" and "escrow" (Phrase, Social,
// Hardware, Escrow).
//
// The package decides and computes; it stores nothing and sends nothing.
// The owner's node enables a method, keeps the one-time identity of an
// escrow request and runs the escrow's waiting period
// (internal/recoveryhost); the network side of social recovery (share
// deliveries to the friends' mailboxes, requests, releases, vetoes, the
// friends' waiting period) is internal/socialrecovery's.
//
// This comment is the specification of the key derivations, the metas,
// the signed messages and their checks. Canonical CBOR and peer IDs are
// internal/wire's ("CBOR", "Peer IDs"); the dealing, commitments and
// shares are package group's; sealing a share to a peer is
// internal/peerseal's; sealing a key to an age recipient is age v1
// (age-encryption.org/v1, binary, one X25519 stanza). This text refers to
// them and does not repeat them. Field types are internal/wire's: uint,
// int, bytes, text, [T].
//
// # Limits
//
// Every number of the package, with its value; TestDocNumbersMatchTheConstants
// checks them against the constants. Durations are in seconds.
//
//	name             value         unit      what it bounds
//	PhraseWords      24            words     a recovery phrase (256 bits of entropy, an 8-bit checksum)
//	MinFriends       2             friends   social recovery's friends, at least (and its threshold)
//	MaxFriends       6             friends   social recovery's friends, at most
//	MinWait          86400         seconds   the shortest waiting period (a day), unless the operator lowers it
//	DefaultWait      172800        seconds   the waiting period when the owner names none (two days)
//	MaxWait          2592000       seconds   the longest waiting period (30 days)
//	MaxRequestAge    604800        seconds   a request's or a release's life after its time (a week)
//	MaxClockSkew     300           seconds   how far ahead of the reader a message's time may be (five minutes)
//	NonceSize        16            bytes     a recovery request's nonce
//	maxHandleLen     32            bytes     a handle in a share delivery or a request (the directory's)
//	maxMessageBytes  4096          bytes     a signed message
//	maxSealedBytes   1024          bytes     an age-sealed key (RK sealed to one X25519 recipient)
//	maxMetaBytes     800           bytes     a method's meta (vault.MaxRecoveryMeta)
//	maxUnix          253402300799  seconds   a request's time: 9999-12-31T23:59:59Z
//	version          1             -         the version of every encoding of the package
//
// # Phrase
//
// The phrase method's RK comes from 24 words the owner writes down: a
// BIP39 mnemonic of the English word list, PhraseWords (24) words of 11
// bits each, the first 256 bits its entropy and the last 8 the first
// byte of SHA-256(entropy). NewPhrase draws the entropy from crypto/rand.
//
//	RK = HKDF-SHA256(ikm = entropy (32 bytes), salt = the vault's ID (16 bytes),
//	                 info = "ocmt-mesh/recovery/phrase/v1", 32 bytes)
//
// so that one phrase gives each vault another key. PhraseKey reads a
// phrase in any case and with any white space between its words: it
// lowers it (Unicode), splits it at white space and joins the words with
// single spaces. Anything but 24 words of the list with a valid checksum
// (a word misspelt, missing, out of order, or 12 words) is ErrBadPhrase,
// whose text never repeats the words. PhraseWordsAt gives the words at
// positions counted from 1, for the check that the owner wrote them
// down. The meta holds nothing of the phrase:
//
//	key  field    type  rule
//	1    version  uint  version (1)
//
// # Hardware
//
// The hardware method's RK is 32 random bytes (crypto/rand), sealed with
// age to an X25519 recipient (age1...) whose identity
// (AGE-SECRET-KEY-1...) is on removable media or a token;
// NewHardwareIdentity makes such a pair. EnableHardware trims white space
// around the recipient; HardwareKey reads an age identity file (at most
// 64 KiB, comments allowed, several identities tried in turn) and opens
// the sealed key: an identity that does not open it is ErrWrongKey. The
// meta, at most maxMetaBytes (800) bytes:
//
//	key  field      type   rule
//	1    version    uint   version (1)
//	2    recipient  text   the age X25519 recipient, exactly as age parses it
//	3    sealed     bytes  RK sealed to the recipient, 1 to maxSealedBytes (1024) bytes
//
// A sealed key opens only when age decrypts it with one of the
// identities given and its plaintext is exactly 32 bytes; anything else
// is ErrWrongKey, and a sealed key longer than maxSealedBytes is
// ErrMalformed.
//
// # Security key (fido2)
//
// The fido2 method is a FIDO2 security key's PRF (the WebAuthn "prf"
// extension, hmac-secret on the key), asked by the web UI for a salt the
// vault keeps: only that key, touched, gives the same 32 bytes again.
//
//	RK = HKDF-SHA256(ikm = the PRF output, FIDO2OutputSize (32) bytes,
//	                 salt = vault ID, info = "ocmt-mesh/recovery/fido2/v1")
//
// The meta (none of it secret; the browser reads it to ask the key), at
// most maxMetaBytes (800) bytes:
//
//	key  field       type   rule
//	1    version     uint   version (1)
//	2    rp id       text   the relying party ID (the web UI's host), 1 to 253 bytes
//	3    credential  bytes  the credential's ID, 1 to 1023 bytes
//	4    salt        bytes  the PRF salt, FIDO2SaltSize (32) bytes
//
// A PRF output of another length is ErrMalformed; one that is not the
// key's opens nothing (the vault's ErrRecoveryKey, counted as a wrong
// password).
//
// # Escrow
//
// The escrow method's RK is 32 random bytes sealed with age to an
// institution's X25519 recipient; the institution also has an Ed25519
// peer key that signs its release statements. EnableEscrow takes the
// owner's peer ID, the recipient, the institution's peer ID and a
// waiting period (Waiting periods). The meta, at most maxMetaBytes (800)
// bytes:
//
//	key  field        type   rule
//	1    version      uint   version (1)
//	2    recipient    text   the institution's age X25519 recipient (trimmed)
//	3    institution  bytes  the peer ID whose key signs release statements
//	4    sealed       bytes  RK sealed to the recipient, 1 to maxSealedBytes (1024) bytes
//	5    wait         int    the waiting period in seconds, 1 to MaxWait (2592000)
//	6    owner        bytes  the owner's peer ID
//
// To recover, the owner's node signs an escrow request (kind 5) with the
// owner's peer key, for the vault and its sealed RK, with a one-time age
// X25519 recipient (NewEscrowRequest returns the request and the
// identity, which the node keeps). The institution checks the owner's
// identity out of band, then runs InstitutionRelease with its age
// identities and its peer key: it opens RK, seals it again to the
// request's one-time recipient, and signs a release statement (kind 6).
// The owner's node checks the release against the meta
// (CheckEscrowRelease), waits the meta's waiting period, and opens RK
// with the one-time identity (EscrowKey). The institution sees RK; the
// release alone opens nothing without the one-time identity, and the
// waiting period gives the owner's other devices time to see that a
// release arrived (the vault's audit log records it).
//
// # Social
//
// The social method deals RK among 2 to 7 friends (MinFriends to
// MaxFriends), any K of whom can give it back. EnableSocial refuses the
// owner as one of its friends, and a list of handles of another length
// than the friends'. The dealing is package group's Deal under the name
// "recovery", with the friends as its admins, in the owner's order, and
// the threshold K (package group's rules: 2 ≤ K ≤ N, distinct admins):
//
//	RK = the group key of that dealing
//	   = HKDF-SHA256(ikm = the secret s as 32 bytes little-endian, no salt,
//	                 info = "ocmt-mesh/group-key/v1", 32 bytes)
//
// The meta, at most maxMetaBytes (800) bytes (EnableSocial refuses a
// larger one; with MaxFriends (6) friends and every handle at
// maxHandleLen (32) bytes, every threshold fits; handles are at most
// maxHandleLen bytes):
//
//	key  field         type    rule
//	1    version       uint    version (1)
//	2    commitments   bytes   the dealing's commitments (package group), group "recovery"
//	3    handles       [text]  the friends' handles, one per admin, in share order
//	4    wait          int     the waiting period in seconds, 1 to MaxWait (2592000)
//	5    owner         bytes   the owner's peer ID
//	6    owner-handle  text    the owner's handle
//
// Each friend receives a share delivery (kind 1), signed by the owner,
// holding its share sealed to it (group.SealShare); the owner's node
// seals the whole delivery to the friend again for its mailbox. To
// recover, a new device signs a request (kind 2) with its own new peer
// key. Each friend checks it (CheckRequest), reads the verification code
// to the owner out of band, waits the waiting period unless the owner
// vetoes (kind 4), then releases (kind 3): its share, opened with its
// key and sealed again to the requesting device. The device collects
// the releases (Collector) and recovers RK from K of them.
//
// # Signed messages
//
// Every message of social recovery and escrow is one signed envelope, a
// canonical CBOR map of at most maxMessageBytes (4096) bytes:
//
//	key  field    type   rule
//	1    version  uint   version (1)
//	2    kind     uint   1 to 6 (below)
//	3    body     bytes  the kind's body, a canonical CBOR map (below)
//	4    signer   bytes  the signer's peer ID
//	5    sig      bytes  the Ed25519 signature, 64 bytes
//
// The payload is the same map without key 5. The signer signs, with the
// Ed25519 key of its peer ID,
//
//	"ocmt-mesh/escrow-release/v1" || 0x00 || payload    for kind 6 (internal/keys' EscrowReleaseMessage)
//	"ocmt-mesh/recovery/v1" || 0x00 || payload          for every other kind (RecoveryMessage)
//
// so that a release statement and a recovery message never verify as
// each other, nor as any other signature of the mesh. A message's ID is
// SHA-256 of its whole encoding, signature included: releases, vetoes
// and release statements name a request by it. The kinds:
//
//	kind  name            signed by               body
//	1     share           the owner               ShareBody
//	2     request         the recovering device   RequestBody
//	3     release         a friend                ReleaseBody
//	4     veto            the owner               VetoBody
//	5     escrow-request  the owner               EscrowRequestBody
//	6     escrow-release  the institution         EscrowReleaseBody
//
// Open refuses, in this order: more than maxMessageBytes (4096) bytes, a
// map that does not decode canonically, another version or an unknown
// kind, a signer that is not a peer ID, a signature of another length
// than 64 bytes (each ErrMalformed); a signature that does not verify
// (ErrBadSignature, naming the signer). It does not look inside the
// body: each kind's checker does.
//
// A share delivery's body (kind 1):
//
//	key  field         type   rule
//	1    owner         bytes  the owner's peer ID, the envelope's signer
//	2    owner-handle  text   the owner's handle, at most maxHandleLen (32) bytes
//	3    commitments   bytes  the dealing's commitments, as in the meta
//	4    share         bytes  the friend's share sealed to the friend (peerseal)
//	5    wait          int    the waiting period in seconds, above 0
//	6    time          int    when the owner dealt, Unix seconds
//
// A request's body (kind 2):
//
//	key  field         type   rule
//	1    owner         bytes  the peer ID of the owner whose vault is recovered
//	2    owner-handle  text   the owner's handle as the device names it, at most maxHandleLen (32) bytes
//	3    device        bytes  the requesting device's new peer ID, the envelope's signer
//	4    time          int    when the device asked, Unix seconds, 1 to maxUnix
//	5    nonce         bytes  NonceSize (16) random bytes
//
// A release's body (kind 3):
//
//	key  field    type   rule
//	1    request  bytes  the ID of the request it answers, 32 bytes
//	2    owner    bytes  the owner's peer ID
//	3    share    bytes  the friend's share sealed to the request's device (peerseal)
//	4    time     int    when the friend released, Unix seconds
//
// A veto's body (kind 4):
//
//	key  field    type   rule
//	1    request  bytes  the ID of the request vetoed, 32 bytes
//	2    time     int    when the owner vetoed, Unix seconds
//
// An escrow request's body (kind 5):
//
//	key  field   type   rule
//	1    owner   bytes  the owner's peer ID, the envelope's signer
//	2    vault   bytes  the vault's ID, 16 bytes
//	3    sealed  bytes  the meta's sealed RK, at most maxSealedBytes (1024) bytes
//	4    reply   text   the one-time age X25519 recipient the release is sealed to
//	5    time    int    when the owner asked, Unix seconds
//
// A release statement's body (kind 6):
//
//	key  field    type   rule
//	1    owner    bytes  the owner's peer ID, from the request
//	2    vault    bytes  the vault's ID, from the request
//	3    sealed   bytes  RK sealed to the request's reply recipient, at most maxSealedBytes (1024) bytes
//	4    time     int    when the institution released, Unix seconds
//	5    request  bytes  the ID of the request it answers, 32 bytes
//
// # Verification code
//
// A friend compares a request's code with the owner, out of band (a
// call), before helping: the owner reads it on the recovering device. It
// is the same for every friend and every read of one request:
//
//	h    = SHA-256("ocmt-mesh/recovery-code/v1" || 0x00 || owner || device || nonce)
//	code = four groups of five digits separated by single spaces; group i
//	       (from 0) is the big-endian uint32 of h[4i … 4i+3] mod 100000,
//	       written with leading zeros
//
// where owner and device are the request's peer IDs' bytes and nonce its
// 16 bytes: 20 digits, some 66 bits.
//
// # Checks
//
// Each checker takes a message Open verified, and refuses in this order;
// the first refusal is the error.
//
// CheckShare (a friend's node, on a share delivery for self): another
// kind than share, a body that does not decode canonically, an owner
// handle longer than maxHandleLen (32) bytes or a wait of 0 or less
// (ErrMalformed); an owner that is not a peer ID or is not the
// envelope's signer (ErrBadSignature); commitments that do not parse, of
// another group than "recovery", or that do not name self among the
// admins (ErrMalformed: the dealing does not name you); a share that
// does not open with self's key (peerseal's error); a share that fails
// group.VerifyShare against the commitments (group.ErrBadShare, naming
// the owner).
//
// CheckRequest (a friend's node, at its time now): another kind, a body
// that does not decode canonically, a nonce of another length than
// NonceSize (16), an owner handle longer than maxHandleLen (32) bytes, a
// time outside 1 to maxUnix, an owner or a device that is not a peer ID
// (ErrMalformed); a device that is not the envelope's signer
// (ErrBadSignature); a time that is not fresh (ErrStale, below).
//
// Release (a friend's node) refuses a request for another owner than the
// share's, and a share that does not open with the friend's key.
//
// Collector.Add (the recovering device, for one request ID): another
// kind than release (ErrMalformed); a signer that is not among the
// dealing's admins (ErrNotFriend, naming it); a body that does not decode
// canonically or a request of another length than 32 bytes
// (ErrMalformed); another request's ID; a share that does not open with
// the device's key; a share of another admin than the signer (a friend
// releasing another friend's share); a share that fails group.VerifyShare
// (group.ErrBadShare). Every refusal after the kind names the friend. A
// release's owner and time are not checked. A second release from one
// friend replaces the first; Key recovers RK with group.Recover once
// Threshold distinct friends released (else an error saying how many of
// how many), and Wipe forgets the shares.
//
// CheckVeto (for a checked request): another kind, a body that does not
// decode canonically or a request of another length than 32 bytes
// (ErrMalformed); another request's ID; a signer that is not the
// request's owner (ErrBadSignature: a veto by a friend or by the device
// counts for nothing). A veto's time is not checked: a veto holds as
// long as its request.
//
// InstitutionRelease (the institution, at its time now): the errors of
// Open; another kind than escrow-request, a body that does not decode
// canonically, a vault ID of another length than 16 bytes or a sealed
// key longer than maxSealedBytes (ErrMalformed); an owner that is not a
// peer ID or is not the signer (ErrBadSignature); a time that is not
// fresh (ErrStale); an identity file holding no age identity; identities
// that do not open the sealed key (ErrWrongKey); a reply that is not an
// age X25519 recipient.
//
// CheckEscrowRelease (the owner's node, with the vault's escrow meta, at
// its time now): a meta that does not parse (ErrMalformed); the errors
// of Open; another kind than escrow-release (ErrMalformed); a signer that
// is not the meta's institution (ErrNotReleased); a body that does not
// decode canonically or a sealed key longer than maxSealedBytes
// (ErrMalformed); a body whose owner or vault is not the owner's and the
// vault's, or a meta whose owner is not the owner (ErrNotReleased); a
// time that is not fresh (ErrStale). The release's request field is not
// checked: a release for another request of the same owner and vault
// passes, and opens only with that request's identity. EscrowKey then
// refuses an identity that does not parse, and one that does not open
// the sealed key (ErrWrongKey).
//
// ParseHardwareMeta, ParseEscrowMeta and ParseSocialMeta refuse, each
// as ErrMalformed: more than maxMetaBytes (800) bytes, a map that does
// not decode canonically, another version, and what breaks a rule of
// the method's table above (for the social meta also: commitments that
// do not parse or of another group than "recovery", and handles in
// another number than the admins). The escrow meta's recipient is not
// checked there: EnableEscrow refuses a bad one.
//
// # Waiting periods and times
//
// Social recovery and escrow have a waiting period between a request and
// the key: MinWait (86400) to MaxWait (2592000) seconds, DefaultWait
// (172800) when the owner names none. The node's operator may lower the
// floor (the minWait argument of EnableSocial and EnableEscrow; 0 or less
// is MinWait) for tests and demos; the ceiling holds. The meta and the
// share deliveries carry it in whole seconds. The escrow's waiting period
// is the owner's node's: it runs from the first time a checked release
// statement reaches it. The social one is the friends': each keeps it
// between a request and its release.
//
// A time t in a message is fresh at the reader's time now when
//
//	now − t ≤ MaxRequestAge (604800 seconds)  and  t − now ≤ MaxClockSkew (300 seconds)
//
// (both bounds inclusive; ErrStale, saying the time, otherwise). Requests
// and escrow requests are checked so when they are read, release
// statements when they are checked. The other times are not checked.
//
// # Errors
//
// The sentinels, for errors.Is: ErrBadPhrase, ErrMalformed,
// ErrBadSignature, ErrStale, ErrNotFriend, ErrWrongKey, ErrNotReleased.
// No error, and no %v, %+v or %#v of a value the package returns, holds
// a recovery key, a share, a private key, an age identity or a phrase.
package recovery
