package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/spf13/cobra"

	"github.com/ocmt/mesh/internal/blockcache"
	"github.com/ocmt/mesh/internal/home"
	"github.com/ocmt/mesh/internal/keys"
	"github.com/ocmt/mesh/node/infra"
	"github.com/ocmt/mesh/relay"
)

type infraFlags struct {
	listen, bootstrap []string
	verbose           bool
	metrics           string
	audit             auditFlags
}

func (f *infraFlags) add(cmd *cobra.Command, withBootstrap bool) {
	cmd.Flags().StringArrayVar(&f.listen, "listen", nil, "libp2p listen multiaddr (repeatable; default loopback TCP and QUIC)")
	if withBootstrap {
		cmd.Flags().StringArrayVar(&f.bootstrap, "bootstrap", nil, "bootstrap peer multiaddr ending in /p2p/ID (repeatable)")
	}
	cmd.Flags().BoolVarP(&f.verbose, "verbose", "v", false, "log more")
	cmd.Flags().StringVar(&f.metrics, "metrics", "", "serve Prometheus metrics on this address (e.g. 127.0.0.1:9100; port 0 picks one)")
	f.audit.add(cmd)
}

// auditFlags are --config and --audit, which the roles and the commands
// that read or write their audit log (grant, revoke, audit) resolve alike,
// so that they all find the same log.
type auditFlags struct {
	config, audit string
}

func (a *auditFlags) add(cmd *cobra.Command) {
	cmd.Flags().StringVar(&a.config, "config", "", "YAML config file (see configs/)")
	cmd.Flags().StringVar(&a.audit, "audit", "", "the role's audit log (default DIR/audit.log; a config file's audit: is relative to DIR)")
}

// load reads the config file and applies --audit: a flag path is relative
// to the working directory, a config path to the home folder, and neither
// leaves "" (infra's default, DIR/audit.log).
func (a *auditFlags) load(cmd *cobra.Command, h home.Home) (infraFile, error) {
	fc, err := loadInfraConfig(a.config)
	if err != nil {
		return fc, err
	}
	switch {
	case cmd.Flags().Changed("audit"):
		if fc.Audit, err = filepath.Abs(a.audit); err != nil {
			return fc, err
		}
	case fc.Audit != "" && !filepath.IsAbs(fc.Audit):
		fc.Audit = filepath.Join(string(h), fc.Audit)
	}
	return fc, nil
}

// path is the audit log the command uses.
func (a *auditFlags) path(cmd *cobra.Command, h home.Home) (string, error) {
	fc, err := a.load(cmd, h)
	if err != nil || fc.Audit != "" {
		return fc.Audit, err
	}
	return infra.DefaultAuditFile(h), nil
}

func (f *infraFlags) load(cmd *cobra.Command, h home.Home) (infraFile, infra.Config, error) {
	fc, err := f.audit.load(cmd, h)
	if err != nil {
		return fc, infra.Config{}, err
	}
	if cmd.Flags().Changed("listen") {
		fc.Listen = f.listen
	}
	if cmd.Flags().Changed("bootstrap") {
		fc.Bootstrap = f.bootstrap
	}
	if cmd.Flags().Changed("metrics") {
		fc.Metrics = f.metrics
	}
	level := slog.LevelWarn
	if f.verbose {
		level = slog.LevelInfo
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	return fc, infra.Config{Home: h, Listen: fc.Listen, Logger: log, AuditPath: fc.Audit,
		AuditWindow: time.Duration(fc.AuditWindow), AuditMaxRecords: fc.AuditMaxRecords, MetricsAddr: fc.Metrics}, nil
}

// cacheMaxBytes is infra.RelayConfig.CacheMaxBytes from the file's
// cache_max_bytes, whose 0 turns the cache off (infra's 0 is the default).
func (fc infraFile) cacheMaxBytes() int64 {
	switch {
	case fc.CacheMaxBytes == nil:
		return 0
	case *fc.CacheMaxBytes <= 0:
		return -1
	}
	return *fc.CacheMaxBytes
}

// relayConfig is the relay service's configuration from the file's relay
// fields (configs/relay.yaml).
func (fc infraFile) relayConfig() relay.Config {
	return relay.Config{
		AllowPrivateAddrs:            fc.AllowPrivateAddrs,
		MaxReservations:              fc.MaxReservations,
		MaxReservationsPerIP:         fc.MaxReservationsPerIP,
		MaxReservationsPerASN:        fc.MaxReservationsPerASN,
		ReservationTTL:               time.Duration(fc.ReservationTTL),
		MaxCircuits:                  fc.MaxCircuits,
		MaxStrangerCircuits:          fc.MaxStrangerCircuits,
		CircuitIdleTimeout:           time.Duration(fc.CircuitIdleTimeout),
		CircuitIdleBytes:             fc.CircuitIdleBytes,
		CircuitDataLimit:             fc.CircuitDataLimit,
		CircuitDurationLimit:         time.Duration(fc.CircuitDurationLimit),
		BufferSize:                   fc.BufferSize,
		MaxRelayMemory:               fc.MaxRelayMemory,
		ReservationsPerMinute:        fc.ReservationsPerMinute,
		CircuitsPerMinute:            fc.CircuitsPerMinute,
		DestinationCircuitsPerMinute: fc.DestinationCircuitsPerMinute,
		RelayCircuitsPerMinute:       fc.RelayCircuitsPerMinute,
		RateLimitPeers:               fc.RateLimitPeers,
	}
}

// bootstrapLimits is the bootstrap host's limits from the file's
// bootstrap fields (configs/bootstrap.yaml).
func (fc infraFile) bootstrapLimits() infra.BootstrapLimits {
	return infra.BootstrapLimits{
		MaxConns:          fc.MaxConns,
		MaxConnsPerIP:     fc.MaxConnsPerIP,
		MaxHandshakes:     fc.MaxHandshakes,
		MaxStreams:        fc.MaxStreams,
		MaxStreamsPerPeer: fc.MaxStreamsPerPeer,
		MaxMemory:         fc.MaxMemory,
		FDMargin:          fc.FDMargin,
	}
}

func printReady(cmd *cobra.Command, role string, in *infra.Peer) {
	out := cmd.OutOrStdout()
	fmt.Fprintf(out, "mesh %s %s ready\n", role, in.Host.ID())
	for _, a := range in.Addrs() {
		fmt.Fprintf(out, "listening on %s\n", a)
	}
	if m := in.MetricsAddr(); m != "" {
		fmt.Fprintf(out, "metrics on http://%s/metrics\n", m)
	}
	if u := in.UIGatewayAddr(); u != "" {
		fmt.Fprintf(out, "UI gateway on %s (TLS passed through to the homes)\n", u)
	}
}

// infrastructure is the bootstrap's list of relay peer IDs (--infrastructure,
// or the file's infrastructure:).
func infrastructure(ids []string) ([]peer.ID, error) {
	out := make([]peer.ID, 0, len(ids))
	for _, s := range ids {
		id, err := keys.DecodePeerID(s)
		if err != nil {
			return nil, fmt.Errorf("infrastructure %q is not a peer ID: %w", s, err)
		}
		out = append(out, id)
	}
	return out, nil
}

func newBootstrapCmd(g *globals) *cobra.Command {
	var f infraFlags
	var infraIDs []string
	cmd := &cobra.Command{
		Use:   "bootstrap",
		Short: "Run the bootstrap/metadata peer: DHT server, signed directory, encrypted mailboxes",
		Long: `Run the bootstrap/metadata peer: DHT server, signed directory, encrypted
mailboxes. It keeps a metadata-only audit log in its folder (DIR/audit.log,
or --audit FILE), hash-chained with a key derived from its peer key:
mesh bootstrap audit prints and verifies it.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			fc, cfg, err := f.load(cmd, g.Home())
			if err != nil {
				return err
			}
			if cmd.Flags().Changed("infrastructure") {
				fc.Infrastructure = infraIDs
			}
			if cfg.Infrastructure, err = infrastructure(fc.Infrastructure); err != nil {
				return err
			}
			cfg.InfraRate = fc.InfrastructureRate
			in, err := infra.StartBootstrapLimits(cmd.Context(), cfg, fc.bootstrapLimits())
			if err != nil {
				return err
			}
			defer in.Close()
			printReady(cmd, "bootstrap", in)
			<-cmd.Context().Done()
			return nil
		},
	}
	f.add(cmd, false)
	cmd.Flags().StringArrayVar(&infraIDs, "infrastructure", nil,
		"peer ID of a relay this bootstrap serves (repeatable): relays share one directory request budget instead of a per-peer one")
	cmd.AddCommand(newAuditLogCmd(g, infra.RoleBootstrap))
	return cmd
}

func newRelayCmd(g *globals) *cobra.Command {
	var f infraFlags
	var private bool
	var cacheMax int64
	var wk wakeFile
	var uiGateway, uiDomain string
	cmd := &cobra.Command{
		Use:   "relay",
		Short: "Run a circuit relay for registered home nodes (forwards only end-to-end encrypted streams)",
		Long: `Run a circuit relay for registered home nodes (forwards only end-to-end
encrypted streams). It keeps a metadata-only audit log in its folder
(DIR/audit.log, or --audit FILE), hash-chained with a key derived from its
peer key, into which mesh relay grant and revoke write too (give them the
same --audit or --config): mesh relay audit prints and verifies it.
It caches the sealed snapshots (ciphertext only) that the homes holding a
reservation on it push, for their grantees to fetch with a token while the
owner sleeps: --cache-max-bytes bounds the cache, 0 turns it off.

Homes that hibernate (mesh hibernate, mesh node --hibernate-after) tell it
first. A grantee with a valid share from such a home can ask the relay to
wake it: the relay runs the hook you configure, never one a peer chooses,
once per burst of requests, and answers them when the home is back.
--wake-exec 'CMD ARG...' runs a command on this host, split into
arguments without a shell, with {handle} and {peer} replaced inside
arguments (e.g. 'mesh node --home /homes/{handle} --relay ...'); it is
started in the background with its output in this relay's log.
--wake-webhook URL posts {handle, peer, relay, time} to an orchestrator,
signed with the relay's key (header Ocmt-Wake-Signature). The config file's
wake section also takes exec_for (a command per handle) and supervisor
(a peer running mesh supervise).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			fc, cfg, err := f.load(cmd, g.Home())
			if err != nil {
				return err
			}
			if cmd.Flags().Changed("allow-private-addrs") {
				fc.AllowPrivateAddrs = private
			}
			if cmd.Flags().Changed("cache-max-bytes") {
				fc.CacheMaxBytes = &cacheMax
			}
			if cmd.Flags().Changed("wake-exec") {
				fc.Wake.Exec = wk.Exec
			}
			if cmd.Flags().Changed("wake-webhook") {
				fc.Wake.Webhook = wk.Webhook
			}
			if cmd.Flags().Changed("wake-ttl") {
				fc.Wake.TTL = wk.TTL
			}
			if cmd.Flags().Changed("ui-gateway") {
				fc.UIGateway = uiGateway
			}
			if cmd.Flags().Changed("ui-domain") {
				fc.UIDomain = uiDomain
			}
			if (fc.UIGateway == "") != (fc.UIDomain == "") {
				return errors.New("--ui-gateway and --ui-domain go together")
			}
			if len(fc.Bootstrap) == 0 {
				return fmt.Errorf("a relay needs --bootstrap: its directory decides who may reserve")
			}
			in, err := infra.StartRelay(cmd.Context(), infra.RelayConfig{Config: cfg, Bootstrap: fc.Bootstrap, Relay: fc.relayConfig(),
				DirectoryLookupRate: fc.DirectoryLookupRate, CacheMaxBytes: fc.cacheMaxBytes(), UIGateway: fc.UIGateway, UIDomain: fc.UIDomain,
				Wake: infra.WakeConfig{Exec: fc.Wake.Exec, ExecFor: fc.Wake.ExecFor, Webhook: fc.Wake.Webhook, Supervisor: fc.Wake.Supervisor, TTL: time.Duration(fc.Wake.TTL)}})
			if err != nil {
				return err
			}
			defer in.Close()
			printReady(cmd, "relay", in)
			<-cmd.Context().Done()
			return nil
		},
	}
	f.add(cmd, true)
	cmd.AddCommand(newRelayGrantCmd(g), newRelayRevokeCmd(g), newAuditLogCmd(g, infra.RoleRelay))
	cmd.Flags().BoolVar(&private, "allow-private-addrs", false, "let reservations carry private and loopback addresses (private networks, tests)")
	cmd.Flags().Int64Var(&cacheMax, "cache-max-bytes", blockcache.DefaultMaxBytes,
		"bytes of sealed snapshots the relay caches for the homes it serves (0: no cache, the snapshot protocol is not served)")
	cmd.Flags().StringVar(&wk.Exec, "wake-exec", "", "command that wakes a hibernating home, {handle} and {peer} replaced (no shell)")
	cmd.Flags().StringVar(&wk.Webhook, "wake-webhook", "", "orchestrator URL to POST a signed wake request to")
	durationVar(cmd.Flags(), (*time.Duration)(&wk.TTL), "wake-ttl", 0, "how long a wake request waits for the home (default 1m)")
	cmd.Flags().StringVar(&uiGateway, "ui-gateway", "", "accept TLS on this address (e.g. :8443) and route each connection by its name HANDLE.DOMAIN to that home's web UI, without decrypting it")
	cmd.Flags().StringVar(&uiDomain, "ui-domain", "", "the domain of --ui-gateway's names (its wildcard DNS points here)")
	return cmd
}

func newRelayGrantCmd(g *globals) *cobra.Command {
	var to string
	var jsonOut bool
	var valid time.Duration
	var af auditFlags
	cmd := &cobra.Command{
		Use:   "grant --to PEERID",
		Short: "Issue a relay-access capability with this relay's key (for peers not in the directory)",
		Long: `Issue a relay-access capability with this relay's key (--home is the
relay's folder), for a peer not in the directory. The grant (to whom, until
when, the token's ID) is recorded in the relay's audit log first, whether
the relay runs or not; a grant that cannot be recorded is not made.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			id, err := keys.DecodePeerID(to)
			if err != nil {
				if !strings.HasPrefix(to, "12D3KooW") {
					return fmt.Errorf("--to %q is not a peer ID (a peer ID starts with 12D3KooW; the peer prints it with mesh id). Relay grants name peers by ID: they are for peers outside the directory, which have no handle", to)
				}
				return fmt.Errorf("--to %q is not a valid peer ID: %w", to, err)
			}
			path, err := af.path(cmd, g.Home())
			if err != nil {
				return err
			}
			tok, err := infra.GrantRelayAccess(g.Home(), id, valid, time.Now(), infra.WithAuditFile(path))
			if err != nil {
				return err
			}
			if jsonOut {
				return printJSON(cmd, struct {
					Token  string    `json:"token"`
					ID     string    `json:"id"`
					To     string    `json:"to"`
					Expiry time.Time `json:"expiry"`
				}{tok.String(), tok.ID().String(), id.String(), tok.Expiry().UTC()})
			}
			fmt.Fprintln(cmd.OutOrStdout(), tok.String())
			return nil
		},
	}
	jsonFlag(cmd, &jsonOut)
	cmd.Flags().StringVar(&to, "to", "", "the peer allowed to reserve")
	durationVar(cmd.Flags(), &valid, "for", 30*24*time.Hour, "validity")
	cmd.MarkFlagRequired("to")
	af.add(cmd)
	return cmd
}

func newRelayRevokeCmd(g *globals) *cobra.Command {
	var af auditFlags
	var jsonOut bool
	cmd := &cobra.Command{
		Use:   "revoke TOKEN|-",
		Short: "Revoke a relay-access capability this relay granted: its reservation and circuits end at once",
		Long: `Revoke a relay-access capability issued by mesh relay grant, with this
relay's key (--home is the relay's folder). When the relay is running the
revocation is pushed to it: it refuses the peer from then on, closes the
reservation and circuits the capability admitted, and gossips the
revocation. Otherwise it is stored and in force from the relay's next start.
Either way it is recorded in the relay's audit log.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			text, err := readArgOrStdin(cmd, args[0])
			if err != nil {
				return err
			}
			path, err := af.path(cmd, g.Home())
			if err != nil {
				return err
			}
			id, how, err := infra.RevokeRelayAccess(cmd.Context(), g.Home(), text, time.Now(), infra.WithAuditFile(path))
			if err != nil {
				return err
			}
			if jsonOut {
				return printJSON(cmd, struct {
					ID  string `json:"id"`
					How string `json:"how"`
				}{id.String(), how})
			}
			fmt.Fprintf(cmd.OutOrStdout(), "revoked %s (%s)\n", id.Short(), how)
			return nil
		},
	}
	jsonFlag(cmd, &jsonOut)
	af.add(cmd)
	return cmd
}

// newAuditLogCmd is mesh relay audit and mesh bootstrap audit.
func newAuditLogCmd(g *globals, role string) *cobra.Command {
	var af auditFlags
	cmd := &cobra.Command{
		Use:   "audit",
		Short: "Print this " + role + "'s audit log and verify its hash chain and head",
		Long: `Print this ` + role + `'s audit log (--home is its folder) and verify it
with the key derived from its peer key: every record's MAC, the chain of
sequence numbers and MACs, and the head file (FILE.head), which names the
last record written. It reports every break: an edited, inserted, reordered
or missing record, records deleted from the end, a missing or edited head.
It exits non-zero if there is one. It may run while the ` + role + ` runs.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			path, err := af.path(cmd, g.Home())
			if err != nil {
				return err
			}
			rep, err := infra.VerifyAuditLog(g.Home(), role, path)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if g.jsonOut {
				// one object, as mesh audit --json prints: the records as
				// stored, and the verdict
				recs := make([]json.RawMessage, len(rep.Records))
				for i, r := range rep.Records {
					recs[i] = json.RawMessage(r.JSON)
				}
				v := struct {
					Records   []json.RawMessage `json:"records"`
					Head      uint64            `json:"head"`
					AfterHead int               `json:"after_head"`
					Breaks    []string          `json:"breaks"`
					Checked   string            `json:"checked"`
				}{recs, rep.Head, rep.AfterHead, append([]string{}, rep.Breaks...), "keyed"}
				if err := printJSON(cmd, v); err != nil {
					return err
				}
			}
			for _, r := range rep.Records {
				if !g.jsonOut {
					printAuditLine(out, r)
				}
			}
			for _, b := range rep.Breaks {
				if !g.jsonOut {
					fmt.Fprintf(out, "BREAK: %s\n", b)
				}
			}
			if len(rep.Breaks) > 0 {
				return fmt.Errorf("the audit log %s does not verify: %d breaks, the first: %s", path, len(rep.Breaks), rep.Breaks[0])
			}
			if !g.jsonOut {
				fmt.Fprintf(out, "chain verified: %d records, head at record %d", len(rep.Records), rep.Head)
				if rep.AfterHead > 0 {
					fmt.Fprintf(out, " (%d written after the head's last update, as a crash leaves them)", rep.AfterHead)
				}
				fmt.Fprintln(out)
			}
			return nil
		},
	}
	af.add(cmd)
	cmd.Flags().BoolVar(&g.jsonOut, "json", false, "print one JSON object: the records as stored, the head and any breaks")
	return cmd
}

// printAuditLine prints one record: sequence, time, event, then its other
// non-empty fields in their order (a "!" marks a record that does not
// verify).
func printAuditLine(out io.Writer, r infra.AuditLine) {
	mark := " "
	if !r.OK {
		mark = "!"
	}
	var when, event string
	var rest []string
	dec := json.NewDecoder(bytes.NewReader(r.JSON))
	dec.UseNumber()
	if t, err := dec.Token(); err == nil && t == json.Delim('{') {
		for dec.More() {
			kt, err := dec.Token()
			if err != nil {
				break
			}
			var v any
			if err := dec.Decode(&v); err != nil {
				break
			}
			k, _ := kt.(string)
			s := fmt.Sprint(v)
			if m, ok := v.(map[string]any); ok {
				b, _ := json.Marshal(m)
				s = string(b)
			}
			switch {
			case k == "time":
				when = s
			case k == "event":
				event = s
			case k == "seq" || k == "prev" || k == "mac" || v == nil || s == "" || s == "0":
			default:
				rest = append(rest, k+"="+s)
			}
		}
	}
	fmt.Fprintf(out, "%s%6d  %-30s  %-16s %s\n", mark, r.Seq, when, event, strings.Join(rest, " "))
}
