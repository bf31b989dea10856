package agentsock

import "time"

// Every number of the package, each with its reason. doc.go's Limits table
// gives them with their values; TestDocNumbersMatchTheConstants checks it.
const (
	// NonceLen is the challenge's randomness: 256 bits never repeat.
	NonceLen = 32
	// maxChallenge bounds the server's frames (the challenge and the
	// verdict): a status, a nonce or an agent's name, and a message.
	maxChallenge = 1024
	// maxAnswer bounds the agent's answer: a peer ID (38 bytes), a nonce
	// (32) and a signature (64) in a small map.
	maxAnswer = 256
	// MaxMessageLen bounds a refusal's words in a verdict.
	MaxMessageLen = 512
	// HandshakeTimeout bounds the whole handshake of one connection: a
	// local process answers in milliseconds, a stalled one gives up its
	// slot after it.
	HandshakeTimeout = 10 * time.Second
	// NonceTTL is how long a challenge may be answered, and how long an
	// issued nonce is remembered after that, so no nonce is ever accepted
	// twice while it is remembered.
	NonceTTL = time.Minute
	// DefaultMaxNonces bounds the nonces remembered at once; when it is
	// reached, new connections are refused until the oldest expire (about
	// 68 new connections a second, sustained).
	DefaultMaxNonces = 4096
	// DefaultMaxConns bounds the connections open at once, handshaking or
	// authenticated: agents are few and reuse their connections.
	DefaultMaxConns = 64
	// IdleTimeout closes an authenticated connection with no request.
	IdleTimeout = 5 * time.Minute

	// MaxRequestBody bounds one HTTP request's body: a use_secret body and
	// the JSON around it.
	MaxRequestBody = 2 << 20
	// MaxPathLen bounds a path or prefix argument (capability's
	// MaxResourceLen, 256, is the real rule; the backend checks it).
	MaxPathLen = 1024
	// MaxQueryLen bounds a memory_search query.
	MaxQueryLen = 4096
	// DefaultK and MaxK are memory_search's default and largest k.
	DefaultK = 10
	MaxK     = 100
	// MaxMemoryText bounds one memory_add note.
	MaxMemoryText = 64 << 10
	// MaxSecretName bounds use_secret's name.
	MaxSecretName = 128
	// MaxURLLen bounds use_secret's URL.
	MaxURLLen = 2048
	// MaxSecretBody bounds use_secret's body.
	MaxSecretBody = 1 << 20
	// MaxReplyData bounds the bytes a tool returns: a resource's content
	// or a brokered call's response body.
	MaxReplyData = 4 << 20
	// MaxListNames bounds the names list_resources returns.
	MaxListNames = 10000
	// MaxHandleLen bounds request_share's "with".
	MaxHandleLen = 64
	// MaxKeyFile bounds an agent key file read.
	MaxKeyFile = 4096
	// maxSocketPath is the longest unix socket path Linux accepts.
	maxSocketPath = 107
)

// The stdio bridge's drain: at the end of its input it waits for the
// answers of the requests it read, for at most DrainTimeout, counting at
// most maxDrainPending of them.
const (
	DrainTimeout    = 60 * time.Second
	maxDrainPending = 1024
)
