// Package wakehook is how a relay wakes a hibernating home node: the hooks
// its operator configures (never a remote peer), behind one interface,
// Hook. A hook is given a Target (handle and peer ID) the relay already
// checked; every hook checks it again (CheckTarget: the directory's handle
// rule, a well-formed peer ID) before it reaches an argument or a request.
//
//   - Exec runs a command on the relay host, parsed once from a template
//     (ParseTemplate gives the quoting rules; no shell is ever run), with
//     {handle} and {peer} substituted inside arguments after the split,
//     so a value never makes or merges words, and never in the program.
//     Per-handle templates override a default. The command is started
//     detached, in a process group of its own, with no input and the
//     environment plus OCMT_WAKE_HANDLE and OCMT_WAKE_PEER; its output
//     goes to the relay's log line by line (MaxLogLine (1024) bytes a
//     line, MaxLogLines (1000) lines a stream); it is reaped in the
//     background. Wake returns once the process has started: the relay
//     waits for the owner's reservation, not for the command.
//
//   - Webhook POSTs {"handle", "peer", "relay", "time"} (JSON; time in
//     unix seconds) to an orchestrator's http or https URL, with the
//     relay's peer ID in the Ocmt-Wake-Relay header and, in
//     Ocmt-Wake-Signature, the standard base64 of the Ed25519 signature
//     by the relay's host key over
//
//     "ocmt-mesh/wake-webhook/v1" || 0x00 || body
//
//     (the body exactly as sent). It follows no redirect; an answer other
//     than 2xx, or none within DefaultWebhookTimeout (10) seconds, is an
//     error naming the orchestrator's host only (the rest of its URL may
//     hold a secret). VerifyWebhook is the orchestrator's check.
//
//   - Supervisor sends a signed order over libp2p, /ocmt/supervise/1, to
//     a supervisor peer that runs its own hook (an Exec, usually):
//     ServeSupervisor is that peer's side. supervisor.go specifies the
//     message; the signature is over
//
//     "ocmt-mesh/wake-supervise/v1" || 0x00 || payload
//
//     and an order dated more than SuperviseMaxSkew (300) seconds from the
//     supervisor's clock is refused.
//
// # Limits
//
//	name                   value  unit     what it bounds
//	MinHandleLen           2      bytes    a handle, at least (protocols/directory's)
//	MaxHandleLen           32     bytes    a handle, at most (protocols/directory's)
//	MaxTemplateBytes       4096   bytes    a command template
//	MaxArgs                64     words    a command line, the program included
//	MaxLogLine             1024   bytes    one logged output line
//	MaxLogLines            1000   lines    lines logged per command and stream
//	DefaultWebhookTimeout  10     seconds  one webhook POST
//	SuperviseMaxSkew       300    seconds  an order's date from the supervisor's clock
//	superviseMaxRequest    512    bytes    a supervise request frame
//	superviseMaxReply      512    bytes    a supervise reply frame
//	superviseTimeout       15     seconds  one supervise exchange
package wakehook
