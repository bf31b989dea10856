// Package broker makes HTTP calls with secrets an agent may use but never
// read (issue 13, "Brokered secret use"), and keeps the vectors behind
// memory_search: an Embedder that calls an OpenAI-compatible
// /v1/embeddings endpoint through the broker, and an in-memory Index of
// note vectors whose encoding the node seals in its vault.
//
// This comment is the specification of the broker's rules and of the
// vector set's encoding. The node reads secrets (audited) and stores the
// encoded index; this package does neither by itself.
//
// # Limits
//
// Every number of the package, with its value; TestDocNumbersMatchTheConstants
// checks them against the constants.
//
//	name              value     unit     what it bounds
//	MaxURLBytes       4096      bytes    the URL an agent asks for
//	MaxHeaders        32        headers  the headers an agent adds
//	MaxHeaderBytes    8192      bytes    their names and values together
//	MaxRequestBody    1048576   bytes    the body an agent sends
//	MaxResponseBytes  8388608   bytes    the response body read, redacted and returned (held whole)
//	MaxInFlight       8         calls    calls running at once; more wait
//	DefaultTimeout    30        seconds  a whole call, body read included
//	DialTimeout       10        seconds  connecting, TLS handshake included
//	MaxRedirects      5         hops     the most a configuration may let the broker follow (default 0)
//	MaxEndpoints      16        entries  one secret's allowlist
//	MinSecretBytes    8         bytes    the shortest value the broker injects, and the shortest form redaction replaces
//	MaxBatch          64        texts    one embeddings call
//	MaxTextBytes      32768     bytes    one text to embed
//	MaxDimension      4096      floats   a vector
//	MaxNotes          100000    notes    an index
//	MaxIDBytes        512       bytes    a note's ID
//	MaxK              100       notes    one search's answer
//	MaxEncodedBytes   67108808  bytes    an encoded index: one vault record (vault.MaxRecordPlaintext)
//
// # Requests
//
// An agent's Request names a secret, a method, a URL, headers and a body.
// The broker refuses it (ErrRefused), before it reads the secret, when:
//
//   - the secret has no allowlist (Config.Endpoints): a secret without
//     one is sent nowhere;
//   - the method is not GET, HEAD, POST, PUT, PATCH or DELETE (TRACE
//     would echo the credential back);
//   - the URL does not normalize (below) or matches no allowlist entry;
//   - a header is one the agent may not set: Authorization,
//     Proxy-Authorization, Cookie, every header of the injection table,
//     Accept-Encoding (a compressed answer would hide the key from
//     redaction), and those the transport owns (Host, Content-Length,
//     Transfer-Encoding, Connection, Keep-Alive, Upgrade, TE, Trailer,
//     Expect, Proxy-*); or the headers are more than MaxHeaders (32) or
//     MaxHeaderBytes (8192);
//   - the body is over MaxRequestBody (1048576) bytes.
//
// # URLs and the allowlist
//
// An allowlist entry is a URL: scheme, host, optional port, path prefix
// ("https://api.openai.com/v1"). The request URL and each entry are
// normalized alike, and the URL sent is the normalized one, so what was
// matched is what is sent:
//
//   - absolute, ASCII, no spaces, control characters or backslashes, at
//     most MaxURLBytes (4096) bytes;
//   - no user name or password;
//   - https; http only when Config.AllowLoopbackHTTP is set and the host
//     is 127.0.0.0/8, ::1 or localhost, and then the connection's address
//     must be loopback whatever localhost resolved to;
//   - the host is a lowercase DNS name whose last label is not numeric
//     and does not start with 0x, without a trailing dot; or an IP
//     address in its plain form (IPv6 in brackets, no zone; an
//     IPv4-mapped IPv6 address is its IPv4 address). Forms a resolver
//     might read as another address ("2130706433", "0x7f.1", "127.1",
//     "0177.0.0.1") are refused;
//   - the port is the scheme's default or explicit, and must be equal;
//   - the path holds no "." or ".." segment, no empty segment, no
//     encoded slash, backslash or dot (%2f, %5c, %2e);
//   - the fragment is dropped; the query is passed through. An
//     allowlist entry has neither.
//
// A request matches an entry with the same scheme, host and port whose
// prefix is its path or a whole-segment prefix of it: "/v1" matches "/v1"
// and "/v1/embeddings", not "/v1beta". No environment proxy is used.
//
// Redirects are not followed: a 3xx answer with a Location is ErrRedirect,
// and the agent gets no body. A configuration may allow up to
// MaxRedirects (5) hops (Config.Redirects), each of which must stay on the
// scheme and match the same secret's allowlist, so the credential only
// goes where it may (Go's client also drops an Authorization header on a
// hop to another host; a provider-specific header follows the hop).
//
// # Injection
//
// The credential goes in one header, by the secret's type and provider:
//
//	type         provider              header
//	api_key      anthropic             X-Api-Key: KEY
//	api_key      azure-openai          Api-Key: KEY
//	api_key      google, gemini        X-Goog-Api-Key: KEY
//	api_key      any other, or none    Authorization: Bearer KEY (OpenAI and compatible servers)
//	oauth_token  any                   Authorization: Bearer ACCESS_TOKEN (refused once expired)
//	password     any, with a username  Authorization: Basic base64(USERNAME:PASSWORD)
//	note         -                     refused
//
// An api_key or access token must be printable ASCII without spaces, and
// every value at least MinSecretBytes (8) bytes. An OAuth refresh token is
// never sent; it is redacted like the value. Such refusals, and a secret
// that cannot be read, are ErrUnusable.
//
// # Redaction
//
// The answer's status code, header names and values, and body are
// returned with every occurrence of each form below of the secret's value
// (and refresh token, and for a password the USERNAME:PASSWORD pair)
// replaced by "[REDACTED]", longest form first, repeated until none is
// left:
//
//   - the value itself;
//   - base64, standard and URL alphabets, padded and unpadded; and, at
//     each of the three alignments the value can have inside a longer
//     base64 text (a JSON document or a Basic credential encoded whole),
//     the characters that depend on the value alone;
//   - hex, lower- and uppercase;
//   - URL escaping, query and path forms, with upper- and lowercase hex
//     digits;
//   - a JSON string's escapes (Go's, and with "\/");
//   - UTF-16, little- and big-endian.
//
// A form shorter than MinSecretBytes (8) is not looked for. Not covered:
// compression (an answer with a Content-Encoding other than identity is
// refused, ErrUnchecked; the transport's own gzip is decoded first),
// MIME base64 with line breaks, per-character \u escapes, and any other
// transformation. Redaction keeps an honest provider's echo (an error
// message quoting the key, a debugging endpoint) from reaching the agent;
// it does not make a hostile provider safe: the allowlist is that
// boundary. Errors are redacted too, and the log line of a call holds the
// secret's name, the method, host and path, the status, the size and the
// number of redactions, never a value.
//
// The body is read whole, at most Config.MaxResponse (default and cap
// MaxResponseBytes, 8388608) bytes, else ErrTooLarge; a call lasts at most
// Config.Timeout (default DefaultTimeout, 30 seconds), connecting at most
// DialTimeout (10) seconds, else ErrUnreachable; at most MaxInFlight (8)
// calls run at once.
//
// # Embeddings
//
// The Embedder POSTs {"model", "input": [texts], "encoding_format":
// "float", "dimensions" when configured} to BaseURL + "/embeddings"
// through the broker, with the configured secret: 1 to MaxBatch (64)
// texts, each 1 to MaxTextBytes (32768) bytes of UTF-8. It takes a 200
// answer whose "data" holds one {"index", "embedding"} per text, each
// index once, every vector of the same dimension (the configured one, if
// any), at most MaxDimension (4096), finite; anything else is
// ErrEmbedding.
//
// # Vector set
//
// An Index holds up to MaxNotes (100000) notes, each an ID (1 to
// MaxIDBytes (512) bytes of UTF-8, the note's vault path) and a vector of
// the index's dimension (1 to MaxDimension), stored scaled to length 1;
// a search scores by dot product (cosine similarity) and returns the best
// 1 to MaxK (100), best first, equal scores by ID. Its encoding is a
// canonical CBOR map (RFC 8949 core deterministic: shortest heads, keys
// in order, definite lengths, no tags):
//
//	key  name     type           rule
//	1    version  uint           1
//	2    dim      uint           1 to 4096
//	3    ids      array of text  the notes' IDs, strictly ascending bytewise (so no repeat)
//	4    vectors  bytes          len(ids) × dim float32s, little-endian, note by note in ids' order
//
// Each vector is finite with a length within 0.001 of 1 (squared). Any
// other key, a missing key, or bytes that are not exactly the encoding of
// what they hold is refused. An encoding is at most MaxEncodedBytes
// (67108808), what one vault record holds, and Add refuses a note that
// would make it larger: 10,000 notes of dimension 1536 fit.
package broker
