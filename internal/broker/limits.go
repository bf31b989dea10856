package broker

import (
	"time"

	"github.com/ocmt/mesh/vault"
)

// Caps of the broker and the memory index, each with its reason. doc.go's
// Limits table gives them with their values.
const (
	// MaxURLBytes bounds the URL an agent asks for: real API URLs are far
	// shorter, and a long one is a way to smuggle data out.
	MaxURLBytes = 4096
	// MaxHeaders bounds the headers an agent may add (Content-Type,
	// Accept, a provider's version header...).
	MaxHeaders = 32
	// MaxHeaderBytes bounds their names and values together.
	MaxHeaderBytes = 8192
	// MaxRequestBody bounds the body an agent sends: an embeddings batch
	// or a chat request fits with room to spare.
	MaxRequestBody = 1 << 20
	// MaxResponseBytes bounds the response body the broker reads, checks
	// for the key and hands back: it is held whole in memory to be
	// redacted, so it is the memory one call costs.
	MaxResponseBytes = 8 << 20
	// MaxInFlight bounds the calls running at once (each may hold
	// MaxResponseBytes); more wait for a slot or their context.
	MaxInFlight = 8
	// DefaultTimeout bounds a whole call: connecting, sending, the
	// provider's answer and reading its body.
	DefaultTimeout = 30 * time.Second
	// DialTimeout bounds connecting, TLS handshake included.
	DialTimeout = 10 * time.Second
	// MaxRedirects bounds the redirects a configuration may let the broker
	// follow (the default is none).
	MaxRedirects = 5
	// MaxEndpoints bounds one secret's allowlist.
	MaxEndpoints = 16
	// MinSecretBytes is the shortest value the broker injects: a shorter
	// one would make redaction rewrite ordinary text, and is no API key.
	MinSecretBytes = 8

	// MaxBatch bounds the texts one embeddings call sends.
	MaxBatch = 64
	// MaxTextBytes bounds one text sent to be embedded.
	MaxTextBytes = 32 << 10

	// MaxDimension bounds a vector's length (3072 for the largest
	// OpenAI embedding model).
	MaxDimension = 4096
	// MaxNotes bounds the notes an index holds, whatever their dimension.
	MaxNotes = 100000
	// MaxIDBytes bounds a note's ID (its vault path).
	MaxIDBytes = 512
	// MaxK bounds the neighbours one search returns.
	MaxK = 100
	// MaxEncodedBytes bounds an index's encoding: it is stored as one
	// vault record, so an index never grows past what the vault can seal
	// (10,000 notes of dimension 1536 fit; 20,000 do not).
	MaxEncodedBytes = vault.MaxRecordPlaintext
)
