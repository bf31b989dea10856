// Package agentsock is the agent socket: the only door AI agents have to
// the home node. It serves the Model Context Protocol (MCP) over
// streamable HTTP on a unix socket (DIR/agent.sock), on connections each
// authenticated by the agent's Ed25519 key, and a stdio bridge (mesh
// agent mcp --key FILE) for agent frameworks that speak MCP over stdio.
// Agents never use the owner's api.sock.
//
// The package authenticates and forwards; it decides nothing. Every tool
// call reaches a Backend (the node) with the authenticated agent's name,
// and the node checks that agent's policy, token chain, ceiling,
// revocations and lock (package agent) and counts the call. An optional
// hook, Config.OnCall, runs before each call (counting, the lock).
//
// This comment is the specification of the handshake, the key file and
// the tools. Frames and canonical CBOR are internal/wire's; peer IDs
// internal/keys'; policies, refusals and approvals package agent's.
//
// # Limits
//
// Every number of the package, with its value; TestDocNumbersMatchTheConstants
// checks them against the constants. Durations are in seconds.
//
//	name              value    unit         what it bounds
//	NonceLen          32       bytes        a challenge's nonce
//	maxChallenge      1024     bytes        a frame from the server (challenge or verdict)
//	maxAnswer         256      bytes        the agent's answer frame
//	MaxMessageLen     512      bytes        a refusal's words, and an agent's name in a verdict
//	HandshakeTimeout  10       seconds      a connection's whole handshake; an HTTP request's header
//	NonceTTL          60       seconds      answering a challenge; remembering its nonce
//	DefaultMaxNonces  4096     nonces       nonces remembered at once
//	DefaultMaxConns   64       connections  connections open at once, handshaking or not
//	IdleTimeout       300      seconds      an authenticated connection without a request
//	MaxRequestBody    2097152  bytes        one HTTP request's body
//	MaxPathLen        1024     bytes        a path, prefix or can argument
//	MaxQueryLen       4096     bytes        a memory_search query
//	DefaultK          10       notes        memory_search's k when absent
//	MaxK              100      notes        memory_search's largest k
//	MaxMemoryText     65536    bytes        a memory_add note
//	MaxSecretName     128      bytes        use_secret's name
//	MaxURLLen         2048     bytes        use_secret's URL
//	MaxSecretBody     1048576  bytes        use_secret's body
//	MaxReplyData      4194304  bytes        a resource's content or a brokered response returned
//	MaxListNames      10000    names        list_resources' names
//	MaxHandleLen      64       bytes        request_share's with (the directory checks the handle)
//	MaxKeyFile        4096     bytes        an agent key file
//	DrainTimeout      60       seconds      the bridge's wait, at the end of its input, for the answers it owes
//	maxDrainPending   1024     requests     the requests that wait counts
//	maxSocketPath     107      bytes        the socket's path (Linux's sun_path)
//
// # Socket
//
// The server creates the socket at Config.Path with mode 0600 by default;
// Config.Mode may be any mode without bits for others (0660 with
// Config.Group, a group name or number, lets an agent run as another Unix
// user). It refuses a path whose folder is writable by every user
// (sticky or not: another user could race it), and a path that names an
// existing file other than a socket; an existing socket, left by a crash,
// is replaced (the caller holds the node lock). Close removes it.
//
// At most DefaultMaxConns (64) connections are open at once; the next one
// is refused (Unavailable) before any challenge.
//
// # Handshake
//
// Each connection starts with a handshake; only then does it carry HTTP.
// Three frames (internal/wire: a minimal uvarint length, then that many
// bytes of canonical CBOR):
//
//	server → agent  challenge  {1: status 0, 3: nonce}            ≤ maxChallenge (1024) bytes
//	agent → server  answer     {1: agent, 2: nonce, 3: signature}  ≤ maxAnswer (256) bytes
//	server → agent  verdict    {1: status 0, 4: agent's name}      ≤ maxChallenge (1024) bytes
//
// A refusal replaces the challenge or the verdict: {1: status, 2:
// message}, a status of internal/wire other than 0 and 1 to MaxMessageLen
// (512) bytes of words; the server then closes the connection. Server
// frame fields:
//
//	key  field    type   rule
//	1    status   uint   internal/wire's Status; 0 (OK) in a challenge and a verdict
//	2    message  text   a refusal's words; present iff status is not 0
//	3    nonce    bytes  exactly NonceLen (32): a challenge only
//	4    agent    text   the agent's name: a verdict only
//
// Answer fields, all required:
//
//	key  field      type   rule
//	1    agent      bytes  the agent's key: an Ed25519 peer ID in its byte form (internal/keys ParsePeerID)
//	2    nonce      bytes  the challenge's nonce, 32 bytes
//	3    signature  bytes  64 bytes: Ed25519 over Label || 0x00 || nonce || agent
//
// Label is "ocmt-mesh/agent-call/v1". The nonce is NonceLen (32) random
// bytes drawn for this connection. The server judges an answer in this
// order, each failure a refusal:
//
//  1. it arrives whole within HandshakeTimeout (10) seconds of the
//     connection (TooLarge over maxAnswer, BadRequest otherwise);
//  2. it decodes, canonically, with each field of its form — BadRequest;
//  3. its nonce is this connection's challenge — Unauthorized: an answer
//     made for another connection (replayed, or copied from another agent)
//     is refused;
//  4. the nonce was not answered before — Unauthorized — and was issued
//     less than NonceTTL (60) seconds ago by the injected clock — Expired.
//     Any answer, good or not, uses the challenge up;
//  5. the signature holds under the key the answer names — Unauthorized:
//     a signature by another agent's key, or by a key file that does not
//     match, is refused;
//  6. Backend.Agent names the agent of that key — Forbidden with the
//     backend's words (an unknown or removed agent).
//
// The verdict then names the agent, and every request on the connection
// runs as that agent. The server remembers every nonce it issued for
// NonceTTL (60) seconds, at most DefaultMaxNonces (4096) at once; when
// they are all in use, a new connection is refused (Unavailable) until the
// oldest expire. So a nonce is accepted once at most, even from a source
// of randomness that repeats itself.
//
// # HTTP and MCP
//
// After the verdict the connection carries HTTP/1.1. The MCP endpoint is
// "/mcp", streamable HTTP in the go-sdk's stateless mode with JSON
// responses: no MCP session outlives a request, so no session can be
// taken over by another connection. A request's body is at most
// MaxRequestBody (2097152) bytes, its header must arrive within
// HandshakeTimeout (10) seconds, and a connection idle for IdleTimeout
// (300) seconds is closed.
//
// # Tools
//
// Each tool checks its arguments' sizes and forms, runs Config.OnCall,
// then calls the Backend method of its name with the agent's name. Each
// tool's description says what it cannot do.
//
//	tool            arguments                                     result
//	read_resource   path                                          path, size, text (UTF-8) or base64
//	write_resource  path, text                                    path (where the ceiling holds write)
//	delete_resource path                                          always refused: no agent holds delete
//	list_resources  prefix                                        prefix, names (at most MaxListNames)
//	memory_search   query, k (1 to MaxK, default DefaultK)        results: path, text, score
//	memory_add      text                                          path
//	use_secret      name, method, url (http or https), body       status and body (text or base64), or approval
//	request_share   path, with (a handle), can ("read,list"),     approval: id, intent, expires (RFC 3339)
//	                for (a duration: 90m, 36h, 7d, 2w)
//
// A method is GET, POST, PUT, PATCH, DELETE or HEAD. A refusal is an MCP
// tool error (isError) in words: the argument's rule; a *Refusal from the
// Backend or OnCall; an error of package agent (its messages are worded
// for the user and hold no secret). Any other error is logged with the
// agent's name and the tool, and the agent reads only that the node
// failed, so an internal error's text (which could hold a secret) never
// reaches an agent.
//
// # Key file
//
// mesh agent add writes the agent's key with CreateKeyFile: a new
// Ed25519 key, as PEM, mode 0600, never replacing a file:
//
//	-----BEGIN OCMT MESH AGENT KEY-----
//	Agent: helper
//
//	(base64 of the 32-byte Ed25519 seed)
//	-----END OCMT MESH AGENT KEY-----
//
// The one header, Agent, is the agent's name (package agent's name rule);
// it is informative, as the node names the agent from its key. LoadKey
// refuses a file others may read or write, over MaxKeyFile (4096) bytes,
// of another type, with other headers or trailing text, or whose seed is
// not 32 bytes; its errors never show the file's content.
//
// # Bridge
//
// Bridge loads the key file, opens an MCP session on the socket (a
// refusal is returned at once, before anything is read), lists the tools
// and serves the same tools over newline-delimited JSON-RPC on its input
// and output, forwarding each call and returning its result unchanged. A
// call the socket cannot answer is a tool error in words. The HTTP client
// redials (with a new handshake) when the node restarts.
package agentsock
