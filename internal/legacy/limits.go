package legacy

// Every bound on an export, checked before the work or the allocation it
// bounds. doc.go's Limits table gives each with its value; the test
// TestDocNumbersMatchTheConstants keeps the two in step.
const (
	// MaxExportBytes bounds the file read: a server vault with the most
	// records at typical sizes is a few MiB; 64 MiB leaves room for large
	// notes without letting a file exhaust the node's memory (the file,
	// then its decoded form and the plaintexts, are all held at once).
	MaxExportBytes = 64 << 20

	// MaxRecords bounds the record list: far above any one user's legacy
	// vault, and low enough that the per-record work (two AEAD opens, a
	// vault write and a read back) ends in minutes.
	MaxRecords = 100_000

	// MaxIDLen bounds a record ID: a UUID is 36, a Mongo ObjectId 24.
	MaxIDLen = 128

	// MaxFieldLen bounds each descriptive text (provider, username, one
	// scope, a time): they are labels, not data.
	MaxFieldLen = 1024

	// MaxScopes bounds an oauth_token record's scope list.
	MaxScopes = 256

	// MinSaltLen and MaxSaltLen bound the KDF salt: 16 bytes is the least
	// a random salt should have; more than 64 is no format we know.
	MinSaltLen = 16
	MaxSaltLen = 64

	// MaxScryptLogN bounds scrypt's N = 2^logN: 2^20 is the most any
	// guidance asks for (interactive logins use 2^14 to 2^17).
	MaxScryptLogN = 20
	// MaxScryptR and MaxScryptP bound scrypt's block size and lanes.
	MaxScryptR = 32
	MaxScryptP = 16
	// MaxScryptMemory bounds scrypt's memory, 128·N·r bytes: 256 MiB,
	// so a hostile export cannot make the node allocate gigabytes.
	MaxScryptMemory = 256 << 20
	// MaxScryptWork bounds 128·N·r·p, the bytes scrypt mixes in all: 1 GiB,
	// a few seconds of one core.
	MaxScryptWork = 1 << 30

	// MaxPBKDF2Iterations bounds PBKDF2-SHA256's iterations: 10,000,000
	// is over 16 times OWASP's 600,000, a few seconds of one core.
	MaxPBKDF2Iterations = 10_000_000

	// ivLen is AES-GCM's standard 96-bit nonce; tagLen its 128-bit tag.
	ivLen  = 12
	tagLen = 16
	// macLen is HMAC-SHA256's output, the export's mac and check.
	macLen = 32
)
